"""
.. _recipe-onnx-custom-op-translation:

"No ONNX function found for <OpOverload(...)>": exporting a custom op with dynamic shapes
=========================================================================================

A model calls an operator of its own, defined with ``torch.library.custom_op``. ``torch.export``
handles it if the op has a *fake* implementation that computes the output shape from the input
shapes, symbolic ones included. The ONNX exporter does not know what the op computes and stops
with "No ONNX function found". It needs a translation: a function written with ONNX Script
operators, given in ``custom_translation_table``.

This recipe defines an op whose output is one column wider than its input, shows the
exporter's error, and the translation that fixes it. The dimension the fake implementation
computes (``n + 1``) reaches the ONNX graph, and onnxruntime agrees with eager PyTorch on new
shapes.

The custom op and its fake implementation
-----------------------------------------
"""

import re

import numpy as np
import onnxruntime
import torch
from onnxscript import opset18 as op


@torch.library.custom_op("cookbook::append_mean", mutates_args=())
def append_mean(x: torch.Tensor) -> torch.Tensor:
    """Append the mean of each row as a last column: (b, n) -> (b, n + 1)."""
    return torch.cat([x, x.mean(dim=1, keepdim=True)], dim=1)


@append_mean.register_fake
def _(x):
    return x.new_empty(x.shape[0], x.shape[1] + 1)


class Model(torch.nn.Module):
    def forward(self, x):
        return torch.relu(append_mean(x))


model = Model().eval()
x = torch.randn(2, 5)
print(model(x).shape)

# %%
# The fake implementation does no computation: it returns an empty tensor of the right shape
# and dtype. During export, ``x.shape`` holds symbols, so ``x.shape[1] + 1`` is the symbolic
# width of the output.


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


def export_model(custom_translation_table=None):
    return torch.onnx.export(
        model,
        (x,),
        dynamo=True,
        verbose=False,
        dynamic_shapes={"x": {0: "batch", 1: "n"}},
        output_names=["out"],
        custom_translation_table=custom_translation_table,
    )


# %%
# Without a translation: "No ONNX function found"
# -----------------------------------------------

try:
    export_model()
    raise AssertionError("the exporter now translates cookbook::append_mean on its own: update this recipe")
except torch.onnx.OnnxExporterError as e:
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # the message is colored for terminals
    print(message.splitlines()[0])
    missing = [line for line in message.splitlines() if "No ONNX function found" in line]
    print(missing[0])
    assert message.startswith("Failed to convert the exported program to an ONNX model."), message
    expected = "No ONNX function found for <OpOverload(op='cookbook.append_mean', overload='default')>"
    assert expected in missing[0], missing

# %%
# ``torch.onnx.OnnxExporterError`` is the exporter's error. Step 1, ``torch.export``, went
# well: the fake implementation gave the shapes. Step 3, the translation of each operator of the
# exported program to ONNX, found no ONNX function for ``cookbook::append_mean``.
#
# The translation: a function written with ONNX Script operators
# ---------------------------------------------------------------
#
# The translation takes the op's inputs and returns its output, computed with ONNX operators
# from ``onnxscript``: ``ReduceMean`` over axis 1, then ``Concat``. The exporter calls it while
# it builds the graph, with symbolic values instead of tensors, and records the operators it
# calls. Use the ``opset18`` operators: the exporter builds the graph with opset 18 (the value of
# a private constant, ``torch.onnx._internal.exporter._constants.TORCHLIB_OPSET``, checked below)
# and converts the whole model to opset 20 at the end. The key of ``custom_translation_table`` is
# the op's overload, ``torch.ops.cookbook.append_mean.default``, the target in the exported graph.


def append_mean_onnx(x):
    return op.Concat(x, op.ReduceMean(x, op.Constant(value_ints=[1]), keepdims=1), axis=1)


onnx_program = export_model({torch.ops.cookbook.append_mean.default: append_mean_onnx})
dims = onnx_dims(onnx_program.model_proto)
print(dims)
assert dims == {"x": ["batch", "n"], "out": ["batch", "n + 1"]}, dims

ops = [node.op_type for node in onnx_program.model_proto.graph.node]
print(ops, onnx_program.model_proto.opset_import[0].version)
assert ops == ["ReduceMean", "Concat", "Relu"], ops
assert onnx_program.model_proto.opset_import[0].version == 20, onnx_program.model_proto.opset_import
assert torch.onnx._internal.exporter._constants.TORCHLIB_OPSET == 18

# %%
# The output is ``n + 1`` wide: the fake implementation's ``x.shape[1] + 1``, renamed with the
# names of ``dynamic_shapes``. The operators of the translation replaced the custom op, so the
# graph only has standard ONNX operators (opset 20), and any ONNX runtime can run it.
# onnxruntime agrees with eager PyTorch on new batch sizes and widths:


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


new_inputs = [(torch.randn(*shape),) for shape in [(3, 4), (1, 9), (6, 2)]]
check_onnx_against_eager(onnx_program, model, new_inputs)
print([onnx_session(onnx_program).run(None, {"x": x.numpy()})[0].shape for (x,) in new_inputs])

