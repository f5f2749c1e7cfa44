"""
.. _recipe-transformers-static-cache-input:

Cannot associate shape {} specified at ``dynamic_shapes['past_key_values']`` to non-tensor type ``StaticCache``
===============================================================================================================

transformers' ``StaticCache`` holds the keys and values of a decoder in tensors of a fixed
length, allocated once and written in place: the cache that compiled and on-device runtimes
want. Passed to ``torch.export.export`` as the model's ``past_key_values`` with the batch and the
sequence dynamic, it fails, with ``{}`` or with ``None`` as its ``dynamic_shapes``. A reader
reported both messages on 2025-04-29 for a Llama model (pytorch/pytorch#152465, open when this
recipe was written, on 2026-12-04; a later thread, pytorch/pytorch#155862, asks how to export a
model with a ``StaticCache`` at all, open on the same date).

This recipe runs the real ``LlamaForCausalLM`` of transformers 5.23.0, built from a tiny
configuration (random weights, nothing downloaded), shows both failures, explains them, and
exports the model with its static cache as plain tensors in and out: the batch and the number of
new tokens dynamic, the cache's length fixed. The program and the ONNX model give, on new shapes,
what the model gives in eager with a ``DynamicCache`` of the same past. It ends with the cache
class registered as a pytree node by transformers' own (experimental) exporter: the export
passes, and the program keeps the example's batch.

The model and its static cache
------------------------------
"""

import re

import numpy as np
import onnxruntime
import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM, StaticCache

Dim = torch.export.Dim

torch.manual_seed(0)
config = LlamaConfig(
    vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
    num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
)
model = LlamaForCausalLM(config).eval()
LAYERS, KV_HEADS = config.num_hidden_layers, config.num_key_value_heads
HEAD_DIM = config.hidden_size // config.num_attention_heads
MAX_CACHE = 16

# %%
# In eager, a prompt of 3 tokens with a ``StaticCache`` of 16 positions: the cache's tensors have
# 16 positions whatever the prompt, filled at the first 3 (zeros after), and each layer counts
# what it holds in ``cumulative_length``, a 0-d tensor (the position where its next ``update``
# writes):

prompt = torch.randint(0, config.vocab_size, (2, 3))
cache = StaticCache(config=config, max_cache_len=MAX_CACHE)
with torch.no_grad():
    model(input_ids=prompt, past_key_values=cache, use_cache=True)
layer = cache.layers[0]
print(f"layer 0: keys {tuple(layer.keys.shape)}, cumulative_length {layer.cumulative_length!r}")
assert layer.keys.shape == (2, KV_HEADS, MAX_CACHE, HEAD_DIM)
assert isinstance(layer.cumulative_length, torch.Tensor) and int(layer.cumulative_length) == 3
assert layer.keys[..., :3, :].abs().sum() > 0 and layer.keys[..., 3:, :].abs().sum() == 0

# %%
# The failure
# -----------
#
# The obvious export: the tokens and the cache as keyword arguments, the batch and the number of
# new tokens dynamic, and ``{}`` for the cache (no dynamic dimension in it):

batch, seq = Dim("batch"), Dim("seq", max=MAX_CACHE)
cache = StaticCache(config=config, max_cache_len=MAX_CACHE)
kwargs = {"input_ids": prompt, "past_key_values": cache, "use_cache": True}
try:
    torch.export.export(model, (), kwargs=kwargs, dynamic_shapes={
        "input_ids": {0: batch, 1: seq}, "past_key_values": {}, "use_cache": None,
    })
    raise AssertionError("export now takes a spec for a StaticCache: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).split("\nFor more information")[0])
    assert ("Cannot associate shape {} specified at `dynamic_shapes['past_key_values']` to non-tensor type "
            "<class 'transformers.cache_utils.StaticCache'> at `inputs['past_key_values']` (expected None)") in str(e), e

# %%
# The message asks for ``None``. With ``None``, the export fails one step later, on the input
# itself:

try:
    torch.export.export(model, (), kwargs=kwargs, dynamic_shapes={
        "input_ids": {0: batch, 1: seq}, "past_key_values": None, "use_cache": None,
    })
    raise AssertionError("export now takes a StaticCache as an input: update this recipe")
except ValueError as e:
    print(e)
    assert str(e).startswith("Unsupported input type <class 'transformers.cache_utils.StaticCache'>. "
                             "Export only supports pytree containers of basic types"), e

# %%
# How to read the two messages
# ----------------------------
#
# ``torch.export`` sees its inputs as a tree (a *pytree*): tuples, lists, dicts and the classes
# registered with ``torch.utils._pytree`` are branches, anything else is a leaf. Importing
# transformers does not register ``StaticCache`` (for ``DynamicCache``, see
# :ref:`recipe-transformers-llama-dynamic-cache`), so the whole cache is one leaf, and not a
# tensor:

leaves = torch.utils._pytree.tree_leaves(kwargs["past_key_values"])
print(f"the cache's leaves: {[type(leaf).__name__ for leaf in leaves]}")
assert leaves == [kwargs["past_key_values"]]

# %%
# ``dynamic_shapes`` follows the same tree, and a leaf that is not a tensor can only take
# ``None``: hence the first message, which says ``(expected None)`` after the spec it got.
# ``None`` passes that check, and the inputs are then flattened into the program's
# tensors, where an unregistered leaf is refused: the second message. Registering the class
# (what :ref:`recipe-custom-cache-class` does for a class of one's own, and transformers'
# experimental exporter for this one, at the end of this page) makes the export pass, and the
# program then keeps the example's batch. Passing the tensors the cache holds makes the batch
# dynamic.
#
# The fix: the static cache as tensors in and out
# -----------------------------------------------
#
# The exported program takes the keys and the values of all layers as two tensors of shape
# (layers, batch, key/value heads, 16, head size), and the number of positions already filled as
# a 0-d tensor. It builds the ``StaticCache`` inside, sets each layer's tensors and count, and
# returns the logits and the updated keys and values. The count is the one attribute here that
# transformers does not document as an input: it is where the layer's ``update`` writes (pinned
# above), so it must be set before the call.


class StaticCacheAsTensors(torch.nn.Module):
    """One call of ``model`` with a ``StaticCache`` of ``max_cache_len`` positions, its keys and
    values as tensors in and out, and ``past_length`` positions of it already filled."""

    def __init__(self, model, max_cache_len):
        super().__init__()
        self.model, self.max_cache_len = model, max_cache_len

    def forward(self, input_ids, keys, values, past_length):
        cache = StaticCache(config=self.model.config, max_cache_len=self.max_cache_len)
        for layer, layer_keys, layer_values in zip(cache.layers, keys, values, strict=True):
            layer.lazy_initialization(layer_keys, layer_values)  # dtype, device, batch, heads
            layer.keys, layer.values = layer_keys.clone(), layer_values.clone()  # written in place
            layer.cumulative_length = past_length.clone()
        logits = self.model(input_ids=input_ids, past_key_values=cache, use_cache=True).logits
        return logits, torch.stack([layer.keys for layer in cache.layers]), torch.stack(
            [layer.values for layer in cache.layers])


def step_inputs(batch, seq, past):
    """``seq`` new tokens for ``batch`` sequences, after ``past`` positions held in a static cache
    of ``MAX_CACHE`` positions (random keys and values there, zeros after)."""
    shape = (LAYERS, batch, KV_HEADS, MAX_CACHE, HEAD_DIM)
    keys, values = torch.zeros(shape), torch.zeros(shape)
    keys[..., :past, :], values[..., :past, :] = torch.randn(2, LAYERS, batch, KV_HEADS, past, HEAD_DIM)
    return {
        "input_ids": torch.randint(0, config.vocab_size, (batch, seq)),
        "keys": keys, "values": values, "past_length": torch.tensor(past),
    }


step = StaticCacheAsTensors(model, MAX_CACHE).eval()
spec = {"input_ids": {0: batch, 1: seq}, "keys": {1: batch}, "values": {1: batch}, "past_length": None}
with torch.no_grad():
    ep = torch.export.export(step, (), kwargs=step_inputs(batch=2, seq=3, past=4), dynamic_shapes=spec)
print(ep.graph_signature.user_inputs, [str(r) for r in ep.range_constraints.values()])
assert ep.graph_signature.user_inputs == ("input_ids", "keys", "values", "past_length")
assert sorted(str(r) for r in ep.range_constraints.values()) == ["VR[0, 16]", "VR[0, int_oo]"]

# %%
# The batch is dynamic, the new tokens up to the cache's 16 positions; the cache's length is not
# an input dimension (it is the 16 of the ``StaticCache``, as in eager).
#
# Checked against eager, on new shapes
# ------------------------------------
#
# The reference is the model itself in eager with a ``DynamicCache`` holding only the ``past``
# filled positions: the program must give the same logits, and the same keys and values at the
# ``past + seq`` positions it filled. New shapes: a decode step (one token after 7), a batch of
# one, a prefill (nothing cached yet).


def eager_with_dynamic_cache(input_ids, keys, values, past_length):
    """The model in eager, its cache a ``DynamicCache`` of the ``past_length`` filled positions."""
    past = int(past_length)
    cache = DynamicCache([(keys[i, ..., :past, :], values[i, ..., :past, :]) for i in range(LAYERS)])
    with torch.no_grad():
        out = model(input_ids=input_ids, past_key_values=cache, use_cache=True)
    layers = out.past_key_values.layers
    return out.logits, torch.stack([lay.keys for lay in layers]), torch.stack([lay.values for lay in layers])


def check_against_dynamic_cache(outputs, inputs):
    """Same logits, and same keys and values at the filled positions, as the model in eager."""
    logits, keys, values = outputs
    expected_logits, expected_keys, expected_values = eager_with_dynamic_cache(**inputs)
    filled = expected_keys.shape[-2]
    torch.testing.assert_close(torch.as_tensor(logits), expected_logits)
    torch.testing.assert_close(torch.as_tensor(keys)[..., :filled, :], expected_keys)
    torch.testing.assert_close(torch.as_tensor(values)[..., :filled, :], expected_values)


new_input_sets = [step_inputs(3, 1, 7), step_inputs(1, 5, 2), step_inputs(4, 2, 0)]
for inputs in new_input_sets:
    with torch.no_grad():
        check_against_dynamic_cache(ep.module()(**inputs), inputs)
print(f"the exported program matches eager on {len(new_input_sets)} new input sets")

# %%
# To ONNX, checked in onnxruntime
# -------------------------------
#
# The program converts; onnxruntime gives the same on the same new shapes (its inputs keep the
# program's names).


def onnx_session(onnx_program):
    """An onnxruntime session on the CPU for an ``ONNXProgram``."""
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )


onnx_program = torch.onnx.export(ep, dynamo=True, verbose=False)
session = onnx_session(onnx_program)
print([node.name for node in session.get_inputs()])
assert [node.name for node in session.get_inputs()] == ["input_ids", "keys", "values", "past_length"]
for inputs in new_input_sets:
    got = session.run(None, {name: tensor.numpy() for name, tensor in inputs.items()})
    check_against_dynamic_cache([np.ascontiguousarray(array) for array in got], inputs)
print(f"onnxruntime matches eager on {len(new_input_sets)} new input sets")

# %%
# transformers' own registration: the batch stays the example's
# -------------------------------------------------------------
#
# transformers 5.23.0 also ships an exporter marked experimental, ``transformers.exporters``,
# whose ``exporter_dynamo.register_pytree_node`` registers a cache class as a pytree node: every
# tensor the object holds becomes a leaf, and everything else (each layer's ``batch_size``,
# ``max_cache_len``, ``dtype`` ...) goes into the tree's structure. Registered that way, the cache
# is six leaves (keys, values and count of each layer), and the first export of this page passes
# with a ``dynamic_shapes`` entry per leaf:

from transformers.exporters.exporter_dynamo import register_pytree_node  # noqa: E402

register_pytree_node(StaticCache)


def filled_static_cache(batch, past):
    """A ``StaticCache`` of ``MAX_CACHE`` positions, ``past`` of them filled by the model in eager."""
    cache = StaticCache(config=config, max_cache_len=MAX_CACHE)
    with torch.no_grad():
        model(input_ids=torch.randint(0, config.vocab_size, (batch, past)), past_key_values=cache, use_cache=True)
    return cache


cache = filled_static_cache(batch=2, past=4)
leaves = torch.utils._pytree.tree_leaves(cache)
print(f"{len(leaves)} leaves: {[tuple(leaf.shape) for leaf in leaves]}")
assert len(leaves) == 3 * LAYERS and all(isinstance(leaf, torch.Tensor) for leaf in leaves)
cache_spec = [{0: batch} if leaf.dim() == 4 else None for leaf in leaves]
with torch.no_grad():
    ep_registered = torch.export.export(
        model, (), kwargs={"input_ids": prompt, "past_key_values": cache, "use_cache": True},
        dynamic_shapes={"input_ids": {0: batch, 1: seq}, "past_key_values": cache_spec, "use_cache": None},
    )

# %%
# The program takes a ``StaticCache`` with a new number of tokens and a new past, and gives what
# eager gives with a copy of that cache:

cache, new_tokens = filled_static_cache(batch=2, past=6), torch.randint(0, config.vocab_size, (2, 5))
eager_cache = filled_static_cache(batch=2, past=6)
for mine, theirs in zip(torch.utils._pytree.tree_leaves(eager_cache), torch.utils._pytree.tree_leaves(cache)):
    mine.copy_(theirs)
with torch.no_grad():
    got = ep_registered.module()(input_ids=new_tokens, past_key_values=cache, use_cache=True)
    expected = model(input_ids=new_tokens, past_key_values=eager_cache, use_cache=True)
torch.testing.assert_close(got.logits, expected.logits)
print("same logits as eager with a cache of the example's batch")

# %%
# but not a cache of another batch, although the spec made the batch dynamic: each layer's
# ``batch_size`` is part of the tree's structure, which the program's inputs must match exactly:

try:
    with torch.no_grad():
        ep_registered.module()(input_ids=torch.randint(0, config.vocab_size, (3, 2)),
                               past_key_values=filled_static_cache(batch=3, past=4), use_cache=True)
    raise AssertionError("the registered cache now takes another batch: update this recipe")
except ValueError as e:
    print(str(e).split(":")[0], re.findall(r"'batch_size': \d+", str(e)))
    assert str(e).startswith("Trying to flatten user inputs with exported input tree spec"), e
    assert "'batch_size': 2" in str(e) and "'batch_size': 3" in str(e), e

# %%
# Which cache to export
# ---------------------
#
# - The static cache as tensors (this page): fixed memory, the batch and the new tokens dynamic,
#   the caller keeps the cache and the count between calls; it converts to ONNX.
# - The ``StaticCache`` object registered by transformers' experimental exporter (above): the
#   program takes the object, with the example's batch.
# - The static cache inside the program (transformers' own wrapper,
#   :ref:`recipe-transformers-executorch-static-cache`): the cache is state of the program, for a
#   fixed batch.
# - A cache that grows (``DynamicCache``) as tensors, its length dynamic:
#   :ref:`recipe-transformers-llama-cache-tensors`.
