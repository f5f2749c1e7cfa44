"""
.. _recipe-onnx-roll-fftshift-dynamic-shift:

"Unsupported attribute type" translating ``aten.roll``: ``fftshift`` and ``torch.roll`` by a dynamic size in ONNX
=================================================================================================================

A model built like a frequency-domain filter centers its spectrum with
``torch.fft.fftshift``, which moves each dimension by half its size. Exported
to ONNX with dynamic height and width, ``torch.onnx.export(..., dynamo=True)`` fails in its last
step, on a node ``aten.roll.default``, with ``TypeError: Unsupported attribute type`` at the
bottom of the summary. The same model exports with static shapes, and a roll by a constant
shift (the cyclic shift of a windowed attention) exports with dynamic shapes.

This recipe shows the failure, says how to read it, and fixes it twice: without touching the
model (decompose the program before the ONNX exporter does), and by writing the roll as two
slices. Both are checked against eager PyTorch with onnxruntime, on new sizes, odd and even.

The model and the helpers
-------------------------
"""

import re

import numpy as np
import onnxruntime
import torch

Dim = torch.export.Dim


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


class CenteredSpectrumGain(torch.nn.Module):
    """Centers a (batch, height, width) map like a spectrum, then applies a learned gain."""

    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        return torch.fft.fftshift(x, dim=(-2, -1)) * self.gain


torch.manual_seed(0)
model = CenteredSpectrumGain().eval()
x = torch.randn(2, 6, 8)
spec = {"x": {0: Dim("batch"), 1: Dim("height"), 2: Dim("width")}}

# ``fftshift`` is a roll of each dimension by half its size:
half_roll = torch.roll(x, shifts=(x.shape[-2] // 2, x.shape[-1] // 2), dims=(-2, -1))
assert torch.equal(torch.fft.fftshift(x, dim=(-2, -1)), half_roll)
odd = torch.randn(2, 5, 7)
assert torch.equal(torch.fft.fftshift(odd, dim=(-2, -1)), torch.roll(odd, shifts=(2, 3), dims=(-2, -1)))

# %%
# The failure
# -----------
#
# ``torch.export.export`` takes the model with three dynamic dimensions; the ONNX exporter
# fails in step 3 of 3, the translation of the graph to ONNX. The summary of the error is a chain
# of causes, from the innermost up; the lines below drop the arguments' details (which hold
# object addresses):

ep = torch.export.export(model, (x,), dynamic_shapes=spec)
print([str(node.target) for node in ep.graph.nodes if node.op == "call_function"])
assert torch.ops.aten.fft_fftshift.default in [node.target for node in ep.graph.nodes]
x_node = ep.graph.find_nodes(op="placeholder")[-1]
assert all(isinstance(d, torch.SymInt) for d in x_node.meta["val"].shape), x_node.meta["val"].shape

try:
    torch.onnx.export(model, (x,), dynamo=True, verbose=False, output_names=["out"], dynamic_shapes=spec)
    raise AssertionError("a roll by a dynamic size now translates to ONNX: update this recipe")
except torch.onnx.errors.OnnxExporterError as e:
    message = str(e)
    assert type(e).__name__ == "ConversionError", type(e)
    assert type(e).__module__.startswith("torch.onnx._internal."), type(e).__module__
summary = message[message.index("## Exception summary") :].splitlines()
for line in summary[2:11]:
    line = re.sub(r" at 0x[0-9a-f]+", "", line)
    print(re.split(r" with args|\. named_inputs|\. See the stack", line)[0])
assert "This is step 3/3" in message, message
assert "<class 'TypeError'>: Unsupported attribute type: '<class 'list'>'" in message, message
assert "Error constructing node for operator '::Constant'" in message, message
assert "named_attrs={'value_ints': [SymbolicTensor(" in message, message
assert "function aten_roll" in message, message
assert "target=torch.ops.aten.roll.default" in message, message
translated = next(line for line in summary if "Error when translating node" in line)
assert re.search(r"args = \(%\w+, \[%\w+, %\w+\], \[-?\d+, -?\d+\]\)", translated), translated

# %%
# How to read it, from the bottom of the summary up:
#
# * ``Error when translating node %roll ... aten.roll.default``: the node being translated. The
#   exported program holds ``aten.fft_fftshift`` (printed above); the ONNX exporter decomposed
#   it into ``aten.roll`` before translating. The node's arguments are the tensor, the shifts
#   and the dimensions, and the shifts are not numbers but two nodes (``%floordiv``...): the
#   height and width divided by 2, computed when the model runs.
# * ``Error when calling function '...aten_roll'``: the translation function of ``roll``, from
#   onnxscript's torchlib.
# * ``Error calling operator 'Constant'`` and ``Unsupported attribute type``: that function
#   writes the shift into an ONNX ``Constant`` node, whose value is an *attribute*, fixed in the
#   file. A value computed by the graph cannot be an attribute, and the list holding it is
#   refused.
#
# The class is ``torch.onnx.errors.OnnxExporterError`` (its subclass ``ConversionError`` lives in
# a private module). It is a limit of the pinned torch/onnxscript pair, not a mistake in the
# model: the sentinel above will tell when it is lifted. The same kind of failure, a size
# reaching a translation function that wants a Python number, is described for ``pow`` in
# :ref:`recipe-onnx-symint-exponent-pow`; its fix (make the size a tensor) does not apply here:
# the schema of ``aten.roll`` says ``SymInt[1] shifts``, integers, not a tensor.

print(torch.ops.aten.roll.default._schema)
assert "SymInt[1] shifts" in str(torch.ops.aten.roll.default._schema)

# %%
# With static shapes the shifts are numbers (3 and 4, for the dimensions 1 and 2): the program
# the exporter converted (``onnx_program.exported_program``) shows the ``roll`` it made of
# ``fftshift``. With dynamic shapes, a roll by a constant, such as the cyclic shift of a
# windowed attention, translates as well:

static_program = torch.onnx.export(model, (x,), dynamo=True, verbose=False, output_names=["out"])
(static_roll,) = static_program.exported_program.graph.find_nodes(
    op="call_function", target=torch.ops.aten.roll.default
)
print(static_roll.args[1:], onnx_dims(static_program.model_proto))
assert static_roll.args[1] == [3, 4], static_roll.args
assert list(onnx_dims(static_program.model_proto).values()) == [[2, 6, 8], [2, 6, 8]]


class CyclicWindowShift(torch.nn.Module):
    def forward(self, x):
        return torch.roll(x, shifts=(-3, -3), dims=(1, 2))


window = CyclicWindowShift().eval()
window_program = torch.onnx.export(window, (x,), dynamo=True, verbose=False, output_names=["out"], dynamic_shapes=spec)
check_onnx_against_eager(window_program, window, [(torch.randn(3, 5, 7),), (torch.randn(1, 9, 4),)])

# %%
# Only a shift computed from a dynamic size fails. The static model, of course, accepts only a
# 2 x 6 x 8 input (see :ref:`recipe-onnx-invalid-dimensions`).
#
# Fix 1: decompose the program before the ONNX exporter does
# ------------------------------------------------------------
#
# ``ExportedProgram.run_decompositions()``, with its default table, writes ``fftshift`` and
# ``roll`` with ``arange``, a modulo and ``index_select``: the shifts become tensors computed
# from the sizes. The ONNX exporter accepts an ``ExportedProgram`` in place of the model, and
# ``dynamic_shapes`` then only names the dimensions (see
# :ref:`recipe-onnx-from-exported-program`):

decomposed = ep.run_decompositions()
targets = [str(node.target) for node in decomposed.graph.nodes if node.op == "call_function"]
print(sorted(set(targets)))
assert {"aten.arange.start_step", "aten.fmod.Scalar", "aten.index_select.default"} <= set(targets), targets
assert not {"aten.roll.default", "aten.fft_fftshift.default"} & set(targets), targets

decomposed_program = torch.onnx.export(decomposed, dynamo=True, verbose=False, output_names=["out"], dynamic_shapes=spec)
decomposed_dims = onnx_dims(decomposed_program.model_proto)
print(decomposed_dims)
assert list(decomposed_dims.values()) == [["batch", "height", "width"]] * 2, decomposed_dims
new_inputs = [(torch.randn(3, 5, 7),), (torch.randn(1, 9, 4),), (torch.randn(4, 2, 11),)]
assert {"Shape", "Range", "Gather"} <= {node.op_type for node in decomposed_program.model.graph}
check_onnx_against_eager(decomposed_program, model, new_inputs)

# %%
# The ONNX graph gathers the rows and columns (``Gather``) at indices computed from the input's
# ``Shape`` (``Range`` is ``arange``); onnxruntime matches eager on odd and even sizes it never saw. The model is
# unchanged, but every op of the program went through the default decompositions, not only
# ``roll``: compare with eager, as above, before shipping.
#
# Fix 2: write the roll as two slices
# -----------------------------------
#
# A roll by ``k`` along a dimension of size ``n`` is the last ``k`` entries followed by the first
# ``n - k``. ``narrow`` and ``torch.cat`` take sizes computed by the graph, so the shift can
# depend on the input's shape:


def roll_by(x, shift, dim):
    """``torch.roll(x, shift, dim)`` for a shift that may be computed from a dynamic size."""
    n = x.shape[dim]
    k = shift % n
    return torch.cat([x.narrow(dim, n - k, k), x.narrow(dim, 0, n - k)], dim=dim)


for shift in [0, 2, 5, -3, 13]:
    assert torch.equal(roll_by(odd, shift, -1), torch.roll(odd, shift, -1)), shift
assert torch.equal(roll_by(odd, -(odd.shape[-1] // 2), -1), torch.fft.ifftshift(odd, dim=-1))


class CenteredSpectrumGainSliced(CenteredSpectrumGain):
    def forward(self, x):
        x = roll_by(x, x.shape[-2] // 2, -2)
        return roll_by(x, x.shape[-1] // 2, -1) * self.gain


sliced = CenteredSpectrumGainSliced().eval()
sliced.load_state_dict(model.state_dict())
sliced_program = torch.onnx.export(sliced, (x,), dynamo=True, verbose=False, output_names=["out"], dynamic_shapes=spec)
sliced_dims = onnx_dims(sliced_program.model_proto)
print(sliced_dims)
assert list(sliced_dims.values()) == [["batch", "height", "width"]] * 2, sliced_dims
assert {"Slice", "Concat"} <= {node.op_type for node in sliced_program.model.graph}
check_onnx_against_eager(sliced_program, model, new_inputs)

# %%
# ``roll_by`` agrees with ``torch.roll`` for positive, negative and oversized shifts, and a
# negative half shift is ``ifftshift``. Its ONNX graph slices and concatenates (``Slice``,
# ``Concat``), and onnxruntime matches the *original* model on the new sizes. This fix keeps the
# rest of the model as the ONNX exporter would translate it, and the dimension names come from
# the spec directly.
