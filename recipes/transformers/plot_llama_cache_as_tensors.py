"""
.. _recipe-transformers-llama-cache-tensors:

Constraints violated for the attention mask of a Llama model with its cache as tensors
======================================================================================

To generate text with an exported language model, each call must take the cache the previous
call returned: the prefill reads the prompt with an empty cache, each decode step one new token
and a cache one position longer. A serving runtime (onnxruntime, a C++ loop) passes tensors,
so the export takes the keys and values of the layers as plain tensors, builds the
``DynamicCache`` inside the model, and returns the new keys and values as tensors.

This recipe does it with the real ``LlamaForCausalLM`` of transformers, built from a tiny
configuration (random weights, nothing downloaded), with the batch, the number of new tokens and
the cache length dynamic. The attention mask, whose length is the cache's plus the new tokens',
makes the first attempt fail; the recipe explains why and passes the mask in two parts. The
program serves the prefill and the decode steps, in ``torch.export`` and in onnxruntime.
A batch of prompts of different lengths and a greedy loop are
:ref:`recipe-transformers-llama-left-padding-greedy`.

The model and the wrapper
-------------------------

``DynamicCache`` takes a list of (keys, values) pairs, one per layer; after the call, its
``layers`` hold the keys and values grown by the new tokens. The wrapper stacks them into two
tensors of shape (layers, batch, key/value heads, cache length, head size).
"""

import numpy as np
import onnxruntime
import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

Dim = torch.export.Dim

torch.manual_seed(0)
config = LlamaConfig(
    vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
    num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
)
model = LlamaForCausalLM(config).eval()
LAYERS, KV_HEADS = config.num_hidden_layers, config.num_key_value_heads
HEAD_DIM = config.hidden_size // config.num_attention_heads


class WithCacheTensors(torch.nn.Module):
    """One call of ``model`` with the cache in and out as tensors; ``attention_mask`` covers the
    cache and the new tokens (``past + seq`` positions), as transformers expects it."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, past_keys, past_values):
        cache = DynamicCache([(past_keys[i], past_values[i]) for i in range(LAYERS)])
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True)
        layers = out.past_key_values.layers
        return out.logits, torch.stack([layer.keys for layer in layers]), torch.stack([layer.values for layer in layers])


def step_inputs(batch, seq, past):
    """``seq`` new tokens at positions ``past..past+seq-1`` for ``batch`` sequences, a cache of
    ``past`` positions, and a mask of ones over all of them."""
    cache_shape = (LAYERS, batch, KV_HEADS, past, HEAD_DIM)
    return {
        "input_ids": torch.randint(0, config.vocab_size, (batch, seq)),
        "attention_mask": torch.ones(batch, past + seq, dtype=torch.int64),
        "position_ids": torch.arange(past, past + seq).repeat(batch, 1),
        "past_keys": torch.randn(cache_shape),
        "past_values": torch.randn(cache_shape),
    }


# %%
# Helpers: the checks against eager
# ---------------------------------


def check_against_eager_with_kwargs(ep, model, args_and_kwargs):
    """The exported program gives what eager gives on each pair of new (args, kwargs)."""
    module = ep.module()
    for args, kwargs in args_and_kwargs:
        torch.testing.assert_close(module(*args, **kwargs), model(*args, **kwargs))
    print(f"the exported program matches eager on {len(args_and_kwargs)} new input sets")


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


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


# %%
# The first spec: a ``Dim`` for each length
# ------------------------------------------
#
# Three sizes vary: ``batch``, ``seq`` (the new tokens: the prompt at prefill, 1 when decoding)
# and ``past`` (the cache: 0 at prefill). The mask is ``past + seq`` long, and a spec cannot
# write ``past + seq`` (two ``Dim`` objects cannot be added, see
# :ref:`sphx_glr_auto_recipes_constraints_plot_dx_plus_dy.py`), so the first attempt gives it a
# ``Dim`` of its own, ``total``. The example has 3 new tokens and 4 cached positions (export reads
# a size of 0 or 1 as a constant, see :ref:`sphx_glr_auto_recipes_constraints_plot_zero_one_specialization.py`).

step = WithCacheTensors(model).eval()
batch, seq, past, total = Dim("batch"), Dim("seq"), Dim("past"), Dim("total")
first_spec = {
    "input_ids": {0: batch, 1: seq},
    "attention_mask": {0: batch, 1: total},
    "position_ids": {0: batch, 1: seq},
    "past_keys": {1: batch, 3: past},
    "past_values": {1: batch, 3: past},
}
example = step_inputs(batch=2, seq=3, past=4)
try:
    torch.export.export(step, (), kwargs=example, dynamic_shapes=first_spec)
    raise AssertionError("a mask with a Dim of its own now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).split("\n\nThe error above")[0])
    assert str(e).startswith("Constraints violated (total)!"), e
    assert "Suggested fixes:\n  total = Dim('total', min=4)" in str(e), e

# %%
# How to read it (``torch._dynamo.exc.UserError`` is the class export raises, a private name):
# the ``Dim`` called ``total`` promised a mask of any length, and the model accepts only some.
# transformers' ``prepare_padding_mask`` pads a mask shorter than the cache and the new tokens,
# and ``_ignore_causal_mask_sdpa`` slices a longer one: two ``if`` on the sizes, which export
# resolved for the example (neither), each adding a guard. Together they say ``total == past + seq``.
# The message reports only what that does to ``total``'s range, a lower bound (its suggested
# ``min=4``), not the equality: a mask with a ``Dim`` of its own cannot satisfy it.
#
# The fix: one dynamic size per ``Dim``
# -------------------------------------
#
# Pass the mask in the two parts the spec can name, the cache's (``past_mask``, ``past``
# positions) and the new tokens' (``attention_mask``, ``seq`` positions), and concatenate them
# in the wrapper. Its length is then ``past + seq`` by construction:


class Step(torch.nn.Module):
    """One call of ``model``: the cache and its mask in, the logits and the grown cache out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, past_mask, position_ids, past_keys, past_values):
        cache = DynamicCache([(past_keys[i], past_values[i]) for i in range(LAYERS)])
        out = self.model(input_ids=input_ids, attention_mask=torch.cat([past_mask, attention_mask], dim=1),
                         position_ids=position_ids, past_key_values=cache, use_cache=True)
        layers = out.past_key_values.layers
        return out.logits, torch.stack([layer.keys for layer in layers]), torch.stack([layer.values for layer in layers])


def split_mask(inputs):
    """``inputs`` of :func:`step_inputs` with the mask split into the cache's and the new tokens'."""
    seq = inputs["input_ids"].shape[1]
    mask = inputs["attention_mask"]
    past_mask, new_mask = mask.split([mask.shape[1] - seq, seq], dim=1)
    return {**inputs, "attention_mask": new_mask.clone(), "past_mask": past_mask.clone()}


step = Step(model).eval()
spec = {**first_spec, "attention_mask": {0: batch, 1: seq}, "past_mask": {0: batch, 1: past}}
ep = torch.export.export(step, (), kwargs=split_mask(example), dynamic_shapes=spec)
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[0, int_oo]"] * 3, ep.range_constraints

# %%
# Three ranges, one per ``Dim``, each from 0: a prefill (``past`` = 0) and a decode step
# (``seq`` = 1) are both inside. The outputs show how the sizes are tied: the cache that comes
# out is ``past + seq`` long.

shapes = {node.name: node.meta["val"].shape for node in ep.graph.find_nodes(op="placeholder")}
logits_shape, keys_shape, _ = (node.meta["val"].shape for node in ep.graph.output_node().args[0])
print(f"logits {list(logits_shape)}, present keys {list(keys_shape)}")
batch_symbol, seq_symbol = shapes["input_ids"]
past_symbol = shapes["past_keys"][3]
assert keys_shape[3].node.expr == past_symbol.node.expr + seq_symbol.node.expr, keys_shape
assert str(logits_shape[0]) == str(batch_symbol) and str(logits_shape[1]) == str(seq_symbol)

new_input_sets = [split_mask(step_inputs(*sizes)) for sizes in [(1, 1, 0), (3, 6, 0), (1, 1, 7), (4, 1, 2)]]
with torch.no_grad():
    check_against_eager_with_kwargs(ep, step, [((), inputs) for inputs in new_input_sets])

# %%
# The program matches eager on a one-token prompt, on a prefill with an empty cache, and on
# decode steps with caches of 7 and 2 positions (the last with a mask of 3 positions, below the
# ``min=4`` that the first message suggested).
#
# The same program in ONNX
# ------------------------
#
# ``torch.onnx.export`` takes the exported program (no second trace). Without a
# ``dynamic_shapes`` argument its dimensions are export's symbols; ``ONNXProgram.rename_axes``
# names them after the ``Dim`` objects, from the program's own symbols, and the cache that comes
# out becomes ``past + seq``:

onnx_program = torch.onnx.export(ep, dynamo=True, verbose=False, output_names=["logits", "present_keys", "present_values"])
onnx_program.rename_axes({str(batch_symbol): "batch", str(seq_symbol): "seq", str(past_symbol): "past"})
dims = onnx_dims(onnx_program.model_proto)
print(dims)
cache = [LAYERS, "batch", KV_HEADS, "past", HEAD_DIM]
assert dims == {
    "input_ids": ["batch", "seq"], "attention_mask": ["batch", "seq"], "past_mask": ["batch", "past"],
    "position_ids": ["batch", "seq"], "past_keys": cache, "past_values": cache,
    "logits": ["batch", "seq", config.vocab_size],
    "present_keys": [LAYERS, "batch", KV_HEADS, "past + seq", HEAD_DIM],
    "present_values": [LAYERS, "batch", KV_HEADS, "past + seq", HEAD_DIM],
}, dims
check_onnx_against_eager_by_name(onnx_program, step, new_input_sets)

# %%
# In short: a transformers decoder exports with its cache as tensors when a wrapper builds the
# ``DynamicCache`` from them and returns its layers' keys and values; give each dynamic size its
# own input dimension, so that no length of the spec has to be the sum of two others (here: the
# mask in two parts). The next recipe generates with it:
# :ref:`recipe-transformers-llama-left-padding-greedy`.
