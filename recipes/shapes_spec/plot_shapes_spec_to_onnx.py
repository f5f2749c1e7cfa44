"""
.. _recipe-shapes-spec-onnx:

``torch.onnx.export`` with a ``ShapesSpec``: "cannot be combined with dynamic_shapes=ShapesSpec(...)"
=====================================================================================================

You wrote a ``ShapesSpec`` for ``torch.export.export`` and pass the same spec to
``torch.onnx.export(..., dynamo=True)``. On torch 2.15 the exporter fails at its first step,
"Failed to export the model with torch.export", and the summary at the end of the message says
why: the exporter asks ``torch.export`` for an option that ``ShapesSpec`` refuses.

This recipe pins that failure, then takes the route that works: export the model with the
``ShapesSpec`` yourself, and give the ``ExportedProgram`` to ``torch.onnx.export``. It checks the
ONNX model in onnxruntime on new shapes, shows the dimension names it gets (``u…``, the program's
symbols) and how to rename them, and what the ONNX model no longer checks. ``ShapesSpec`` lives
in ``torch.fx.experimental.dynamic_spec``: it is **experimental** in torch 2.15, and each
behaviour below is pinned.
"""

import numpy as np
import onnxruntime
import torch
from torch.fx.experimental.dynamic_spec import ParamsSpec, ShapesSpec, ShapeVar, TensorSpec


class Doubled(torch.nn.Module):
    def forward(self, x, y):
        return torch.cat([x, x], 0) + y


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


model = Doubled().eval()
example = (torch.randn(1, 3), torch.randn(2, 3))
batch = ShapeVar("batch", min=1, max=128)
spec = ShapesSpec(params=ParamsSpec({"x": TensorSpec([batch, 3]), "y": TensorSpec([batch * 2, 3])}))
ep = torch.export.export(model, example, dynamic_shapes=spec)  # the spec is right for torch.export

# %%
# The spec given to ``torch.onnx.export``
# ---------------------------------------

try:
    torch.onnx.export(model, example, dynamic_shapes=spec, dynamo=True, verbose=False)
    raise AssertionError("torch.onnx.export now takes a ShapesSpec: update this recipe")
except torch.onnx.OnnxExporterError as e:
    message = str(e)
    summary = message.split("## Exception summary")[1]
    print(message.splitlines()[0], "...", "## Exception summary", summary, sep="\n")
assert message.startswith("Failed to export the model with torch.export."), message
assert "`prefer_deferred_runtime_asserts_over_guards=True` cannot be combined with `dynamic_shapes=ShapesSpec(...)`" in summary

# %%
# Read the last lines, the "Exception summary": a ``ValueError`` of ``torch.export``. The ONNX
# exporter calls ``torch.export.export`` with ``prefer_deferred_runtime_asserts_over_guards=True``
# (so that checks become assertions of the graph, which the ONNX translation can drop), and
# ``torch.export.export`` refuses that option with a ``ShapesSpec``, whose checks are assertions
# of the graph already. The same refusal, without the exporter:

try:
    torch.export.export(model, example, dynamic_shapes=spec, prefer_deferred_runtime_asserts_over_guards=True)
    raise AssertionError("export now takes the option with a ShapesSpec: update this recipe")
except ValueError as e:
    print(e)
    assert "cannot be combined with `dynamic_shapes=ShapesSpec(...)`" in str(e), e

# %%
# The route that works: export, then convert the program
# ------------------------------------------------------
#
# ``ep`` is the program exported above with the ``ShapesSpec``:

onnx_program = torch.onnx.export(ep, dynamo=True, verbose=False)
new_shapes = [(torch.randn(5, 3), torch.randn(10, 3)), (torch.randn(64, 3), torch.randn(128, 3))]
check_onnx_against_eager(onnx_program, model, new_shapes)

# %%
# onnxruntime matches eager on batches the example never had. The dimensions of the ONNX model
# are named after the program's symbols, ``u`` symbols here, and the derived size keeps its
# expression:

dims = onnx_dims(onnx_program.model_proto)
print(dims)
symbol = str(ep.graph.find_nodes(op="placeholder")[0].meta["val"].shape[0])  # the program's name for batch
assert symbol.startswith("u"), symbol
assert dims == {"x": [symbol, 3], "y": [f"2*{symbol}", 3], "add": [f"2*{symbol}", 3]}, dims

# %%
# Readable names
# --------------
#
# ``ONNXProgram.rename_axes`` renames them after export; build the mapping from the program's
# own symbols (the numbers of ``u`` symbols vary):

onnx_program.rename_axes({symbol: "batch", f"2*{symbol}": "2*batch"})
print(onnx_dims(onnx_program.model_proto))
assert onnx_dims(onnx_program.model_proto) == {"x": ["batch", 3], "y": ["2*batch", 3], "add": ["2*batch", 3]}
check_onnx_against_eager(onnx_program, model, new_shapes)

# %%
# What the ONNX model does not check
# ----------------------------------
#
# The program checks the relation ``y`` = 2 × ``x`` and the range 1 to 128 (see
# :ref:`recipe-shapes-spec-derived-assumptions`). The ONNX model has only the computation:

print([node.op_type for node in onnx_program.model_proto.graph.node])
assert [node.op_type for node in onnx_program.model_proto.graph.node] == ["Concat", "Add"]
session = onnx_session(onnx_program)
(out,) = session.run(None, {"x": np.ones((200, 3), np.float32), "y": np.ones((400, 3), np.float32)})
assert out.shape == (400, 3), out.shape

# %%
# A batch of 200, above ``max=128``, runs. Sizes that break the relation fail inside the ``Add``
# kernel, with onnxruntime's message about broadcasting instead of the program's assertion:

try:
    session.run(None, {"x": np.ones((5, 3), np.float32), "y": np.ones((9, 3), np.float32)})
    raise AssertionError("onnxruntime now adds 10 rows to 9: update this recipe")
except onnxruntime.capi.onnxruntime_pybind11_state.Fail as e:
    message = str(e)
    print(message.split("Status Message:")[0])
assert "Attempting to broadcast an axis by a dimension other than 1. 9 by 10" in message, message

# %%
# Check the sizes before you call the ONNX model, or keep the ``ExportedProgram`` next to it to
# test inputs. ``onnxruntime.capi.onnxruntime_pybind11_state.Fail`` is the class onnxruntime
# raises for a failed kernel; it is not documented as public.
