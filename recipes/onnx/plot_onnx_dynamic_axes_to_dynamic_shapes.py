"""
.. _recipe-onnx-dynamic-axes-to-dynamic-shapes:

"'dynamic_axes' is not recommended when dynamo=True": moving to ``dynamic_shapes``
==================================================================================

Code written for the TorchScript-based ONNX exporter declares dynamic dimensions with
``dynamic_axes``, keyed by the ONNX input and output names. Since PyTorch 2.9,
``torch.onnx.export`` uses ``torch.export`` by default (``dynamo=True``), and the same call
warns that ``dynamic_axes`` is not recommended. The dynamo exporter wants ``dynamic_shapes``,
the argument of ``torch.export.export``.

This recipe exports a small model with a cache-like input both ways, shows what ``dynamo=True``
does with ``dynamic_axes`` (it converts them, with two warnings, and ignores the names you gave
to output axes), why the conversion fails with "Failed to convert 'dynamic_axes' to
'dynamic_shapes'" when a ``forward`` takes a list of tensors, what ``dynamo=False`` says about
``dynamic_shapes``, and ends with the equivalent ``dynamic_shapes`` spec, checked with onnxruntime.

The model: new tokens appended to a cache
-----------------------------------------
"""

import os
import re
import tempfile
import warnings

import numpy as np
import onnx
import onnxruntime
import torch


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, past, x):
        return torch.cat([past, self.linear(x)], dim=1)


torch.manual_seed(0)
model = Model().eval()
past, x = torch.randn(2, 5, 4), torch.randn(2, 3, 8)
print(model(past, x).shape)


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


def check_file_against_eager(model_proto, model, input_sets):
    """Like ``check_onnx_against_eager``, for an ONNX model loaded from a file (a ``ModelProto``)."""
    session = onnxruntime.InferenceSession(model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]
    for inputs in input_sets:
        feeds = {name: tensor.numpy() for name, tensor in zip(names, inputs, strict=True)}
        (got,) = session.run(None, feeds)
        np.testing.assert_allclose(got, model(*inputs).detach().numpy(), rtol=1e-4, atol=1e-5)
    print(f"onnxruntime matches eager on {len(input_sets)} new input sets")


# new (batch, past_len, seq)
new_inputs = [(torch.randn(b, p, 4), torch.randn(b, s, 8)) for b, p, s in [(3, 1, 4), (1, 6, 1), (4, 9, 2)]]

# %%
# The output has ``past_len + seq`` rows: 5 + 3 = 8 here.
#
# Before: the TorchScript exporter and ``dynamic_axes``
# -----------------------------------------------------
#
# The TorchScript exporter (``dynamo=False``) writes to a file and names every dynamic axis,
# outputs included, with the names found in ``dynamic_axes``:

dynamic_axes = {
    "past": {0: "batch", 1: "past_len"},
    "x": {0: "batch", 1: "seq"},
    "out": {0: "batch", 1: "total_len"},
}
with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings(record=True) as legacy_warnings:
    warnings.simplefilter("always")
    path = os.path.join(folder, "model.onnx")
    torch.onnx.export(
        model,
        (past, x),
        path,
        dynamo=False,
        input_names=["past", "x"],
        output_names=["out"],
        dynamic_axes=dynamic_axes,
    )
    torchscript_proto = onnx.load(path)

torchscript_dims = onnx_dims(torchscript_proto)
print(torchscript_dims)
assert torchscript_dims == {
    "past": ["batch", "past_len", 4],
    "x": ["batch", "seq", 8],
    "out": ["batch", "total_len", 4],
}, torchscript_dims
check_file_against_eager(torchscript_proto, model, new_inputs)

legacy = [str(w.message) for w in legacy_warnings if issubclass(w.category, DeprecationWarning)]
print(legacy[0].split(". ")[0])
assert legacy[0].startswith("You are using the legacy TorchScript-based ONNX export."), legacy
assert "Starting in PyTorch 2.9, the new torch.export-based ONNX exporter has become the default" in legacy[0], legacy

# %%
# It also warns, with a ``DeprecationWarning``, that the TorchScript-based exporter is legacy,
# and that the ``torch.export``-based exporter is the default since PyTorch 2.9.
#
# The same call with ``dynamo=True``
# ----------------------------------
#
# Switching to ``dynamo=True`` and keeping ``dynamic_axes`` still exports. Recording the
# warnings shows what happens:

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    axes_program = torch.onnx.export(
        model,
        (past, x),
        dynamo=True,
        verbose=False,
        input_names=["past", "x"],
        output_names=["out"],
        dynamic_axes=dynamic_axes,
    )

about_axes = [w for w in caught if "dynamic_axes" in str(w.message)]
for w in about_axes:
    print(f"{w.category.__name__}: {w.message}\n")
assert [w.category for w in about_axes] == [UserWarning, DeprecationWarning], about_axes
assert str(about_axes[0].message).startswith(
    "# 'dynamic_axes' is not recommended when dynamo=True"
), about_axes
assert str(about_axes[1].message).startswith("from_dynamic_axes_to_dynamic_shapes is deprecated"), about_axes

axes_dims = onnx_dims(axes_program.model_proto)
print(axes_dims)
assert axes_dims == {
    "past": ["batch", "past_len", 4],
    "x": ["batch", "seq", 8],
    "out": ["batch", "seq + past_len", 4],
}, axes_dims
check_onnx_against_eager(axes_program, model, new_inputs)

# %%
# The exporter converted ``dynamic_axes`` into ``dynamic_shapes`` (the deprecated helper named
# in the second warning) and exported with ``torch.export``. The inputs keep their names.
# The output does not get ``total_len``: ``dynamic_shapes`` describes inputs only, so the names
# given to output axes are dropped, and the exporter writes what it knows about the size
# instead, ``seq + past_len``. This is more precise than ``total_len``: it says how the output
# size follows from the inputs.
#
# The list form of ``dynamic_axes`` (``{"x": [0, 1]}``) gives no names at all, so the
# dimensions get the names of ``torch.export``'s symbols, see
# :ref:`recipe-onnx-dimension-names`:

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the same two warnings as above
    list_program = torch.onnx.export(
        model, (past, x), dynamo=True, verbose=False, input_names=["past", "x"], dynamic_axes={"past": [0, 1], "x": [0, 1]}
    )
list_dims = onnx_dims(list_program.model_proto)
print(list_dims)
assert all(re.fullmatch(r"s\d+", d) for d in list_dims["past"][:2] + list_dims["x"][:2]), list_dims

# %%
# When the conversion fails: "Failed to convert 'dynamic_axes' to 'dynamic_shapes'"
# ---------------------------------------------------------------------------------
#
# The conversion takes each name of ``input_names`` for one tensor, in the order of the flattened
# inputs. A ``forward`` that takes a list (a cache of several tensors, say) has more tensors than
# arguments. An export script that names the argument once fails, with ``dynamo=True``, before
# anything is traced:


class ListModel(torch.nn.Module):
    def forward(self, x, states):
        return x + states[0], states[1] * 2


list_model = ListModel().eval()
x2, states = torch.randn(2, 3), [torch.randn(2, 3), torch.randn(2, 3)]
try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the same two warnings as above
        torch.onnx.export(
            list_model,
            (x2, states),
            dynamo=True,
            verbose=False,
            input_names=["x", "states"],
            dynamic_axes={"x": {0: "batch"}, "states": {0: "batch"}},
        )
    raise AssertionError("dynamic_axes naming a list input once now converts: update this recipe")
except RuntimeError as e:
    print(e)
    cause = e.__cause__
    print(f"\nThe cause, e.__cause__: {type(cause).__name__}: {str(cause).split(' (TreeSpec')[0]}")
    assert str(e).startswith("# Failed to convert 'dynamic_axes' to 'dynamic_shapes'."), e
    assert isinstance(cause, ValueError), cause
    assert "`leaves` has length 2 but the spec refers to a pytree that holds 3 items" in str(cause), cause

# %%
# How to read it: the message itself gives no reason and asks for ``dynamic_shapes``; the reason
# is the exception it was raised from (``e.__cause__``, printed above it in a full traceback). Here
# two names were given (``x``, ``states``) for three tensors (``x`` and the two of the list). With
# one name per tensor, the conversion works:

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the two warnings about dynamic_axes, and the axis-name one explained below
    named_program = torch.onnx.export(
        list_model,
        (x2, states),
        dynamo=True,
        verbose=False,
        input_names=["x", "state0", "state1"],
        dynamic_axes={"x": {0: "batch"}, "state0": {0: "batch"}, "state1": {0: "batch"}},
    )
named_inputs = {name: dims for name, dims in onnx_dims(named_program.model_proto).items() if name in ("x", "state0", "state1")}
print(named_inputs)
assert named_inputs == {"x": ["batch", 3], "state0": ["batch", 3], "state1": ["batch", 3]}, named_inputs

# %%
# The way forward is still the message's advice: ``dynamic_shapes`` follows the structure of the
# arguments, a list of specs for a list of tensors, so no name has to be counted:

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the axis-name warning, explained below
    states_program = torch.onnx.export(
        list_model,
        (x2, states),
        dynamo=True,
        verbose=False,
        dynamic_shapes={"x": {0: "batch"}, "states": [{0: "batch"}, {0: "batch"}]},
    )
states_dims = onnx_dims(states_program.model_proto)
print(states_dims)
assert [dims[0] for dims in states_dims.values()] == ["batch"] * 5, states_dims
session = onnx_session(states_program)
for batch in (1, 4, 7):
    new_x, new_states = torch.randn(batch, 3), [torch.randn(batch, 3), torch.randn(batch, 3)]
    feeds = {i.name: t.numpy() for i, t in zip(session.get_inputs(), [new_x, *new_states], strict=True)}
    for got, wanted in zip(session.run(None, feeds), list_model(new_x, new_states), strict=True):
        np.testing.assert_allclose(got, wanted.numpy(), rtol=1e-5, atol=1e-6)
print("onnxruntime matches eager on 3 new batch sizes")

# %%
#
# ``dynamo=False`` does not understand ``dynamic_shapes``
# -------------------------------------------------------
#
# Going the other way, from a ``dynamic_shapes`` spec to the TorchScript exporter, fails before
# anything is traced:

try:
    torch.onnx.export(
        model, (past, x), dynamo=False, dynamic_shapes={"past": {0: "batch"}, "x": {0: "batch"}}
    )
    raise AssertionError("dynamo=False now accepts dynamic_shapes: update this recipe")
except ValueError as e:
    print(e)
    assert "only supports dynamic shapes through parameter dynamic_axes when dynamo=False" in str(e), e

# %%
# (The ``DeprecationWarning`` printed first is the one about the legacy exporter, shown above.)
#
# After: ``dynamic_shapes``
# -------------------------
#
# The equivalent spec has one entry per argument of ``forward`` (the keys are the argument
# names, not ONNX names) and nothing for outputs. Strings are enough to name the dimensions;
# ``torch.export.Dim`` objects work too:

shapes_program = torch.onnx.export(
    model,
    (past, x),
    dynamo=True,
    verbose=False,
    output_names=["out"],
    dynamic_shapes={"past": {0: "batch", 1: "past_len"}, "x": {0: "batch", 1: "seq"}},
)
shapes_dims = onnx_dims(shapes_program.model_proto)
print(shapes_dims)
assert shapes_dims == axes_dims, shapes_dims
check_onnx_against_eager(shapes_program, model, new_inputs)

# %%
# Same graph signature, no warning about ``dynamic_axes``.
# (The ``UserWarning`` printed above, "The axis name: batch will not be used", is harmless:
# two inputs share the name, and :ref:`recipe-onnx-dimension-names` explains it.)
# The mapping is mechanical:
#
# * ``input_names`` + ``dynamic_axes[name]`` becomes ``dynamic_shapes[argument of forward]``,
#   with the same ``{axis: "name"}`` dicts;
# * the entries of output names are deleted (output dimensions are derived from the inputs);
# * ``output_names`` stays, it still names the outputs of the graph.
