"""
.. _recipe-onnx-torchscript-scripted-slice-rank:

"SymbolicValueError: Rank must be 0 or 1, not None": a scripted loop slicing by a length read from a tensor
===========================================================================================================

A model built like a streaming speech model joins two padded sequences: for each row of the
batch it copies the first ``length[batch_idx]`` frames of the first sequence, then those of the
second, and pads the rest with zeros. The helper doing it is compiled with ``torch.jit.script``
(a loop over the batch, a slice whose end is read from a tensor). Exported with the
TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``) and ``dynamic_axes``, it
fails at export time, before any ONNX model exists:
``torch.onnx.errors.SymbolicValueError: Rank must be 0 or 1, not None``.

Public reports of this kind: NVIDIA-NeMo/Speech#15077.

This recipe reproduces the error, reads it, shows that moving the same code to the
``torch.export``-based exporter meets another error (a data-dependent slice), and ends with a
rewrite with fixed sizes that both exporters accept, checked with onnxruntime on new shapes.

The failure
-----------
"""

import contextlib
import io
import warnings
from typing import List

import numpy as np
import onnx
import onnxruntime
import torch

Dim = torch.export.Dim


def concat_valid_frames(embs: List[torch.Tensor], lengths: List[torch.Tensor]) -> torch.Tensor:
    """The first ``lengths[i][b]`` frames of ``embs[i][b]`` for each ``i``, one after the other, then zeros."""
    batch_size = embs[0].shape[0]
    out = torch.zeros(batch_size, embs[0].shape[1] + embs[1].shape[1], embs[0].shape[2])
    start = torch.zeros(batch_size, dtype=torch.int64)
    for emb, length in zip(embs, lengths):
        end = start + length
        for batch_idx in range(batch_size):
            out[batch_idx, start[batch_idx] : end[batch_idx]] = emb[batch_idx, : length[batch_idx]]
        start = end
    return out


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    scripted_concat = torch.jit.script(concat_valid_frames)
deprecation = [str(w.message) for w in caught if w.category is FutureWarning]
assert deprecation == ["`torch.jit.script` is deprecated. Please switch to `torch.compile` or `torch.export`."], deprecation

# %%
# ``torch.jit.script`` is deprecated in the pinned PyTorch (it says so in the ``FutureWarning`` that
# the cell above collects), but code that uses it still runs and still reaches the TorchScript
# exporter:


class JoinSequences(torch.nn.Module):
    def forward(self, a, a_len, b, b_len):
        return scripted_concat([a, b], [a_len, b_len])


model = JoinSequences().eval()
inputs = (torch.randn(2, 5, 3), torch.tensor([3, 5]), torch.randn(2, 4, 3), torch.tensor([4, 1]))
names = ["a", "a_len", "b", "b_len"]
dynamic_axes = {"a": {0: "batch", 1: "a_frames"}, "a_len": {0: "batch"}, "b": {0: "batch", 1: "b_frames"}, "b_len": {0: "batch"}}
expected = model(*inputs)
assert expected[1, :6].tolist() == torch.cat([inputs[0][1, :5], inputs[2][1, :1]]).tolist()


def torchscript_export(model, inputs, axes=dynamic_axes):
    """The TorchScript-based exporter with ``dynamic_axes``: the ONNX model, and the warnings it gave."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.onnx.export(
            model,
            inputs,
            buffer,
            dynamo=False,
            verbose=False,
            input_names=names,
            output_names=["joined"],
            dynamic_axes=axes,
        )
    return onnx.load_from_string(buffer.getvalue()), caught


try:
    torchscript_export(model, inputs)
    raise AssertionError("the TorchScript exporter now converts this slice: update this recipe")
except torch.onnx.errors.SymbolicValueError as e:
    message, error_type = str(e), type(e)

lines = message.splitlines()
here = next(i for i, line in enumerate(lines) if "<--- HERE" in line)
inputs_line = next(line for line in lines if "#0:" in line)
print(lines[0].split(" # ")[0], *lines[here - 1 : here + 1], inputs_line.split(" # ")[0], sep="\n")

assert message.startswith("Rank must be 0 or 1, not None"), message
assert "onnx::Gather[axis=0](%length, %batch_idx" in message, message
assert "length defined in (%length : Tensor = onnx::SequenceAt(" in message, message
assert issubclass(error_type, torch.onnx.OnnxExporterError) and issubclass(error_type, RuntimeError), error_type.__mro__

# %%
# How to read it. ``torch.onnx.errors.SymbolicValueError`` (a public class, a subclass of
# ``torch.onnx.OnnxExporterError`` and of ``RuntimeError``) is raised while the exporter turns
# the TorchScript graph into ONNX nodes, one op at a time:
#
# * ``Caused by the value ... onnx::Gather[axis=0](%length, %batch_idx...)``: the value that
#   broke the translation is ``length[batch_idx]`` (indexing became ``Gather``), and the frame
#   under ``HERE`` is the line of the model: the end of the slice ``emb[batch_idx, : length[batch_idx]]``.
# * ``Rank must be 0 or 1, not None``: an ONNX ``Slice`` takes its ends as a 1-D tensor, so the
#   translation of ``aten::slice`` accepts a scalar (rank 0, unsqueezed) or a 1-D tensor. The
#   rank of this value is unknown (``None``).
# * ``Inputs: #0: length defined in (%length : Tensor = onnx::SequenceAt(...)``: ``length``
#   comes out of a list of tensors (``zip(embs, lengths)`` in a scripted loop, an ONNX sequence),
#   and the type of a list's element in TorchScript is just ``Tensor``: no rank, so neither has
#   ``length[batch_idx]``.
#
# ``dynamic_axes`` plays no part: the rank is unknown whatever the shapes, and the export
# without ``dynamic_axes`` fails the same way. The loop over the batch is kept as a loop
# (``torch.jit.script``), which is why ``batch_idx`` is a value of the graph and not a number.

try:
    torchscript_export(model, inputs, axes=None)
    raise AssertionError("the TorchScript exporter now converts this slice with static shapes: update this recipe")
except torch.onnx.errors.SymbolicValueError as e:
    assert str(e).startswith("Rank must be 0 or 1, not None"), e

# %%
# The TorchScript exporter also prints the graphs it was converting on the process's standard
# output before it raises: its C++ log, which is on after the exports above, although they were
# called with ``verbose=False``:

assert torch._C._jit_is_onnx_log_enabled()  # private: the exporter's log switch

# %%
# Moving to ``dynamo=True`` is not enough
# ---------------------------------------
#
# The ``torch.export``-based exporter traces Python code: give it the model calling the Python
# function, not its ``torch.jit.script`` version. On this code it stops earlier, in ``torch.export``, with a
# data-dependent error: the bounds of the slices are values read from tensors, unknown while
# tracing (see :ref:`recipe-item-could-not-guard`).


class JoinSequencesPython(torch.nn.Module):
    def forward(self, a, a_len, b, b_len):
        return concat_valid_frames([a, b], [a_len, b_len])


batch, a_frames, b_frames = Dim("batch"), Dim("a_frames"), Dim("b_frames")
dynamic_shapes = ({0: batch, 1: a_frames}, {0: batch}, {0: batch, 1: b_frames}, {0: batch})
try:
    with contextlib.redirect_stderr(io.StringIO()):  # export prints its partial graph on stderr
        torch.export.export(JoinSequencesPython(), inputs, dynamic_shapes=dynamic_shapes)
    raise AssertionError("export now traces slices bounded by tensor values: update this recipe")
except torch.fx.experimental.symbolic_shapes.GuardOnDataDependentSymNode as e:
    message = str(e)
    print(message.splitlines()[0])

assert message.startswith("Could not extract specialized integer from data-dependent expression"), message
assert "out[batch_idx, start[batch_idx] : end[batch_idx]] = emb[batch_idx, : length[batch_idx]]" in message

# %%
# The fix: fixed sizes, no slice bounded by a tensor value
# --------------------------------------------------------
#
# The output has a fixed width (the sum of the two widths). For each output position, compare
# it with the lengths to know where it comes from: the first sequence, the second (shifted by
# the first length), or padding. ``gather`` picks the frames, ``torch.where`` chooses: no loop,
# no slice whose end is read from a tensor, the same computation for every row.


def concat_valid_frames_fixed(a, a_len, b, b_len):
    positions = torch.arange(a.shape[1] + b.shape[1]).unsqueeze(0)  # (1, width)
    a_end, b_end = a_len.unsqueeze(1), (a_len + b_len).unsqueeze(1)  # (batch, 1)
    from_a = positions.clamp(max=a.shape[1] - 1).expand(a.shape[0], -1)
    from_b = (positions - a_end).clamp(0, b.shape[1] - 1)
    frames_a = a.gather(1, from_a.unsqueeze(2).expand(-1, -1, a.shape[2]))
    frames_b = b.gather(1, from_b.unsqueeze(2).expand(-1, -1, b.shape[2]))
    in_a, in_b = (positions < a_end).unsqueeze(2), (positions < b_end).unsqueeze(2)
    return torch.where(in_a, frames_a, torch.where(in_b, frames_b, 0.0))


class JoinSequencesFixed(torch.nn.Module):
    def forward(self, a, a_len, b, b_len):
        return concat_valid_frames_fixed(a, a_len, b, b_len)


fixed = JoinSequencesFixed().eval()
new_inputs = [
    (torch.randn(3, 7, 3), torch.tensor([0, 7, 2]), torch.randn(3, 2, 3), torch.tensor([2, 1, 0])),
    (torch.randn(1, 2, 3), torch.tensor([1]), torch.randn(1, 6, 3), torch.tensor([6])),
]
for new in [inputs, *new_inputs]:
    torch.testing.assert_close(fixed(*new), model(*new))
print(f"the rewrite gives what the scripted loop gives on {1 + len(new_inputs)} input sets")

# %%
# With the TorchScript exporter, the rewrite (scripted, as the model was) becomes an ONNX model
# that runs with onnxruntime on new batch sizes and widths:

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script's deprecation, shown above
    scripted_fixed = torch.jit.script(fixed)
proto, caught = torchscript_export(scripted_fixed, inputs)
session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
for new in new_inputs:
    (got,) = session.run(None, {name: tensor.numpy() for name, tensor in zip(names, new, strict=True)})
    np.testing.assert_allclose(got, model(*new).numpy())
print(f"the TorchScript export of the rewrite matches the scripted loop on {len(new_inputs)} new input sets")
assert not [w for w in caught if w.category is torch.jit.TracerWarning]

# %%
# And with the ``torch.export``-based exporter (``dynamo=True``, the default since PyTorch 2.9),
# with ``dynamic_shapes`` instead of ``dynamic_axes`` (see
# :ref:`recipe-onnx-dynamic-axes-to-dynamic-shapes`):


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


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    onnx_program = torch.onnx.export(
        fixed, inputs, dynamo=True, verbose=False, dynamic_shapes=dynamic_shapes, input_names=names
    )
check_onnx_against_eager(onnx_program, model, new_inputs)
shared_names = [str(w.message) for w in caught if "shares the same shape constraints" in str(w.message)]
assert shared_names and all(w.startswith("# The axis name: batch will not be used") for w in shared_names), shared_names

# %%
# (The exporter's warning that the name ``batch`` "will not be used", since the inputs share
# it, is the one :ref:`recipe-onnx-dimension-names` explains; the recipe collects it.)
#
# Both ONNX models give the frames of the scripted loop for a batch of 3 with 7 and 2 frames
# (lengths 0 and full included) and for a batch of 1 with 2 and 6 frames. The same rewrite is
# the answer whichever exporter you keep: a slice ``x[:n]`` with ``n`` read from a tensor has a
# size known only at run time, which the TorchScript exporter translates only when it knows the
# rank of ``n`` and ``torch.export`` only with a fixed-size alternative; comparing positions
# with the lengths keeps every shape a function of the input shapes.
