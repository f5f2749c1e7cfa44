"""
.. _recipe-onnx-symint-exponent-pow:

"float() argument must be ... not 'SymbolicTensor'" in aten_pow_tensor_scalar: a size as an exponent in ONNX
============================================================================================================

A model built like a length-normalized pooling raises a sum to the power ``1 / n``, where ``n``
is the sequence length. ``torch.export`` handles it with a dynamic ``n``, but step 3 of
``torch.onnx.export`` (translating the graph to ONNX) fails inside the translation of
``aten.pow.Tensor_Scalar``: the exponent is no longer a Python number but a value computed from
the input's shape, and the translation function needs a number.

This recipe answers the reports where a ``SymInt`` or ``SymFloat`` (a size, or arithmetic on
sizes) reaches an ONNX translation function ("torchlib") that expects a Python number
(``'int' object has no attribute 'dtype'`` in ``aten_pow_scalar``, ``unhashable type: 'list'`` in
``aten_view``, ``Unknown call_function target: sym_float``). It reproduces the ``pow`` case that
still fails with the pinned torch and onnxscript, says how to recognise the kind, shows the fix
(make the exponent a tensor) checked with onnxruntime, and shows that the three reported forms
export on the pinned versions.

The failure
-----------
"""

import re

import numpy as np
import onnxruntime
import torch

Dim = torch.export.Dim


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


class LengthNormalizedPool(torch.nn.Module):
    """The sum of absolute values of each row, to the power 1 / sequence length."""

    def forward(self, x):
        n = x.shape[1]
        return x.abs().sum(-1) ** (1 / n)


model = LengthNormalizedPool().eval()
x = torch.randn(2, 8)
spec = ({0: Dim("batch"), 1: Dim("n")},)
ep = torch.export.export(model, (x,), dynamic_shapes=spec)
(pow_node,) = ep.graph.find_nodes(op="call_function", target=torch.ops.aten.pow.Tensor_Scalar)
print(pow_node.format_node())
print("exponent:", type(pow_node.args[1].meta["val"]).__name__)
assert isinstance(pow_node.args[1].meta["val"], torch.SymFloat)

# %%
# Step 1, ``torch.export``, works: the graph holds ``aten.pow.Tensor_Scalar`` whose exponent is
# the node ``truediv``, a ``SymFloat`` (``1 / n`` computed when the program runs). The ONNX
# exporter fails on that node:

try:
    torch.onnx.export(model, (x,), dynamo=True, verbose=False, dynamic_shapes=spec)
    raise AssertionError("a SymFloat exponent now translates to ONNX: update this recipe")
except torch.onnx.errors.OnnxExporterError as e:
    message = str(e)
    assert type(e).__name__ == "ConversionError", type(e)
summary = message[message.index("## Exception summary") :].splitlines()
for line in summary[2:7]:  # without the arguments' details, and without the function's address
    print(re.sub(r" at 0x[0-9a-f]+", "", line.split(" with args")[0].split("(args = ")[0]))
assert "This is step 3/3" in message, message
assert "<class 'TypeError'>: float() argument must be a string or a real number, not 'SymbolicTensor'" in message
assert "function aten_pow_tensor_scalar" in message, message
assert "SymbolicTensor(name='truediv'" in message, message
assert "target=torch.ops.aten.pow.Tensor_Scalar" in message, message

# %%
# How to read it, from the bottom of the summary up:
#
# * ``Error when translating node %pow_1 ... aten.pow.Tensor_Scalar``: the node of the exported
#   graph being translated. Step 3/3 means the graph was obtained (step 1) and decomposed
#   (step 2); only the translation failed.
# * ``Error when calling function 'TracedOnnxFunction(<function aten_pow_tensor_scalar ...>)'``:
#   the torchlib function (from onnxscript) that translates this op. Its arguments, cut above,
#   show the exponent as ``SymbolicTensor(name='truediv', ...)``: a value computed in the ONNX
#   graph.
# * ``TypeError: float() ...``: that function calls ``float()`` on the exponent, which it
#   expects to be a Python number (``Tensor_Scalar``: a tensor and a scalar); with a dynamic
#   ``n`` it is a graph value.
#
# The class is ``torch.onnx.errors.OnnxExporterError`` (its subclass ``ConversionError``, in a
# private module). Its mark is a ``SymInt`` or ``SymFloat`` argument of an op whose schema says
# ``Scalar`` or ``int[]``, found in the node's ``args``. Such a mismatch between the exporter and
# torchlib is a bug of the pinned torch/onnxscript pair, not of the model: the sentinel above
# will tell when it is fixed.
#
# The fix: make the exponent a tensor
# -----------------------------------
#
# A tensor exponent selects another overload, ``aten.pow.Tensor_Tensor``, whose translation
# takes a graph value. ``torch.full((), value)`` makes a 0-d tensor from the ``SymFloat``:


class TensorExponentPool(torch.nn.Module):
    def forward(self, x):
        n = x.shape[1]
        return x.abs().sum(-1) ** torch.full((), 1 / n, dtype=x.dtype)


fixed = TensorExponentPool().eval()
onnx_program = torch.onnx.export(fixed, (x,), dynamo=True, verbose=False, dynamic_shapes=spec)
print([node.op_type for node in onnx_program.model.graph])
assert "Pow" in [node.op_type for node in onnx_program.model.graph]
check_onnx_against_eager(onnx_program, model, [(torch.randn(3, 5),), (torch.randn(1, 17),), (torch.randn(4, 2),)])

# %%
# The ONNX graph computes ``1 / n`` from the input's ``Shape`` (``Cast``, ``Div``) and feeds it to
# ``Pow``; onnxruntime gives what the original model gives in eager mode on lengths 5, 17 and 2.
#
# The reported forms that export with the pinned versions
# -------------------------------------------------------
#
# Three reports of the same kind came from code like the models below: a ``view`` whose shape
# holds a product of sizes (``unhashable type: 'list'`` in ``aten_view``), a size raised to a
# tensor's power (``'int' object has no attribute 'dtype'`` in ``aten_pow_scalar``), and a size
# converted to a float with ``torch.sym_float`` (``Unknown call_function target: sym_float``;
# plain ``float()`` would specialize the size, see :ref:`recipe-max-min-on-sizes`). With the pinned torch
# and onnxscript, all three export with dynamic shapes and match eager in onnxruntime:


class ReportedForms(torch.nn.Module):
    """The three reported forms, side by side."""

    def forward(self, image, x):
        b, c, h, w = image.shape
        flattened = image.view(b, c, h * w)  # aten_view
        powered = x.shape[1] ** torch.tanh(x)  # aten_pow_scalar
        divided = x / torch.sym_float(x.shape[1])  # sym_float
        return flattened, powered, divided


reported = ReportedForms().eval()
reported_spec = ({0: Dim("batch"), 2: Dim("height"), 3: Dim("width")}, {0: Dim("rows"), 1: Dim("n")})
reported_program = torch.onnx.export(
    reported, (torch.randn(2, 3, 4, 5), x), dynamo=True, verbose=False, dynamic_shapes=reported_spec
)
check_onnx_against_eager(
    reported_program,
    reported,
    [(torch.randn(1, 3, 7, 2), torch.randn(3, 5)), (torch.randn(3, 3, 5, 9), torch.randn(1, 17))],
)

# %%
# If one of them fails with an older release, upgrade torch and onnxscript before rewriting the
# model; if the rewrite is needed, the rule is the one above: turn the size into a tensor
# (``torch.full((), value)``, or ``torch.tensor(x.shape[1])``) before it reaches the op.
