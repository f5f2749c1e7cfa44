"""
.. _recipe-dynamic-cache-class:

Found <class 'LayerCache'> in output, which is not a known type: a cache like DynamicCache
==========================================================================================

A decoder may keep its past keys and values in a cache object built like transformers'
``DynamicCache``: one key tensor and one value tensor per layer, grown by
``cache.update(key, value, layer_idx)`` inside ``forward``, and returned with the output. This
recipe writes such a class in plain PyTorch, ``LayerCache``,
and exports a three-layer decoder that takes one and returns it. It registers the class with
pytree, writes the spec (a list of key specs and a list of value specs, one entry per layer), and
shows the traps of a cache: the exported program does not update the cache you pass, it returns a
new one, and an empty cache as example gives a program that only accepts empty caches. The last
section lists what to check on transformers' own class.

The cache and the decoder
-------------------------
"""

import torch
import torch.utils._pytree as pytree

Dim = torch.export.Dim


class LayerCache:
    """Past keys and values, one (batch, heads, past, head_dim) tensor of each per layer."""

    def __init__(self):
        self.key_cache, self.value_cache = [], []

    def update(self, key, value, layer_idx):
        """Appends the new positions of one layer and returns all its keys and values."""
        if len(self.key_cache) <= layer_idx:
            self.key_cache.append(key)
            self.value_cache.append(value)
        else:
            self.key_cache[layer_idx] = torch.cat([self.key_cache[layer_idx], key], dim=2)
            self.value_cache[layer_idx] = torch.cat([self.value_cache[layer_idx], value], dim=2)
        return self.key_cache[layer_idx], self.value_cache[layer_idx]


class Decoder(torch.nn.Module):
    def __init__(self, layers=3, heads=2, head_dim=4):
        super().__init__()
        width = heads * head_dim
        self.qkv = torch.nn.ModuleList(torch.nn.Linear(width, 3 * width) for _ in range(layers))
        self.heads, self.head_dim = heads, head_dim

    def forward(self, x, cache):
        batch, seq, _ = x.shape
        for i, qkv in enumerate(self.qkv):
            q, k, v = qkv(x).view(batch, seq, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
            k, v = cache.update(k, v, i)
            attention = torch.nn.functional.scaled_dot_product_attention(q, k, v)
            x = x + attention.transpose(1, 2).reshape(batch, seq, -1)
        return x, cache


def make_cache(batch, past, layers=3, heads=2, head_dim=4):
    cache = LayerCache()
    for i in range(layers):
        cache.update(torch.randn(batch, heads, past, head_dim), torch.randn(batch, heads, past, head_dim), i)
    return cache


def copy_cache(cache):
    copy = LayerCache()
    copy.key_cache, copy.value_cache = list(cache.key_cache), list(cache.value_cache)
    return copy


torch.manual_seed(0)
model = Decoder()
x, cache = torch.randn(2, 3, 8), make_cache(batch=2, past=5)

# %%
# ``update`` concatenates along dimension 2, so the past length grows by the number of new
# tokens, as in transformers. ``forward`` returns the cache it was given.
#
# "Found ... in output, which is not a known type"
# ------------------------------------------------
#
# A first call builds the cache inside ``forward`` and returns it. Export fails on the output:


class Prefill(torch.nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, x):
        return self.decoder(x, LayerCache())


try:
    torch.export.export(Prefill(model), (x,))
    raise AssertionError("export now returns an unregistered class: update this recipe")
except RuntimeError as e:  # a plain RuntimeError
    print(e)
    assert "LayerCache'> in output, which is not a known type" in str(e), e

# %%
# Passed as an input, the same class fails earlier with "Unsupported input type" (see
# :ref:`sphx_glr_auto_recipes_structured_inputs_plot_custom_cache_class.py`). Both say the same:
# export only handles *pytrees*, containers it knows how to take apart into tensors and put back
# together, and ``LayerCache`` is not one yet.
#
# Register the class
# ------------------
#
# ``LayerCache`` is not a dataclass: its lists start empty and ``update`` fills them. Register it
# with ``torch.utils._pytree.register_pytree_node`` (a private module, with no public equivalent
# for non-dataclasses): a function that splits a cache into its children, the two lists, one that
# builds a cache back from them, and one that names the children (the recipe above explains why
# export needs names).


def flatten_cache(cache):
    return [cache.key_cache, cache.value_cache], None


def unflatten_cache(children, context):
    cache = LayerCache()
    cache.key_cache, cache.value_cache = list(children[0]), list(children[1])
    return cache


def flatten_cache_with_keys(cache):
    return [(pytree.GetAttrKey("key_cache"), cache.key_cache), (pytree.GetAttrKey("value_cache"), cache.value_cache)], None


pytree.register_pytree_node(
    LayerCache,
    flatten_cache,
    unflatten_cache,
    serialized_type_name="LayerCache",
    flatten_with_keys_fn=flatten_cache_with_keys,
)
leaves, structure = pytree.tree_flatten(cache)
print(structure)
assert len(leaves) == 6

# %%
# ``tree_flatten`` shows how export sees a cache: a ``LayerCache`` node with two lists of three
# tensors. That structure is what the spec must follow.
#
# The spec: a list of key specs and a list of value specs
# -------------------------------------------------------
#
# Every cache tensor shares the batch of ``x`` and one past length. The spec of the cache is a list
# of its two children, each a list with one entry per layer. The dict that the attribute names
# suggest is refused:

batch, seq, past = Dim("batch"), Dim("seq"), Dim("past")
kv = {0: batch, 2: past}
layers = len(cache.key_cache)
try:
    torch.export.export(
        model,
        (x, cache),
        dynamic_shapes={"x": {0: batch, 1: seq}, "cache": {"key_cache": [kv] * layers, "value_cache": [kv] * layers}},
    )
    raise AssertionError("a dict spec is now accepted for a registered class: update this recipe")
except ValueError as e:
    print(e)
    assert str(e).startswith("Node type mismatch; expected <class 'list'>, but got <class 'dict'>"), e

spec = {"x": {0: batch, 1: seq}, "cache": [[kv] * layers, [kv] * layers]}
ep = torch.export.export(model, (x, copy_cache(cache)), dynamic_shapes=spec)
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[0, int_oo]"] * 3, ep.range_constraints

# %%
# Three symbols: batch, new tokens and past length, each from 0 (the default ``min`` of a named
# ``Dim``). Building the spec from ``len(cache.key_cache)`` keeps it right whatever the number of
# layers. (``torch.export.ShapesCollection``, keyed by the tensors themselves, avoids writing the
# structure at all: see :ref:`sphx_glr_auto_recipes_structured_inputs_plot_shapes_collection.py`.)
#
# The program returns a new cache, it does not update yours
# ---------------------------------------------------------
#
# Eager ``forward`` grows the cache it receives and returns that same object. The exported program
# is functional: the tensors of the cache are inputs, the grown tensors are outputs, and the cache
# it returns is a new object built by ``unflatten_cache``.

eager_cache = make_cache(batch=3, past=7)
exported_cache = copy_cache(eager_cache)
eager_out, eager_returned = model(torch.ones(3, 2, 8), eager_cache)
out, returned = ep.module()(torch.ones(3, 2, 8), exported_cache)
print("eager: returned is input:", eager_returned is eager_cache, " past length", eager_cache.key_cache[0].shape[2])
print("exported: returned is input:", returned is exported_cache, " past length", exported_cache.key_cache[0].shape[2])
assert eager_returned is eager_cache and eager_cache.key_cache[0].shape[2] == 9
assert returned is not exported_cache and exported_cache.key_cache[0].shape[2] == 7
assert isinstance(returned, LayerCache) and returned.key_cache[0].shape[2] == 9
torch.testing.assert_close((out, returned.key_cache, returned.value_cache), (eager_out, eager_cache.key_cache, eager_cache.value_cache))

# %%
# Code that calls the model and keeps using its own cache object works in eager and silently
# stops growing the cache with the exported program. Always continue with the returned cache, as
# ``generate`` in transformers does with ``past_key_values``.
#
# An empty cache as example
# -------------------------
#
# The natural example for the first call is an empty cache. It exports, with no tensor for the
# cache at all: the two lists are empty, so the program's input structure says "two empty lists".
# A filled cache does not match that structure:

empty_ep = torch.export.export(model, (x, LayerCache()), dynamic_shapes={"x": {0: batch, 1: seq}, "cache": [[], []]})
print(empty_ep.graph_signature.user_inputs)
assert len(empty_ep.graph_signature.user_inputs) == 1
try:
    empty_ep.module()(x, make_cache(batch=2, past=5))
    raise AssertionError("a program exported with an empty cache now takes a filled one: update this recipe")
except ValueError as e:
    print(str(e).splitlines()[0])
    assert str(e).startswith("Trying to flatten user inputs with exported input tree spec"), e

# %%
# The number of layers is part of the structure the same way: the program ``ep`` exported above
# with three layers rejects a cache of two with this error:

try:
    ep.module()(x, make_cache(batch=2, past=5, layers=2))
    raise AssertionError("a three-layer program now takes a two-layer cache: update this recipe")
except ValueError as e:
    print(str(e).splitlines()[0])
    assert str(e).startswith("Trying to flatten user inputs with exported input tree spec"), e

# %%
# The sizes are what ``dynamic_shapes`` makes dynamic; the structure (how many tensors, in which
# containers) is fixed by the example.
#
# The fix is the program exported above, from a filled cache (a past length of 5, not 0 or 1,
# see :ref:`sphx_glr_auto_recipes_structured_inputs_plot_decoder_step_kv_cache.py`). Its ``past``
# starts at 0, so the first call passes a cache whose tensors have no position yet, and the same
# program serves every step. Here a prompt of 4 tokens, then three steps of one token, against
# eager starting from an empty ``LayerCache()``:

module = ep.module()
eager_cache, exported_cache = LayerCache(), make_cache(batch=2, past=0)
tokens = torch.randn(2, 4, 8)
for step in range(4):
    eager_out, eager_cache = model(tokens, eager_cache)
    out, exported_cache = module(tokens, exported_cache)
    torch.testing.assert_close(
        (out, exported_cache.key_cache, exported_cache.value_cache),
        (eager_out, eager_cache.key_cache, eager_cache.value_cache),
    )
    print(f"step {step}: {tokens.shape[1]} token(s) -> past length {exported_cache.key_cache[0].shape[2]}")
    tokens = torch.randn(2, 1, 8)
assert exported_cache.key_cache[0].shape[2] == 7

# %%
# transformers' ``DynamicCache``
# ------------------------------
#
# This recipe does not import transformers, so it says nothing about that class's code; check the
# same three points on it:
#
# * it must be registered as a pytree node before export: check whether your transformers
#   release, or one of its helpers, registers it;
# * its spec follows the registered flatten function, not the attributes you see: print
#   ``torch.utils._pytree.tree_flatten(cache)[1]`` on your example cache, as above, and write one
#   entry per leaf (a list of key specs then a list of value specs, or whatever your release
#   shows), with ``{0: batch, 2: past}`` for each key and value;
# * the example cache must hold a tensor per layer, with a past length of 2 or more, and the
#   program's returned cache is the one to pass to the next call.
