"""
.. _recipe-onnx-lenient-export-unchecked-shapes:

"Non-zero status code returned while running Add node": the ONNX model does not check shapes
============================================================================================

``torch.export.export`` refuses a ``dynamic_shapes`` spec that allows sizes the model cannot
handle ("Constraints violated"), and the program it returns checks every call ("Guard failed").
``torch.onnx.export`` is more lenient: the same spec exports, and the ONNX model has no check at
all. An input whose sizes break the model's assumptions reaches an onnxruntime kernel, which
fails with a message about broadcasting an axis in an ``Add`` node, far from the cause.

This recipe shows both behaviours on a model whose input sizes are related, explains what the
ONNX exporter does with the spec (it defers the conditions it cannot assume, and applies
"Suggested fixes" by itself, losing the relation they state), and ends with a spec that
``torch.export`` accepts and two shape checks to run before onnxruntime, timed against the model.

A model whose input sizes are related
-------------------------------------
"""

import time

import numpy as np
import onnxruntime
import torch

Dim = torch.export.Dim


class Model(torch.nn.Module):
    def forward(self, x, y, z):
        return torch.cat((x, y), axis=1) + z[:, ::2]


model = Model().eval()
inputs = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 14)


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


def onnx_session(onnx_program):
    """An onnxruntime session on the CPU for an ``ONNXProgram``."""
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def check_onnx_against_eager(onnx_program, model, input_sets):
    """onnxruntime, running the ONNX model, gives what eager gives on each tuple of new inputs."""
    session = onnx_session(onnx_program)
    names = [node.name for node in session.get_inputs()]
    for inputs in input_sets:
        expected = model(*inputs)
        expected = expected if isinstance(expected, (tuple, list)) else [expected]
        feeds = {name: tensor.numpy() for name, tensor in zip(names, inputs, strict=True)}
        for got, wanted in zip(session.run(None, feeds), expected, strict=True):
            np.testing.assert_allclose(got, wanted.detach().numpy(), rtol=1e-4, atol=1e-5)
    print(f"onnxruntime matches eager on {len(input_sets)} new input sets")


def run(session, x, y, z):
    (out,) = session.run(None, {"x": x.numpy(), "y": y.numpy(), "z": z.numpy()})
    return out


# new batch sizes, and new widths with x.shape[1] + y.shape[1] == (z.shape[1] + 1) // 2
new_inputs = [
    (torch.randn(3, 5), torch.randn(3, 2), torch.randn(3, 13)),
    (torch.randn(5, 1), torch.randn(5, 8), torch.randn(5, 18)),
]

# %%
# The output only makes sense when ``x.shape[1] + y.shape[1] == (z.shape[1] + 1) // 2`` and
# the three batch sizes are equal. The spec below makes every size dynamic, with a range for
# the batch.
#
# ``torch.export.export`` rejects the spec
# ----------------------------------------

batch, dx, dy, dz = Dim("batch", max=64), Dim("dx"), Dim("dy"), Dim("dz")
spec = {"x": {0: batch, 1: dx}, "y": {0: batch, 1: dy}, "z": {0: batch, 1: dz}}

try:
    torch.export.export(model, inputs, dynamic_shapes=spec)
    raise AssertionError("torch.export now accepts Dim('dz') here: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert str(e).startswith("Constraints violated (dz)!"), e
    assert "((1 + L['z'].size()[1]) // 2) != 1" in str(e), e

# %%
# (``torch._dynamo.exc.UserError`` is the class ``torch.export`` raises for spec problems, a
# private class and a subclass of ``RuntimeError``: see :ref:`recipe-bounded-dim-min-max`.)
# ``Dim("dz")`` allows any width from 0. With a width of 1 or 2, ``z[:, ::2]`` has one column,
# which the addition would broadcast to every column: another computation than the one traced,
# so ``torch.export`` refuses.
#
# ``torch.onnx.export`` accepts it
# --------------------------------

onnx_program = torch.onnx.export(
    model, inputs, dynamo=True, verbose=False, dynamic_shapes=spec, output_names=["out"]
)
lenient_dims = onnx_dims(onnx_program.model_proto)
print(lenient_dims)
assert lenient_dims == {
    "x": ["batch", "dx"],
    "y": ["batch", "dy"],
    "z": ["batch", "dz"],
    "out": ["batch", "dx + dy"],
}, lenient_dims

ops = [node.op_type for node in onnx_program.model_proto.graph.node]
print(ops)
assert ops == ["Concat", "Slice", "Add"], ops

check_onnx_against_eager(onnx_program, model, new_inputs)
session = onnx_session(onnx_program)

# %%
# (The ``UserWarning`` printed above, "The axis name: batch will not be used", is harmless:
# two inputs share the name, and :ref:`recipe-onnx-dimension-names` explains it.)
#
# The ONNX exporter calls ``torch.export.export`` with two options of its own:
# ``prefer_deferred_runtime_asserts_over_guards=True``, which turns the conditions that would
# have violated the spec into assertions in the graph instead of an error, and the private,
# experimental ``backed_size_oblivious``, which stops it from treating sizes 0 and 1 as special
# (:ref:`recipe-zero-one-specialization` shows it accepting an example of batch 1). If
# ``torch.export`` still raises an error with "Suggested fixes", it applies them to the spec and
# tries again (shown further down). The first option alone is enough here; the exported
# program then contains the assertions:

deferred_ep = torch.export.export(
    model, inputs, dynamic_shapes=spec, prefer_deferred_runtime_asserts_over_guards=True
)
assert_scalar = torch.ops.aten._assert_scalar.default
asserts = [node.args[1] for node in deferred_ep.graph.nodes if node.target == assert_scalar]
print("\n".join(asserts))
x_width, y_width, z_width = (node.meta["val"].shape[1] for node in deferred_ep.graph.find_nodes(op="placeholder"))
relation = f"Eq({x_width} + {y_width}, (({z_width} + 1)//2))"
assert len(asserts) == 4 and relation in asserts[2], (asserts, relation)

# %%
# ``Ne(((s32 + 1)//2), 1)`` is the condition ``torch.export`` refused to assume,
# ``Eq(s27 + s94, ...)`` the relation between the widths, and the other two the equal batch
# sizes (the symbols are the ones of this run). None of them reaches ONNX: the graph has three
# nodes, ``Concat``, ``Slice`` and ``Add``, and the input shapes only say ``batch``, ``dx``,
# ``dy``, ``dz``. The relations and the range ``max=64`` are gone.
#
# A bad shape fails inside onnxruntime
# ------------------------------------
#
# ``z`` with 20 columns gives a slice of 10 columns for a concatenation of 7:

try:
    run(session, torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 20))
    raise AssertionError("onnxruntime now runs mismatched widths: update this recipe")
except onnxruntime.capi.onnxruntime_pybind11_state.Fail as e:
    print(e)
    assert "Non-zero status code returned while running Add node" in str(e), e
    assert "Attempting to broadcast an axis by a dimension other than 1. 7 by 10" in str(e), e

# %%
# onnxruntime checked the inputs against the graph (rank, type, fixed sizes) and started
# running. The ``Add`` kernel found sizes it cannot broadcast and raised
# ``onnxruntime.capi.onnxruntime_pybind11_state.Fail`` (onnxruntime also prints the message
# in red on stderr). In a bigger model, the kernel that fails can be far from the input that is
# wrong.
#
# The names of the dimensions are not compared either: ``x`` and ``y`` both have a ``batch``
# dimension, but batches of 2 and 3 pass the input check and fail in the first kernel that
# needs them equal, the ``Concat``:

try:
    run(session, torch.randn(2, 3), torch.randn(3, 4), torch.randn(2, 14))
    raise AssertionError("onnxruntime now runs mismatched batches: update this recipe")
except onnxruntime.capi.onnxruntime_pybind11_state.Fail as e:
    print(e)
    assert "Non-zero status code returned while running Concat node" in str(e), e

# %%
# And the range is not checked: a batch of 65 runs without complaint, though the spec said
# ``max=64``.

print(run(session, torch.randn(65, 3), torch.randn(65, 4), torch.randn(65, 14)).shape)

# %%
# The exporter applies "Suggested fixes" by itself
# ------------------------------------------------
#
# ``Intervals`` scales each row of ``x`` by the width of an interval: ``edges`` has one row
# more than ``x``. Two independent ``Dim`` objects are wrong, and ``torch.export`` says so, with
# the fix:


class Intervals(torch.nn.Module):
    def forward(self, x, edges):
        return x * (edges[1:] - edges[:-1])


intervals = Intervals().eval()
interval_inputs = torch.randn(4, 3), torch.randn(5, 3)
independent = {"x": {0: Dim("dx")}, "edges": {0: Dim("dy")}}
try:
    torch.export.export(intervals, interval_inputs, dynamic_shapes=independent)
    raise AssertionError("independent Dims now export: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message[message.index("Suggested fixes:") :].splitlines()[:2])
    assert "Suggested fixes:\n  dy = dx + 1" in message, message

# %%
# ``torch.onnx.export`` exports the same spec without a word:

intervals_program = torch.onnx.export(
    intervals, interval_inputs, dynamo=True, verbose=False, dynamic_shapes=independent, output_names=["out"]
)
interval_dims = onnx_dims(intervals_program.model_proto)
print(interval_dims)
assert interval_dims == {"x": ["dx", 3], "edges": ["dy", 3], "out": ["dx", 3]}, interval_dims

x_rows, edges_rows = (
    node.meta["val"].shape[0] for node in intervals_program.exported_program.graph.find_nodes(op="placeholder")
)
print(x_rows, "|", edges_rows)
assert edges_rows.node.expr == x_rows.node.expr + 1, edges_rows
check_onnx_against_eager(intervals_program, intervals, [(torch.randn(2, 3), torch.randn(3, 3)), (torch.randn(9, 3), torch.randn(10, 3))])

# %%
# The program the exporter converted (``intervals_program.exported_program``) has ``edges`` of
# size "symbol of ``x`` + 1": the exporter applied ``dy = dx + 1`` and exported again. The ONNX
# graph, though, names the rows of ``edges`` ``dy``, as if they were independent: the relation
# is lost, and ``edges`` of the wrong size fails in a kernel again, the ``Mul``:

try:
    onnx_session(intervals_program).run(None, {"x": torch.randn(4, 3).numpy(), "edges": torch.randn(7, 3).numpy()})
    raise AssertionError("onnxruntime now runs mismatched rows: update this recipe")
except onnxruntime.capi.onnxruntime_pybind11_state.Fail as e:
    print(str(e).splitlines()[0][:120])
    assert "Non-zero status code returned while running Mul node" in str(e), e

# %%
# Name such dimensions with a derived ``Dim`` (``{"edges": {0: dx + 1}}``) so that the ONNX
# names say ``dx + 1``, see :ref:`recipe-onnx-dimension-names`.
#
# Fix: a spec ``torch.export`` accepts, and its program as a shape check
# ----------------------------------------------------------------------
#
# Write the spec so that ``torch.export.export`` accepts it: here, ``z`` needs at least 3
# columns. Export the program once, and give that program to the ONNX exporter
# (``torch.onnx.export`` accepts an ``ExportedProgram``; given with a program, ``dynamic_shapes``
# only names the dimensions, see :ref:`recipe-onnx-from-exported-program`):

dz = Dim("dz", min=3)
spec = {"x": {0: batch, 1: dx}, "y": {0: batch, 1: dy}, "z": {0: batch, 1: dz}}
ep = torch.export.export(model, inputs, dynamic_shapes=spec)
print(ep.range_constraints)

checked_program = torch.onnx.export(ep, dynamo=True, verbose=False, output_names=["out"], dynamic_shapes=spec)
assert onnx_dims(checked_program.model_proto) == lenient_dims, onnx_dims(checked_program.model_proto)
checked_session = onnx_session(checked_program)
check_onnx_against_eager(checked_program, model, new_inputs)

# %%
# The program ``torch.export`` returned keeps the checks: ``ep.module()`` tests the relations
# and the ranges before computing anything. Calling it on the real inputs would compute the
# model a second time, though. Two checks cost (almost) nothing.
#
# The exported module on ``meta`` tensors. A ``meta`` tensor has a shape and no data, and the
# module's guards only read shapes. ``.to("meta")`` moves a copy of the module's weights to the
# ``meta`` device too (this model has none; the ``Linear`` below has some), so the call
# computes nothing:

shape_checker = ep.module().to("meta")


def meta_check(*tensors):
    """Run the exported module's checks on the shapes of the inputs, on the ``meta`` device."""
    shape_checker(*(torch.empty(t.shape, device="meta") for t in tensors))


linear = torch.nn.Linear(8, 4)
linear_checker = torch.export.export(linear, (torch.randn(4, 8),), dynamic_shapes=({0: Dim("batch", max=64)},))
linear_checker = linear_checker.module().to("meta")
print([p.device.type for p in linear_checker.parameters()])
try:
    linear_checker(torch.empty(65, 8, device="meta"))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: input.size()[0] <= 64", e
else:
    raise AssertionError("the meta module no longer checks the range: update this recipe")

# %%
# A pure shape check: the conditions of the program, written by hand as a function of the
# shapes: the ranges of ``ep.range_constraints`` (printed above) and the relations of
# ``ep._guards_code`` (a private attribute, printed below). It needs neither PyTorch nor
# onnxruntime, so it also fits where only onnxruntime is installed:


def shape_check(x_shape, y_shape, z_shape):
    """The conditions the program was exported for, on the input shapes."""
    if not x_shape[0] == y_shape[0] == z_shape[0] <= 64:
        raise ValueError(f"batches must be equal and at most 64: {x_shape[0]}, {y_shape[0]}, {z_shape[0]}")
    if z_shape[1] < 3 or x_shape[1] + y_shape[1] != (z_shape[1] + 1) // 2:
        raise ValueError(f"widths must satisfy x + y == (z + 1) // 2, z >= 3: {x_shape[1]}, {y_shape[1]}, {z_shape[1]}")


print(ep._guards_code)


def refused_by(check, *tensors):
    """The exception a check raises for these inputs, or None."""
    try:
        check(*tensors)
    except (AssertionError, ValueError) as e:
        return type(e).__name__
    return None


# %%
# Both checks agree with each other, and with eager, on good and bad shapes:

shape_sets = {
    "good": [(2, 3), (2, 4), (2, 13)],
    "good, z of even width": [(5, 1), (5, 8), (5, 18)],
    "widths": [(2, 3), (2, 4), (2, 20)],
    "batch 65": [(65, 3), (65, 4), (65, 14)],
    "batches": [(2, 3), (3, 4), (2, 14)],
}
for name, shapes in shape_sets.items():
    tensors = [torch.randn(*shape) for shape in shapes]
    by_meta, by_function = refused_by(meta_check, *tensors), refused_by(shape_check, *(t.shape for t in tensors))
    print(f"{name:<22} meta module: {by_meta}, function: {by_function}")
    assert (by_meta is None) == (by_function is None) == name.startswith("good"), (name, by_meta, by_function)

# %%
# How much do they cost? On larger inputs, one call of each check, one call of the exported
# module on the real inputs (the check that computes the model in PyTorch), and one run of the
# ONNX model in onnxruntime. The timings depend on the machine and on the build, so they are
# printed here, never checked:

large = torch.randn(64, 300), torch.randn(64, 400), torch.randn(64, 1399)


def seconds_per_call(function, repeat=20):
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat


real_checker = ep.module()
timings = {
    "shape_check (function)": seconds_per_call(lambda: shape_check(*(t.shape for t in large))),
    "meta_check (exported module)": seconds_per_call(lambda: meta_check(*large)),
    "exported module, real inputs": seconds_per_call(lambda: real_checker(*large)),
    "the ONNX model in onnxruntime": seconds_per_call(lambda: run(checked_session, *large)),
}
for name, seconds in timings.items():
    print(f"{name:<30} {seconds * 1e6:10.1f} microseconds")

# %%
# The function only compares a few integers. The ``meta`` module runs the exported module's
# checks and the graph on tensors without data, so it computes nothing whatever the size of the
# inputs; called on the real inputs, the same module computes the whole model in PyTorch: a
# second run of the model, next to the ONNX one. Keep the ``meta`` module when PyTorch is
# there: it is generated from the program, so it cannot drift from it. Run the check before
# onnxruntime:


def checked_run(x, y, z):
    meta_check(x, y, z)
    return run(checked_session, x, y, z)


try:
    checked_run(torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 20))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[1] + y.size()[1] == (1 + z.size()[1]) // 2", e
else:
    raise AssertionError("the exported program no longer checks the relation: update this recipe")

# %%
# The same check names the condition that a batch of 65 breaks:

try:
    checked_run(torch.randn(65, 3), torch.randn(65, 4), torch.randn(65, 14))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] <= 64", e
else:
    raise AssertionError("the exported program no longer checks the range: update this recipe")

print(checked_run(torch.randn(4, 3), torch.randn(4, 4), torch.randn(4, 13)).shape)

# %%
# Where PyTorch is not available next to onnxruntime, call ``shape_check`` before
# ``session.run`` instead.
