"""
.. _recipe-onnx-packed-sequence-lstm:

"zeros(): argument 'size' failed to unpack ... got FakeTensor": ``pack_padded_sequence`` before an LSTM
=======================================================================================================

A model built like a sequence tagger pads a batch of sequences of different lengths, packs it
with ``torch.nn.utils.rnn.pack_padded_sequence`` so that its ``nn.LSTM`` skips the padding, and
pads the result back with ``pad_packed_sequence``. ``torch.onnx.export(..., dynamo=True)`` fails
in step 1 (``torch.export``) with ``TypeError: zeros(): argument 'size' failed to unpack the
object at pos 2 with error "type must be tuple of ints,but got FakeTensor"``, with dynamic shapes
or without.

This recipe reproduces it, reads the message back to the line of ``nn.LSTM`` that raises it,
shows that passing the initial state only moves the failure (a data-dependent size), and
rewrites the model without packing: the LSTM runs over the padded batch, a mask built from the
lengths zeroes the padded steps, and the last state of each sequence is gathered at its length.
The ONNX model, with dynamic batch and time axes, gives in onnxruntime what the packed model gives
in eager on new batches.

Public reports of this kind: pytorch/pytorch#171978 (``torch.export``, this message; open),
pytorch/pytorch#162375 (``torch.compile``, the same pair of functions; open), statuses as seen
on 2026-12-04. pytorch/pytorch#184961 (closed on that date) addresses it upstream; the pinned
release still raises.

The model and the helpers
-------------------------
"""

import contextlib
import inspect
import io
import traceback
import warnings

import numpy as np
import onnxruntime
import torch
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Dim = torch.export.Dim

# Warnings the exports below print with the pinned release, unrelated to this page: a deprecation
# inside the exporter's LSTM decomposition, the LSTM's weights list, and the name ``batch`` given
# to two inputs (:ref:`recipe-onnx-dimension-names` explains that one).
warnings.filterwarnings("ignore", message="_check_is_size will be removed", category=FutureWarning)
warnings.filterwarnings("ignore", message="The tensor attributes self.lstm._flat_weights")
warnings.filterwarnings("ignore", message="# The axis name: batch will not be used")


class PackedTagger(torch.nn.Module):
    """Scores per time step (zero input past each length) and the last LSTM state of each sequence."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(8, 4, batch_first=True)
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, (h, _) = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.head(out), h[-1]


torch.manual_seed(0)
model = PackedTagger().eval()
x, lengths = torch.randn(2, 5, 8), torch.tensor([5, 3])
spec = ({0: Dim("batch"), 1: Dim("time")}, {0: Dim("batch")})
new_inputs = [(torch.randn(3, 7, 8), torch.tensor([2, 7, 5])), (torch.randn(1, 4, 8), torch.tensor([4]))]


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


# %%
# The failure
# -----------

try:
    torch.onnx.export(model, (x, lengths), dynamo=True, verbose=False, dynamic_shapes=spec)
    raise AssertionError("pack_padded_sequence before an LSTM now exports: update this recipe")
except torch.onnx.OnnxExporterError as e:
    summary = str(e)[str(e).index("## Exception summary") :].splitlines()[2]
    print(summary)
    assert "This is step 1/3" in str(e), e
    assert summary.startswith("<class 'TypeError'>: zeros(): argument 'size' failed to unpack the object at pos"), summary
    assert summary.endswith('with error "type must be tuple of ints,but got FakeTensor"'), summary

# %%
# ``torch.onnx.OnnxExporterError`` is public (the exception is a ``TorchExportError``, its
# subclass). The same ``TypeError`` comes from ``torch.export.export`` alone, without
# ``dynamic_shapes`` too: packing is the problem, not the dynamic axes.

try:
    torch.export.export(model, (x, lengths))
    raise AssertionError("pack_padded_sequence before an LSTM now exports: update this recipe")
except TypeError as e:
    assert "type must be tuple of ints,but got FakeTensor" in str(e), e
    no_state_error = e

# %%
# How to read it
# --------------
#
# ``zeros()`` got, as its second size, a ``FakeTensor``: a tensor standing for data during
# export, where a size (an int) was expected. No line of ``PackedTagger`` calls ``zeros``.
# ``nn.LSTM``, given a ``PackedSequence`` and no initial state, creates a zero state whose batch
# is ``batch_sizes[0]``, the first element of a tensor that packing computed from ``lengths``.
# Eagerly that element converts to an int; during export it is a value only known when the
# program runs, and ``torch.zeros`` cannot take it as a size. The traceback's frame in
# ``torch/nn/modules/rnn.py`` is that line, and ``nn.LSTM.forward`` reads the batch from the
# packed sequence:

(lstm_frame,) = [f for f in traceback.extract_tb(no_state_error.__traceback__) if f.filename.endswith("rnn.py")]
print(f"{lstm_frame.name}: {lstm_frame.line}")
assert lstm_frame.name == "forward" and lstm_frame.line.startswith("h_zeros = torch.zeros("), lstm_frame
assert "max_batch_size = batch_sizes[0]" in inspect.getsource(torch.nn.LSTM.forward)

# %%
# Giving the LSTM its initial state skips that line, and export fails one step later on a
# data-dependent value again: the sizes inside a packed sequence (``batch_sizes``) are computed
# from the values of ``lengths``, not from shapes.


class PackedTaggerWithState(PackedTagger):
    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        zeros = x.new_zeros(1, x.shape[0], 4)
        out, (h, _) = self.lstm(packed, (zeros, zeros))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.head(out), h[-1]


with_state = PackedTaggerWithState().eval()
with_state.load_state_dict(model.state_dict())
export_stderr = io.StringIO()  # what export prints before it raises (see below)
try:
    with contextlib.redirect_stderr(export_stderr):
        torch.export.export(with_state, (x, lengths), dynamic_shapes=spec)
    raise AssertionError("a packed LSTM with an initial state now exports: update this recipe")
except GuardOnDataDependentSymNode as e:
    print(str(e).splitlines()[0])
    assert str(e).startswith("Could not extract specialized integer from data-dependent expression"), e
assert "aten.lstm.data" in export_stderr.getvalue().rstrip().splitlines()[-1], export_stderr.getvalue()

# %%
# ``GuardOnDataDependentSymNode`` (from ``torch.fx.experimental.symbolic_shapes``) is the error
# of :ref:`recipe-extract-specialized-integer`: a value read from a tensor used where a Python
# int is needed. Before raising, export prints on stderr the graph it traced up to the failure
# (kept off this page with ``contextlib.redirect_stderr``); its last node is the LSTM over the
# packed sequence, ``aten.lstm.data``. A packed sequence is built from values, not shapes, so
# packing itself has to go.
#
# The fix: run the LSTM over the padding, then mask
# -------------------------------------------------
#
# A unidirectional LSTM reads the steps in order: its outputs at the steps before a sequence's
# length do not depend on the padding after it. So the LSTM can run over the padded batch; a
# mask built from ``lengths`` zeroes the outputs past each length (as ``pad_packed_sequence``
# does), and the last state of each sequence is its output at step ``length - 1``.


class MaskedTagger(PackedTagger):
    def forward(self, x, lengths):
        out = self.lstm(x)[0]
        steps = torch.arange(x.shape[1], device=x.device)
        out = out * (steps[None, :] < lengths[:, None]).unsqueeze(-1).to(out.dtype)
        last = out[torch.arange(x.shape[0], device=x.device), lengths - 1]
        return self.head(out), last


masked = MaskedTagger().eval()
masked.load_state_dict(model.state_dict())
for inputs in new_inputs:
    for got, wanted in zip(masked(*inputs), model(*inputs), strict=True):
        torch.testing.assert_close(got, wanted)
print("the masked model gives what the packed model gives, in eager")

onnx_program = torch.onnx.export(
    masked, (x, lengths), dynamo=True, verbose=False, dynamic_shapes=spec, output_names=["scores", "last"]
)
dims = onnx_dims(onnx_program.model_proto)
print(dims)
assert dims == {"x": ["batch", "time", 8], "lengths": ["batch"], "scores": ["batch", "time", 3], "last": ["batch", 4]}, dims
check_onnx_against_eager(onnx_program, model, new_inputs)

# %%
# The ONNX model has a dynamic batch and time axis, and onnxruntime gives, on batches of 3 and 1
# sequences of new lengths, what the original packed model gives in eager mode. The padded steps
# are computed, then zeroed: each row costs as much as the longest sequence of the batch.
#
# A bidirectional LSTM is different
# ---------------------------------
#
# Its backward direction starts at the last padded step, so the padding reaches the outputs of
# the real steps: the masked rewrite no longer matches packing.

bidirectional = torch.nn.LSTM(8, 4, batch_first=True, bidirectional=True).eval()
(probe_x, probe_lengths) = new_inputs[0]
with torch.no_grad():
    packed_out = pad_packed_sequence(
        bidirectional(pack_padded_sequence(probe_x, probe_lengths, batch_first=True, enforce_sorted=False))[0],
        batch_first=True,
        total_length=probe_x.shape[1],
    )[0]
    padded_out = bidirectional(probe_x)[0]
valid = (torch.arange(probe_x.shape[1])[None, :] < probe_lengths[:, None]).unsqueeze(-1)
print(f"largest difference on real steps: {float(((packed_out - padded_out) * valid).abs().max()):.3f}")
assert not torch.allclose(packed_out * valid, padded_out * valid)

# %%
# For the backward direction, reverse each sequence within its length before the LSTM and back
# after it (an index built from ``lengths`` and ``arange``), or run a unidirectional LSTM on the
# reversed sequences; check the result against the packed model in eager, as above, before
# exporting.
