"""
.. _recipe-transformers-whisper:

You marked frames as dynamic but your code specialized it to be a constant: Whisper's encoder and decoder
=========================================================================================================

An audio encoder looks like the model whose time dimension should be dynamic: clips have any
length. Exporting Whisper's encoder that way fails with a ``Constraints violated`` error that
says the length was *specialized to be a constant*. This recipe runs the real
``WhisperForConditionalGeneration`` of transformers, built from a tiny configuration (random
weights, nothing downloaded), pins what its encoder does with the frames it is given, and exports
it as two programs, the encoder (batch dynamic) and the decoder (batch and tokens dynamic), to
ONNX, checked against the whole model in eager.
"""

import numpy as np
import onnxruntime
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

Dim = torch.export.Dim

torch.manual_seed(0)
config = WhisperConfig(
    vocab_size=100, num_mel_bins=8, d_model=32, encoder_layers=1, encoder_attention_heads=2,
    decoder_layers=1, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
    max_source_positions=16, max_target_positions=32,
    pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
)
model = WhisperForConditionalGeneration(config).eval()
encoder = model.model.encoder
FRAMES = 2 * config.max_source_positions


def onnx_session(onnx_program):
    """An onnxruntime session on the CPU for an ``ONNXProgram``."""
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def check_onnx_against_eager_by_name(onnx_program, eager, input_sets):
    """onnxruntime gives what ``eager(**inputs)`` (a tuple of tensors) gives on each dict of new
    inputs, fed to the ONNX inputs of the same names."""
    session = onnx_session(onnx_program)
    for inputs in input_sets:
        feeds = {node.name: inputs[node.name].numpy() for node in session.get_inputs()}
        with torch.no_grad():
            expected = eager(**inputs)
        for got, wanted in zip(session.run(None, feeds), expected, strict=True):
            np.testing.assert_allclose(got, wanted.numpy(), rtol=1e-4, atol=1e-5)
    print(f"onnxruntime matches eager on {len(input_sets)} new input sets")


# %%
# What the encoder does with its frames
# -------------------------------------
#
# Three facts of ``WhisperEncoder``, each run here. It takes exactly ``2 * max_source_positions``
# frames (32 with this configuration) and raises a ``ValueError`` otherwise:

try:
    encoder(torch.randn(1, config.num_mel_bins, FRAMES - 2))
    raise AssertionError("Whisper's encoder now takes fewer frames: update this recipe")
except ValueError as e:
    print(e)
    assert str(e).startswith(f"Whisper expects the mel input features to be of length {FRAMES}, but found {FRAMES - 2}"), e

# %%
# Its first convolution has stride 1 and its second stride 2: the time dimension is halved once,
# to ``max_source_positions`` vectors, to which it adds its ``max_source_positions`` position
# embeddings:

print(encoder.conv1, encoder.conv2, sep="\n")
assert encoder.conv1.stride == (1,) and encoder.conv2.stride == (2,)
features = torch.randn(2, config.num_mel_bins, FRAMES)
with torch.no_grad():
    hidden = encoder(features).last_hidden_state
print(f"{tuple(features.shape)} -> {tuple(hidden.shape)}")
assert hidden.shape == (2, config.max_source_positions, config.d_model)

# %%
# And it ignores an attention mask: a mask that hides every frame changes nothing. A shorter
# clip is padded to the full length, and the encoder sees the padding.

with torch.no_grad():
    masked = encoder(features, attention_mask=torch.zeros(2, FRAMES, dtype=torch.int64)).last_hidden_state
assert torch.equal(masked, hidden)
print("the encoder's output is the same with a mask of zeros")

# %%
# Exporting the encoder with a dynamic number of frames
# -----------------------------------------------------

batch, frames = Dim("batch"), Dim("frames")
try:
    torch.export.export(encoder, (features,), dynamic_shapes={"input_features": {0: batch, 2: frames}})
    raise AssertionError("Whisper's encoder now exports with dynamic frames: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).split("\n\nThe error above")[0])
    assert "You marked frames as dynamic but your code specialized it to be a constant (32)" in str(e), e
    assert "Suggested fixes:\n  frames = 32" in str(e), e

# %%
# How to read it (``torch._dynamo.exc.UserError`` is the class export raises, a private name):
# the length check above is an ``if`` on the frames; export took the branch of the example
# (32 frames, no error), and the only sizes that take it are 32. The suggested fix is a
# constant: the frames are not a dynamic dimension of this model. What varies is the batch:

encoder_ep = torch.export.export(encoder, (features,), dynamic_shapes={"input_features": {0: batch}})
print(encoder_ep.range_constraints)
assert [str(r) for r in encoder_ep.range_constraints.values()] == ["VR[0, int_oo]"], encoder_ep.range_constraints

# %%
# The decoder: batch and tokens
# -----------------------------
#
# The decoder reads the tokens so far and the encoder's output (cross-attention) and, with the
# model's ``proj_out``, gives the logits of the next tokens. Exported without a cache
# (``use_cache=False``; the cache as tensors is
# :ref:`recipe-transformers-llama-cache-tensors`), with the batch and the number of tokens
# dynamic:


class Decoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, decoder_input_ids, encoder_hidden_states):
        decoded = self.model.model.decoder(
            input_ids=decoder_input_ids, encoder_hidden_states=encoder_hidden_states, use_cache=False
        )
        return (self.model.proj_out(decoded.last_hidden_state),)


decoder = Decoder(model).eval()
tokens = torch.tensor([[1, 5, 7], [1, 9, 3]])
unbounded = Dim("tokens")
decoder_ep = torch.export.export(
    decoder, (tokens, hidden),
    dynamic_shapes={"decoder_input_ids": {0: batch, 1: unbounded}, "encoder_hidden_states": {0: batch}},
)
print(decoder_ep.range_constraints)
assert [str(r) for r in decoder_ep.range_constraints.values()] == ["VR[0, int_oo]"] * 2

# %%
# It exports with no limit on the tokens, yet the decoder has ``max_target_positions`` (32)
# position embeddings, which it indexes with the positions of the tokens. Eager fails on 33
# tokens, and so does the exported program, in that indexing, although its range let 33 in:

too_many = torch.ones(1, config.max_target_positions + 1, dtype=torch.int64)
for name, run in [("eager", decoder), ("exported program", decoder_ep.module())]:
    try:
        run(too_many, hidden[:1])
        raise AssertionError(f"{name}: the decoder now takes 33 tokens: update this recipe")
    except IndexError as e:
        print(f"{e} ({name})")
        assert "index 32 is out of bounds for dimension 0 with size 32" in str(e), e

# %%
# So the spec says the limit (``max=max_target_positions``), and the program refuses 33 tokens
# at its input, with a message that names it:

tokens_dim = Dim("tokens", max=config.max_target_positions)
decoder_spec = {"decoder_input_ids": {0: batch, 1: tokens_dim}, "encoder_hidden_states": {0: batch}}
decoder_ep = torch.export.export(decoder, (tokens, hidden), dynamic_shapes=decoder_spec)
print(decoder_ep.range_constraints)
try:
    decoder_ep.module()(too_many, hidden[:1])
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed: decoder_input_ids.size()[1] <= 32"), e
else:
    raise AssertionError("the bounded program now takes 33 tokens: update this recipe")

# %%
# Both to ONNX, checked against the whole model
# ---------------------------------------------
#
# The two programs become two ONNX models. onnxruntime runs the encoder on new batches, feeds
# its output to the decoder with new numbers of tokens, and gets the logits the whole
# ``WhisperForConditionalGeneration`` gives in eager:

encoder_onnx = torch.onnx.export(encoder_ep, dynamo=True, verbose=False, output_names=["encoder_hidden_states"])
decoder_onnx = torch.onnx.export(decoder_ep, dynamo=True, verbose=False, output_names=["logits"])
encoder_session, decoder_session = onnx_session(encoder_onnx), onnx_session(decoder_onnx)
for batch_size, length in [(1, 1), (3, 6), (2, 32)]:
    new_features = torch.randn(batch_size, config.num_mel_bins, FRAMES)
    new_tokens = torch.randint(3, config.vocab_size, (batch_size, length))
    (encoded,) = encoder_session.run(None, {"input_features": new_features.numpy()})
    (logits,) = decoder_session.run(None, {"decoder_input_ids": new_tokens.numpy(), "encoder_hidden_states": encoded})
    with torch.no_grad():
        expected = model(input_features=new_features, decoder_input_ids=new_tokens).logits
    np.testing.assert_allclose(logits, expected.numpy(), rtol=1e-4, atol=1e-5)
print("encoder + decoder in onnxruntime match the whole model in eager on 3 new input sets")
check_onnx_against_eager_by_name(
    decoder_onnx, decoder, [{"decoder_input_ids": torch.ones(2, 4, dtype=torch.int64), "encoder_hidden_states": hidden}]
)

# %%
# In short: Whisper's encoder has a fixed number of frames, ``2 * max_source_positions``, and a
# dynamic batch; pad the features to that length. Its decoder has
# a dynamic number of tokens up to ``max_target_positions``: put that bound in the spec, or the
# exported program accepts lengths the model cannot compute.
