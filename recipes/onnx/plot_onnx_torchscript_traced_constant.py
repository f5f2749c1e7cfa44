"""
.. _recipe-onnx-torchscript-traced-constant:

"The input tensor cannot be reshaped to the requested shape": a size the TorchScript exporter traced as a constant
==================================================================================================================

A model built like a speech front end adds up frames in pairs: it reads the number of frames
with ``int(x.shape[1])``, reshapes to half as many pairs and sums each pair. Exported with the TorchScript-based
exporter (``torch.onnx.export(..., dynamo=False)``) and ``dynamic_axes``, the ONNX model declares
a dynamic number of frames, loads, and runs on the example's shape. With any other number of
frames onnxruntime fails in a ``Reshape`` node: "The input tensor cannot be reshaped to the
requested shape".

This recipe answers the reports of that kind: it reproduces the failure, reads the message and
the ONNX graph to find the constant, and gives two fixes checked with onnxruntime on new shapes:
the ``torch.export``-based exporter (``dynamo=True``) with ``dynamic_shapes``, and a rewrite of
the line that any tracer follows.

The failure
-----------
"""

import io
import re
import warnings

import numpy as np
import onnx
import onnxruntime
import torch


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


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


class PairFrames(torch.nn.Module):
    """Sums consecutive frames two by two: (batch, frames, feat) -> (batch, frames // 2, feat)."""

    def forward(self, x):
        frames = int(x.shape[1])
        return x.reshape(x.shape[0], frames // 2, 2, x.shape[2]).sum(2)


model = PairFrames().eval()
x = torch.randn(2, 8, 3)


def torchscript_export(model, x):
    """The model exported by the TorchScript-based exporter with ``dynamic_axes``, and its warnings."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.onnx.export(
            model,
            (x,),
            buffer,
            dynamo=False,
            input_names=["x"],
            output_names=["pairs"],
            dynamic_axes={"x": {0: "batch", 1: "frames"}, "pairs": {0: "batch", 1: "half"}},
        )
    return onnx.load_from_string(buffer.getvalue()), caught


proto, caught = torchscript_export(model, x)
print(onnx_dims(proto))
assert onnx_dims(proto)["x"] == ["batch", "frames", 3], onnx_dims(proto)
session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
(got,) = session.run(None, {"x": x.numpy()})
np.testing.assert_allclose(got, model(x).numpy())
twelve_frames = torch.randn(3, 12, 3)
try:
    session.run(None, {"x": twelve_frames.numpy()})
    raise AssertionError("the traced model now runs on 12 frames: update this recipe")
except onnxruntime.capi.onnxruntime_pybind11_state.Fail as e:
    print(e)
    assert "Non-zero status code returned while running Reshape node" in str(e), e
    assert "The input tensor cannot be reshaped to the requested shape. Input shape:{3,12,3}, requested shape:{3,4,2," in str(e), e

# %%
# The ONNX input declares ``frames`` as dynamic, and the model gives eager's result on the example
# (8 frames). With 12 frames, onnxruntime raises ``onnxruntime.capi.onnxruntime_pybind11_state.Fail``
# (and prints the message in red on stderr). How to read it:
#
# * ``running Reshape node. Name:'/Reshape'``: the ONNX node that failed, named after the traced
#   op (``x.reshape``).
# * ``Input shape:{3,12,3}, requested shape:{3,4,2,-1}``: the batch (3) follows the input, the
#   features are ``-1`` ("whatever is left": onnxruntime's graph optimizations rewrote the size
#   read from the input), but the number of pairs is 4, half of the example's 8 frames. A number of the
#   example in the requested shape is the mark of a size traced as a constant.
#
# Where the constant comes from
# -----------------------------
#
# The TorchScript exporter runs the model once with the example and records the tensor ops.
# ``x.shape[1]`` is recorded as a ``Shape`` and a ``Gather``, but ``int()`` turns it into a
# Python number, which the trace cannot follow: from there on it is the constant 8, and
# ``frames // 2`` the constant 4. The exporter said so, in a ``TracerWarning`` easy to miss among
# its other warnings:

tracer_warnings = [str(w.message) for w in caught if w.category is torch.jit.TracerWarning]
print(tracer_warnings[0])
assert tracer_warnings[0].startswith("Converting a tensor to a Python integer might cause the trace to be incorrect.")

(reshape,) = [node for node in proto.graph.node if node.op_type == "Reshape"]
constants = {
    node.output[0]: onnx.numpy_helper.to_array(node.attribute[0].t).tolist()
    for node in proto.graph.node
    if node.op_type == "Constant"
}
(concat,) = [node for node in proto.graph.node if node.output[0] == reshape.input[1]]
print("Reshape's shape is", concat.op_type, "of", [constants.get(name, name) for name in concat.input])
assert [constants.get(name) for name in concat.input][1] == [4], concat.input

# %%
# The shape given to ``Reshape`` is a ``Concat`` of four pieces: the batch and the features come
# from the input's shape (outputs of other nodes), the pair is the constant ``[2]`` as written,
# and the number of pairs is the constant ``[4]``.
# ``dynamic_axes`` only names the input's dimensions; it cannot make the graph compute what the
# trace froze.
#
# Fix 1: the ``torch.export``-based exporter with ``dynamic_shapes``
# ------------------------------------------------------------------
#
# ``torch.onnx.export(..., dynamo=True)`` (the default since PyTorch 2.9) captures the model with
# ``torch.export``, which follows sizes symbolically instead of running the example once. With
# the dimensions named in ``dynamic_shapes`` (see :ref:`recipe-onnx-dynamic-axes-to-dynamic-shapes`
# for the translation of ``dynamic_axes``), the same model, ``int()`` included, becomes an ONNX
# model whose ``Reshape`` follows the number of frames:

legacy = [str(w.message) for w in caught if w.category is DeprecationWarning]
assert "Starting in PyTorch 2.9, the new torch.export-based ONNX exporter has become the default" in legacy[0], legacy
onnx_program = torch.onnx.export(model, (x,), dynamo=True, verbose=False, dynamic_shapes=({0: "batch", 1: "frames"},))
print(onnx_dims(onnx_program.model_proto))
assert onnx_dims(onnx_program.model_proto)["x"] == ["batch", "frames", 3]
new_inputs = [(twelve_frames,), (torch.randn(1, 2, 3),), (torch.randn(4, 30, 3),)]
check_onnx_against_eager(onnx_program, model, new_inputs)
(output_dims,) = [dims for name, dims in onnx_dims(onnx_program.model_proto).items() if name != "x"]
assert output_dims == ["batch", "(frames//2)", 3], output_dims

# %%
# The output's second dimension is ``(frames//2)``: computed from the input, not frozen.
#
# Fix 2: a line any tracer follows
# --------------------------------
#
# When the TorchScript exporter must stay (an older deployment pipeline), remove the Python
# number: keep sizes as ``x.shape[...]`` (no ``int()``, ``float()``, ``math`` or numpy on them),
# or let ``reshape`` compute the size with ``-1``:


class PairFramesTraceable(torch.nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1, 2, x.shape[2]).sum(2)


traceable = PairFramesTraceable().eval()
traced_proto, traced_caught = torchscript_export(traceable, x)
assert not [w for w in traced_caught if w.category is torch.jit.TracerWarning]
traced_session = onnxruntime.InferenceSession(traced_proto.SerializeToString(), providers=["CPUExecutionProvider"])
for (inputs,) in new_inputs:
    (got,) = traced_session.run(None, {"x": inputs.numpy()})
    np.testing.assert_allclose(got, model(inputs).numpy())
print(f"the TorchScript export of the rewrite matches eager on {len(new_inputs)} new input sets")
print(re.sub(r"\s+", " ", str(onnx_dims(traced_proto))))

# %%
# No ``TracerWarning`` this time, and the traced model matches eager on 12, 2 and 30 frames. A
# ``TracerWarning`` at export time is the early sign of this failure: treat it as an error, or
# check the ONNX model on a shape other than the example's, as this recipe does.
