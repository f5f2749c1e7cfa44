"""
.. _recipe-transformers-canine-local-attention:

CANINE's chunked local attention: a dynamic length "specialized to be a constant" by a loop over chunks, ``MaxPool1d`` and ``repeat_interleave``
================================================================================================================================================

CANINE reads characters, not tokens. Its first layer is a local attention: the sequence is cut
into chunks of ``local_transformer_stride`` characters, each attending only to itself; the
characters are then pooled into "molecules" (``downsampling_rate`` characters each) for the deep
encoder, and the molecules are repeated back to one vector per character. Exported with a
dynamic number of characters, the real ``CanineModel`` of transformers fails with "You marked seq
as dynamic but your code specialized it to be a constant"; ``torch.onnx.export(..., dynamo=True)``
does not fail, it retries with the fix that the message suggests, which fixes the length to the
example's.

This recipe runs ``CanineModel`` built from a tiny configuration (chunks of 4 characters,
molecules of 2, 64 positions; random weights, nothing downloaded), finds the three places of
its code that tie the export to one length, replaces them on this model instance with
computations that give the same output (checked at odd and even lengths, with padding), and checks the exported program against
eager and the ONNX model against eager in onnxruntime.

Public reports of this kind: huggingface/transformers#47491.
"""

import contextlib
import io
import types

import numpy as np
import onnxruntime
import torch
from transformers import CanineConfig, CanineModel

Dim = torch.export.Dim

torch.manual_seed(0)
config = CanineConfig(
    hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
    num_hash_functions=4, num_hash_buckets=64, downsampling_rate=2, local_transformer_stride=4,
    upsampling_kernel_size=3,
)
model = CanineModel(config).eval()
local = model.initial_char_encoder.layer[0].attention  # the chunked local attention


def characters(batch, length, padded=0):
    """Code points and a mask whose last ``padded`` positions of the first row are padding."""
    attention_mask = torch.ones(batch, length, dtype=torch.int64)
    attention_mask[0, length - padded:] = 0
    return {"input_ids": torch.randint(32, 1000, (batch, length)), "attention_mask": attention_mask}


def onnx_session(onnx_program):
    """An onnxruntime session on the CPU for an ``ONNXProgram``."""
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


example = characters(2, 12)
# New lengths, odd and even, with padding, one of them padding a whole chunk (positions 24 to 29).
new_inputs = [characters(2, 7), characters(3, 17, padded=5), characters(2, 30, padded=6), characters(2, 4)]
with torch.no_grad():
    expected = [model(**inputs).last_hidden_state for inputs in new_inputs]
print([tuple(e.shape) for e in expected])


def check_against_original(model, what):
    """``model`` gives the original model's output on each of the new inputs."""
    with torch.no_grad():
        for inputs, wanted in zip(new_inputs, expected):
            torch.testing.assert_close(model(**inputs).last_hidden_state, wanted)
    print(f"{what} gives the original model's output at lengths 7, 17, 30 and 4")

# %%
# The failure
# -----------
#
# The batch and the number of characters are dynamic; the number of characters is bounded by the
# 64 position embeddings of the configuration and starts at 4 (two molecules). Export prints the
# graph it traced on stderr before it raises; the recipe keeps it off the page. The error is a
# ``torch._dynamo.exc.UserError`` (a private class: it is what export raises).

spec = {"input_ids": {0: Dim("batch"), 1: Dim("seq", min=4, max=64)},
        "attention_mask": {0: Dim("batch"), 1: Dim("seq", min=4, max=64)}}


def export(model, spec=spec):
    with contextlib.redirect_stderr(io.StringIO()):
        return torch.export.export(model, (), kwargs=example, dynamic_shapes=spec)


try:
    export(model)
    raise AssertionError("CanineModel now exports with a dynamic length: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert "You marked seq as dynamic but your code specialized it to be a constant (12)" in str(e), e
    assert "Suggested fixes:\n  seq = 12" in str(e), e
    first_error = e

# %%
# ``torch.onnx.export(..., dynamo=True)`` does not stop there: when export raises this error, it
# exports again with the spec that the "Suggested fixes" give, and the ONNX model gets the
# example's length. A small model built like a loop over chunks of 4 shows it (an ONNX export of
# the whole CANINE would take longer than the rest of this recipe); it prints no error:


class FourByFour(torch.nn.Module):
    def forward(self, x):
        return torch.cat([x[:, start : start + 4] * 2 for start in range(0, x.shape[1], 4)], dim=1)


chunk_spec = ({0: Dim("batch"), 1: Dim("seq", min=4, max=64)},)
chunk_program = torch.onnx.export(FourByFour().eval(), (torch.randn(2, 12),), dynamo=True, verbose=False,
                                  dynamic_shapes=chunk_spec)
print(onnx_dims(chunk_program.model_proto))
assert list(onnx_dims(chunk_program.model_proto).values())[0] == ["batch", 12]

# %%
# The spec it retried with is what the public
# ``torch.export.dynamic_shapes.refine_dynamic_shapes_from_suggested_fixes`` makes of the message.
# Applied to CANINE's error, the length becomes 12 for good (the batch stays a ``Dim``): an ONNX
# model of this CANINE would accept 12 characters only.

refined = torch.export.dynamic_shapes.refine_dynamic_shapes_from_suggested_fixes(first_error.msg, spec)
print(refined)
assert refined["input_ids"][1] == refined["attention_mask"][1] == 12, refined

# %%
# How to read it: the constant, 12, is the example's length, and the suggested fix gives up the
# dynamic dimension. ``CanineModel`` has no ``int()`` on the length; what it has is a Python loop.
# The local attention (``CanineAttention`` with ``local=True``) builds its chunks with
# ``for chunk_start in range(0, seq, stride)`` and runs the attention once per chunk: 3 times for
# 12 characters, 5 times for 17. Export runs the Python code once, so the number of chunks, and
# with it the length, has to be a number (the general case is in :ref:`recipe-loop-over-dynamic-dim`):

chunks = {}
for length in (12, 17):
    calls = chunks[length] = []
    hook = local.self.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[1]))
    with torch.no_grad():
        model(**characters(1, length))
    hook.remove()
    print(f"{length} characters: attention over chunks of {calls}")
assert chunks == {12: [4, 4, 4], 17: [4, 4, 4, 4, 1]}, chunks

# %%
# First fix: one attention with a block mask
# ------------------------------------------
#
# The chunks do not overlap (their width is their stride) and no position attends outside its
# chunk, so the loop is one attention over the whole sequence in which a character sees only the
# characters of its own chunk: chunk ``i // 4`` of character ``i``. ``CanineSelfAttention`` turns
# a 0/1 mask into ``(1 - mask) * min``; a mask of -1 outside the chunk gives ``2 * min``, which is
# ``-inf`` in float32, below the masked padding of the chunk. That keeps CANINE's output even for
# a chunk made only of padding, where its softmax spreads over the chunk. The recipe replaces
# ``forward`` of this model's local attention only (the rest of transformers is untouched):


def local_attention_one_mask(self, hidden_states, attention_mask=None, output_attentions=False):
    """``CanineAttention.forward`` with ``local=True`` and chunks of width = stride, without the loop."""
    chunk = torch.arange(hidden_states.shape[1], device=hidden_states.device) // self.attend_to_chunk_stride
    mask = torch.where(chunk[:, None] == chunk[None, :], attention_mask, -1.0)
    outputs = self.self(hidden_states, hidden_states, mask, output_attentions)
    return (self.output(outputs[0], hidden_states),) + outputs[1:]


assert (2 * torch.tensor(torch.finfo(torch.float32).min)).isinf()
assert local.attend_from_chunk_width == local.attend_from_chunk_stride == local.attend_to_chunk_width
assert not (local.always_attend_to_first_position or local.first_position_attends_to_all)
local.forward = types.MethodType(local_attention_one_mask, local)
check_against_original(model, "one attention with a block mask")

# %%
# Export still fails, with the same message:

try:
    export(model)
    raise AssertionError("CanineModel with one local attention now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert "You marked seq as dynamic but your code specialized it to be a constant (12)" in str(e), e

# %%
# The second place is ``CanineModel._downsample_attention_mask``: it pools the characters' mask
# into the molecules' with ``torch.nn.MaxPool1d(kernel_size=2, stride=2)``, and max pooling with
# a dynamic length specializes it inside the op (see :ref:`recipe-max-pool1d-dynamic-length`).
#
# Second fix: the mask of the molecules by indexing
# -------------------------------------------------
#
# A molecule ``j`` covers the characters ``2 * j`` and ``2 * j + 1``; ``seq // 2`` molecules, as
# the pooling gives (it drops an odd last character). Gathering them with an index and taking
# the maximum computes the same mask without pooling:


def downsample_by_index(self, char_attention_mask, downsampling_rate):
    """``CanineModel._downsample_attention_mask`` without ``MaxPool1d``."""
    length, device = char_attention_mask.shape[1], char_attention_mask.device
    windows = torch.arange(length // downsampling_rate, device=device)[:, None] * downsampling_rate
    windows = windows + torch.arange(downsampling_rate, device=device)
    return char_attention_mask.float()[:, windows].amax(dim=-1)


model._downsample_attention_mask = types.MethodType(downsample_by_index, model)
check_against_original(model, "the mask by indexing")

try:
    export(model)
    raise AssertionError("CanineModel without MaxPool1d now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    message = str(e)
    assert message.startswith("Constraints violated (seq)!"), e
    assert "specialized it to be a constant" not in message, e
    assert message.count("satisfy the generated guard") == 4, e
    assert "// 2) + (" in message and "% 2)) ==" in message, e
    assert "Suggested fixes:" in message and "seq = 2*_seq" in message, e

# %%
# How to read it: the length is no longer a constant, but export cannot show that four guards
# hold on the whole range, and it suggests even lengths only. The last guard says that
# ``2 * (seq // 2) + seq % 2`` equals ``seq``: true for every ``seq``, but export's solver does not
# prove it. It comes from the third place, ``CanineModel._repeat_molecules``, which brings the
# molecules back to one vector per character by concatenating two ``repeat_interleave``: each
# molecule but the first and the last twice, then the last one ``seq % 2 + 2`` times, which makes
# ``2 * (seq // 2) + seq % 2`` vectors where the model needs ``seq``. The second and third guards
# go away with it too (below); the first one stays.
#
# Third fix: repeat by indexing
# -----------------------------
#
# Character ``i`` takes molecule ``i // 2 + 1``, and the last molecule past the end: an index
# clamped to the last molecule gives a tensor of ``seq`` vectors by construction:


def repeat_by_index(self, molecules, char_seq_length):
    """``CanineModel._repeat_molecules`` as one gather."""
    which = torch.arange(char_seq_length, device=molecules.device) // self.config.downsampling_rate + 1
    return molecules[:, which.clamp(max=molecules.shape[1] - 1)]


model._repeat_molecules = types.MethodType(repeat_by_index, model)
check_against_original(model, "repeating by index")

try:
    export(model)
    raise AssertionError("CanineModel with the three replacements now exports with Dim('seq'): update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    message = str(e)
    assert message.startswith("Constraints violated (seq)!"), e
    assert message.count("satisfy the generated guard") == 1, e
    assert "satisfy the generated guard (1 % (" in message and "// 2)) != 0" in message, e

# %%
# One guard is left, ``1 % (seq // 2) != 0``: it holds for every length from 4 on (at least two
# molecules), and export does not prove it either. With ``Dim.AUTO`` for the length, export does
# not check the guards against a range given in advance: it derives the range from them. The
# batch takes any size, the length 4 to 64:

auto = {"input_ids": {0: Dim("batch"), 1: Dim.AUTO}, "attention_mask": {0: Dim("batch"), 1: Dim.AUTO}}
ep = export(model, auto)
# In the order of their names (export lists the two sizes in either order from run to run).
print(dict(sorted(ep.range_constraints.items(), key=lambda item: str(item[0]))))
assert sorted(str(r) for r in ep.range_constraints.values()) == ["VR[0, int_oo]", "VR[4, 64]"], ep.range_constraints
check_against_original(ep.module(), "the exported program")

# %%
# The three replacements change how the model computes, not what: each was checked against the
# original model at odd and even lengths, with padding.
#
# To ONNX
# -------
#
# The ONNX model is made from the exported program; ``rename_axes`` names its two dimensions from
# the program's own symbols:

onnx_program = torch.onnx.export(ep, dynamo=True, verbose=False)
placeholder = next(n for n in ep.graph.find_nodes(op="placeholder") if n.name == "input_ids").meta["val"].shape
onnx_program.rename_axes({str(placeholder[0]): "batch", str(placeholder[1]): "seq"})
dims = onnx_dims(onnx_program.model_proto)
print(dims["input_ids"], dims["attention_mask"])
assert dims["input_ids"] == dims["attention_mask"] == ["batch", "seq"], dims
session = onnx_session(onnx_program)
for inputs, wanted in zip(new_inputs, expected):
    got = session.run(None, {name: tensor.numpy() for name, tensor in inputs.items()})[0]
    np.testing.assert_allclose(got, wanted.numpy(), rtol=1e-4, atol=1e-5)
print(f"onnxruntime matches the original model at {len(new_inputs)} new lengths")
