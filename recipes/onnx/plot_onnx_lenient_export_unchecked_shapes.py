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
ONNX exporter does with the spec, and ends with a spec that ``torch.export`` accepts and a shape
check to run before onnxruntime.

A model whose input sizes are related
-------------------------------------
"""

import warnings

import numpy as np
import onnxruntime
import torch

# torch 2.13's ONNX exporter warns "isinstance(treespec, LeafSpec) is deprecated" from its own code on
# every export; the warning says nothing about your model, so this recipe hides that one.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)

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


def session_for(onnx_program):
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def run(session, x, y, z):
    (out,) = session.run(None, {"x": x.numpy(), "y": y.numpy(), "z": z.numpy()})
    return out


def check_against_eager(session, shapes):
    for shape_x, shape_y, shape_z in shapes:
        new_inputs = torch.randn(*shape_x), torch.randn(*shape_y), torch.randn(*shape_z)
        expected = model(*new_inputs).numpy()
        np.testing.assert_allclose(run(session, *new_inputs), expected, rtol=1e-6, atol=1e-6)
    print(f"onnxruntime matches eager on {len(shapes)} new shapes")


# new batch sizes, and new widths with x.shape[1] + y.shape[1] == (z.shape[1] + 1) // 2
new_shapes = [((3, 5), (3, 2), (3, 13)), ((5, 1), (5, 8), (5, 18))]

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
# (``torch._dynamo.exc.UserError`` is the class ``torch.export`` raises for spec problems.)
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

session = session_for(onnx_program)
check_against_eager(session, new_shapes)

# %%
# The ONNX exporter calls ``torch.export.export`` with two options of its own:
# ``prefer_deferred_runtime_asserts_over_guards=True``, which turns the conditions that would
# have violated the spec into assertions in the graph instead of an error, and a setting that
# stops it from treating sizes 0 and 1 as special. If ``torch.export`` still raises an error
# with "Suggested fixes", it applies them to the spec and tries again. The first option alone
# is enough here; the exported program then contains the assertions:

deferred_ep = torch.export.export(
    model, inputs, dynamic_shapes=spec, prefer_deferred_runtime_asserts_over_guards=True
)
assert_scalar = torch.ops.aten._assert_scalar.default
asserts = [node.args[1] for node in deferred_ep.graph.nodes if node.target == assert_scalar]
print("\n".join(asserts))
assert len(asserts) == 4 and "Eq(s27 + s94, ((s32 + 1)//2))" in asserts[2], asserts

# %%
# ``Ne(((s32 + 1)//2), 1)`` is the condition ``torch.export`` refused to assume,
# ``Eq(s27 + s94, ...)`` the relation between the widths, and the other two the equal batch
# sizes. None of them reaches ONNX: the graph has three nodes, ``Concat``, ``Slice`` and
# ``Add``, and the input shapes only say ``batch``, ``dx``, ``dy``, ``dz``. The relations and
# the range ``max=64`` are gone.
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
checked_session = session_for(checked_program)
check_against_eager(checked_session, new_shapes)

# %%
# The program ``torch.export`` returned keeps the checks: ``ep.module()`` tests the relations
# and the ranges before computing anything. This model has no weights, so a call with ``meta``
# tensors (shapes without data) tests the shapes without any computation; for a model with
# weights, call it on the real inputs. Run it before onnxruntime:


def checked_run(x, y, z):
    ep.module()(*(torch.empty(t.shape, device="meta") for t in (x, y, z)))
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
# Where PyTorch is not available next to onnxruntime, write the same conditions as a function
# of the input shapes (``x.shape[0] == y.shape[0] == z.shape[0] <= 64``, ``z.shape[1] >= 3``,
# ``x.shape[1] + y.shape[1] == (z.shape[1] + 1) // 2``) and call it before ``session.run``.
