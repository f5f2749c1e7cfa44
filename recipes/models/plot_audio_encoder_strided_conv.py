"""
.. _recipe-audio-encoder-strided-conv:

An audio encoder with strided convolutions: the time dimension, odd lengths and a padding mask
==============================================================================================

A speech encoder built like many others starts with a front end of convolutions that shorten the
time axis of the spectrogram before the transformer: here two convolutions of stride 2, so 4
times fewer frames. Clips have any number of frames, odd or even, and a batch of clips of different lengths
is padded to the longest one with a mask that says which frames are real. People export such an
encoder with the batch and the number of frames dynamic, and meet an error whose suggested fix
would refuse every odd length.

This recipe builds a small encoder in plain PyTorch (two convolutions of kernel 3, stride 2 and
padding 1 with GELU, a table of sinusoidal position embeddings, a transformer block whose
attention ignores the padded frames), reads that error, changes the two places of the model it
points at, then exports, shows the length relation export infers, and checks odd lengths and
padded batches with the exported program and with onnxruntime.

The model
---------

The front end turns ``features`` of shape (batch, mel bins, frames) into (batch, hidden,
frames / 4) and the mask (batch, frames) into the mask of the shorter axis. This first version
downsamples the mask like the convolutions downsample the time axis, one frame in two, twice.
"""

import math
import re
import time
import warnings

import numpy as np
import onnxruntime
import torch
import torch.nn.functional as F

Dim = torch.export.Dim
MELS, HIDDEN, HEADS, MAX_POSITIONS = 16, 32, 2, 64


def sinusoids(length, channels):
    """Fixed position embeddings: sines and cosines of geometric frequencies."""
    frequencies = torch.exp(-math.log(10000) * torch.arange(channels // 2) / (channels // 2 - 1))
    angles = torch.arange(length)[:, None] * frequencies[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class EncoderBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.attention_norm = torch.nn.LayerNorm(HIDDEN)
        self.qkv = torch.nn.Linear(HIDDEN, 3 * HIDDEN)
        self.attention_out = torch.nn.Linear(HIDDEN, HIDDEN)
        self.mlp_norm = torch.nn.LayerNorm(HIDDEN)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(HIDDEN, 4 * HIDDEN), torch.nn.GELU(), torch.nn.Linear(4 * HIDDEN, HIDDEN)
        )

    def forward(self, x, key_mask):
        batch, frames, _ = x.shape
        qkv = self.qkv(self.attention_norm(x)).view(batch, frames, 3, HEADS, HIDDEN // HEADS)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        x = x + self.attention_out(attended.transpose(1, 2).reshape(batch, frames, HIDDEN))
        return x + self.mlp(self.mlp_norm(x))


class AudioEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(MELS, HIDDEN, kernel_size=3, stride=2, padding=1)
        self.conv2 = torch.nn.Conv1d(HIDDEN, HIDDEN, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positions", sinusoids(MAX_POSITIONS, HIDDEN), persistent=False)
        self.blocks = torch.nn.ModuleList([EncoderBlock()])  # real encoders stack more of them
        self.norm = torch.nn.LayerNorm(HIDDEN)

    def subsample(self, features, attention_mask):
        x, mask = features, attention_mask
        for conv in (self.conv1, self.conv2):
            mask = mask[:, ::2]
            x = F.gelu(conv(x)) * mask[:, None, :]  # padded frames stay zero
        return x, mask

    def add_positions(self, x):
        x = x.transpose(1, 2)  # (batch, frames / 4, hidden)
        return x + self.positions[: x.shape[1]]

    def forward(self, features, attention_mask):
        x, mask = self.subsample(features, attention_mask)
        x = self.add_positions(x)
        key_mask = mask[:, None, None, :].bool()  # no query attends to a padded frame
        for block in self.blocks:
            x = block(x, key_mask)
        return self.norm(x), mask


def audio_inputs(batch, frames):
    return torch.randn(batch, MELS, frames), torch.ones(batch, frames, dtype=torch.long)


torch.manual_seed(0)
model = AudioEncoder().eval()
print({frames: tuple(model(*audio_inputs(1, frames))[0].shape) for frames in (7, 8, 9, 256)})

# %%
# 7 and 8 frames give 2 encoder frames, 9 give 3: each convolution rounds up, ``(n + 1) // 2``.
# The table of 64 positions limits clips to 256 frames.
#
# Helpers: the checks against eager, the ONNX dimensions, and a timer
# -------------------------------------------------------------------


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


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


def single_thread_session(onnx_program):
    """An onnxruntime session on the CPU that computes on one thread, for timings."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def onnxruntime_call(session):
    """``session`` called like the model: torch tensors in, a tuple of torch tensors out."""
    names = [node.name for node in session.get_inputs()]

    def call(*inputs):
        outputs = session.run(None, {name: tensor.numpy() for name, tensor in zip(names, inputs, strict=True)})
        return tuple(torch.from_numpy(output) for output in outputs)

    return call


def print_timings(runtimes, cases, repeat=10):
    """The fastest of ``repeat`` calls of each runtime on each case's inputs, in ms, torch on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        print(f"{'':<30}" + "".join(f"{name:>18}" for name in runtimes))
        with torch.no_grad():
            for label, inputs in cases.items():
                row = []
                for function in runtimes.values():
                    function(*inputs)  # warm up
                    times = []
                    for _ in range(repeat):
                        start = time.perf_counter()
                        function(*inputs)
                        times.append(time.perf_counter() - start)
                    row.append(1000 * min(times))
                print(f"{label:<30}" + "".join(f"{milliseconds:>15.2f} ms" for milliseconds in row))
    finally:
        torch.set_num_threads(threads)


# %%
# The error, and a suggested fix that refuses odd lengths
# -------------------------------------------------------
#
# One ``Dim`` for the batch, one for the frames, shared by the features and the mask. The example
# has 100 frames.

batch, frames = Dim("batch"), Dim("frames")
spec = {"features": {0: batch, 2: frames}, "attention_mask": {0: batch, 1: frames}}
example = audio_inputs(batch=2, frames=100)
try:
    torch.export.export(model, example, dynamic_shapes=spec)
    raise AssertionError("the first encoder now exports with Dim('frames'): update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    message = str(e)

assert message.startswith("Constraints violated (frames)!"), message
assert message.count("Not all values of frames") == 4, message
assert "_frames = Dim('_frames', max=64)" in message and "frames = 4*_frames" in message, message

# %%
# ``torch._dynamo.exc.UserError`` is the (private) class export raises; ``RuntimeError``, its
# base class, catches it too. Export lists four conditions that its trace needs and that it
# could not prove for every value of ``frames``, then suggests a spec where they hold: frames a
# multiple of 4, at most 256. Taken as is, that fix would refuse every clip of odd length, which
# the model handles. Read the four conditions instead, ``frames`` being the size
# ``L['features'].size()[2]``:
#
# - The first two: the convolution's output has ``1 + (frames - 1) // 2`` frames, the sliced
#   mask ``(frames + 1) // 2``, and their product needs them equal (then the same after the
#   second convolution). They are equal for every integer, but export cannot prove it. When
#   ``frames`` is a multiple of 4 every division is exact, and that is the spec the suggestion
#   writes.
# - The third, ``1 % (1 + (frames - 1) // 4) != 0``: while tracing an addition, export compares
#   the strides of its operands to choose the memory layout of the result, and cannot prove this
#   comparison either.
# - The last, ``5 <= frames <= 256``: at least 2 encoder frames (a size of 1 is special to
#   export, see :ref:`sphx_glr_auto_recipes_constraints_plot_zero_one_specialization.py`) and at
#   most 64, the size of the position table.

assert all(1 + (n - 1) // 2 == (n + 1) // 2 for n in range(10_000))

# %%
# The mask from the lengths, as audio models compute it
# -----------------------------------------------------
#
# Another way does not slice the mask: compute the number of real frames of each clip after each
# convolution with the convolution's formula, and build the mask from it with ``arange``. Nothing then ties the mask's
# length to the convolution's output: it *is* built from the output's length. The range goes
# into the ``Dim``.


class LengthsAudioEncoder(AudioEncoder):
    def subsample(self, features, attention_mask):
        x, lengths = features, attention_mask.sum(dim=1)  # clips are padded at the end
        for conv in (self.conv1, self.conv2):
            x = F.gelu(conv(x))
            lengths = (lengths - 1) // 2 + 1  # kernel 3, stride 2, padding 1
            mask = (torch.arange(x.shape[2]) < lengths[:, None]).long()
            x = x * mask[:, None, :]
        return x, mask


torch.manual_seed(0)
lengths_model = LengthsAudioEncoder().eval()
frames = Dim("frames", min=5, max=256)
spec = {"features": {0: batch, 2: frames}, "attention_mask": {0: batch, 1: frames}}
try:
    torch.export.export(lengths_model, example, dynamic_shapes=spec)
    raise AssertionError("the strides condition is now proven: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    message = str(e)

assert message.startswith("Constraints violated (frames)!"), message
assert message.count("Not all values of frames") == 1 and "1 % (1 + " in message, message
assert "Suggested fixes" not in message, message

# %%
# The conditions on the mask are gone, and so is the range, now in the ``Dim``. The strides
# condition is left, with no suggested fix. It comes from adding the position embeddings to the
# transposed output of the convolutions, whose strides are not those of a contiguous tensor.
# Making it contiguous first removes it:


class ContiguousAudioEncoder(LengthsAudioEncoder):
    def add_positions(self, x):
        x = x.transpose(1, 2).contiguous()
        return x + self.positions[: x.shape[1]]


torch.manual_seed(0)
encoder = ContiguousAudioEncoder().eval()
print(spec)
ep = torch.export.export(encoder, example, dynamic_shapes=spec)
print(ep.range_constraints)
assert sorted(str(r) for r in ep.range_constraints.values()) == ["VR[0, int_oo]", "VR[5, 256]"], ep.range_constraints

# %%
# The relation export infers for the time axis
# --------------------------------------------
#
# The encoder's output length is not a new dimension: export writes it from ``frames``. Here it
# is, with the symbol replaced by the ``Dim``'s name:

frames_symbol = ep.graph.find_nodes(op="placeholder")[-2].meta["val"].shape[2]
hidden_shape, mask_shape = (node.meta["val"].shape for node in ep.graph.output_node().args[0])
relation = hidden_shape[1].node.expr
print(re.sub(rf"\b{frames_symbol}\b", "frames", str(relation)))
assert str(mask_shape[1]) == str(hidden_shape[1])
assert all(relation.subs(frames_symbol.node.expr, n) == (n + 3) // 4 for n in range(5, 257)), relation

# %%
# ``1 + (frames - 1) // 4``, that is frames / 4 rounded up: 2 encoder frames for 5 to 8 input
# frames, 64 for 253 to 256. Odd and even lengths both fit, as the checks show, from the
# shortest clip to the longest:

new_input_sets = [
    audio_inputs(1, 5), audio_inputs(3, 37), audio_inputs(2, 64), audio_inputs(1, 255), audio_inputs(2, 256)
]
check_against_eager(ep, encoder, new_input_sets)

# %%
# The padding mask: a batch of clips of different lengths
# -------------------------------------------------------
#
# Two clips of 37 and 64 frames, the first padded with zeros to 64. On its 10 real encoder frames
# (37 / 4 rounded up), the padded clip must give what it gives alone:

short_clip, long_clip = torch.randn(1, MELS, 37), torch.randn(1, MELS, 64)
padded = torch.cat([F.pad(short_clip, (0, 64 - 37)), long_clip])
padded_mask = (torch.arange(64) < torch.tensor([[37], [64]])).long()
padded_inputs = (padded, padded_mask)

module = ep.module()
hidden, output_mask = module(*padded_inputs)
alone, _ = encoder(short_clip, torch.ones(1, 37, dtype=torch.long))
print(f"real encoder frames per clip: {output_mask.sum(dim=1).tolist()}")
assert output_mask.sum(dim=1).tolist() == [10, 16]
torch.testing.assert_close(hidden[:1, :10], alone)
print("the padded clip gives, on its real frames, what it gives alone")

# %%
# The same spec for ONNX
# ----------------------
#
# ``torch.onnx.export`` takes the model, the example and the same ``dynamic_shapes``. The
# exporter warns once per ``Dim`` shared by several inputs; the warning is harmless (see
# :ref:`sphx_glr_auto_recipes_onnx_plot_onnx_dimension_names.py`) and is only checked here. The
# output length is named after the relation:

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    onnx_program = torch.onnx.export(
        encoder,
        example,
        dynamic_shapes=spec,
        dynamo=True,
        verbose=False,
        output_names=["hidden_states", "output_mask"],
    )
axis_warnings = {str(w.message).split(" will not be used")[0] for w in caught if "axis name" in str(w.message)}
assert axis_warnings == {"# The axis name: batch", "# The axis name: frames"}, axis_warnings

dims = onnx_dims(onnx_program.model_proto)
print(dims)
encoder_frames = "(((frames - 1)//4)) + 1"
assert dims == {
    "features": ["batch", MELS, "frames"],
    "attention_mask": ["batch", "frames"],
    "hidden_states": ["batch", encoder_frames, HIDDEN],
    "output_mask": ["batch", encoder_frames],
}, dims
check_onnx_against_eager(onnx_program, encoder, [*new_input_sets, padded_inputs])

# %%
# onnxruntime gives what eager gives for odd and even lengths and for the padded batch.
#
# How long each runtime takes
# ---------------------------
#
# The fastest of 10 calls, for a batch of 2 short clips and of 2 long ones, on one CPU
# thread (``torch.set_num_threads(1)``, and ``intra_op_num_threads = 1`` for onnxruntime),
# so that the numbers compare the runtimes rather than their thread pools. They come from the
# machine that built this page and change from run to run; they are printed, not checked.

runtimes = {
    "eager": encoder,
    "exported program": module,
    "onnxruntime": onnxruntime_call(single_thread_session(onnx_program)),
}
print_timings(runtimes, {"2 clips of 64 frames": audio_inputs(2, 64), "2 clips of 256 frames": audio_inputs(2, 256)})

# %%
# In short: when a suggested fix makes a length a multiple of the stride, look at the
# conditions above it before taking it. Compute the mask of the shorter axis from the lengths
# (the convolution's formula) rather than by slicing, make the transposed output contiguous
# before adding the position embeddings, and give the ``Dim`` the range export reports. Export
# then keeps the time axis as ``frames`` and writes the encoder's length from it.

# %%
# The real model
# --------------
#
# This encoder is built by hand. The real ``WhisperForConditionalGeneration`` of Hugging Face
# transformers, run from a tiny configuration, takes a fixed number of frames, and its encoder and
# decoder export as two programs: :ref:`recipe-transformers-whisper`.
