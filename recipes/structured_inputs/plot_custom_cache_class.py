"""
.. _recipe-custom-cache-class:

Unsupported input type: exporting a model that takes a custom cache class
=========================================================================

A model takes its past keys and values in a small class of its own, a cache holding one list
of key tensors and one list of value tensors (one entry per layer). ``torch.export.export``
refuses it: export only understands *pytrees*, nested tuples, lists and dicts whose leaves are
tensors and scalars, and it does not know how to take a custom class apart. This recipe
registers the class so that export can flatten it, writes the ``dynamic_shapes`` spec for it
(the spec mirrors the *flattened* structure, not the class), and checks the exported program
against eager on new batch sizes, sequence lengths and cache lengths.

The cache, the model, and the error
-----------------------------------
"""

import dataclasses
import importlib.util

import torch

Dim = torch.export.Dim


@dataclasses.dataclass
class KVCache:
    keys: list  # one (batch, cache_len, dim) tensor per layer
    values: list  # same shapes


class Model(torch.nn.Module):
    def forward(self, x, cache):
        # x is (batch, seq, dim): append the new tokens to every layer of the cache.
        keys = [torch.cat([k, x], dim=1) for k in cache.keys]
        values = [torch.cat([v, 2 * x], dim=1) for v in cache.values]
        summary = sum(k.mean(dim=1) for k in keys) + sum(v.amax(dim=1) for v in values)
        return summary, KVCache(keys, values)


def make_cache_inputs(batch, seq, cache_len, dim=4, layers=2):
    x = torch.randn(batch, seq, dim)
    cache = KVCache(
        [torch.randn(batch, cache_len, dim) for _ in range(layers)],
        [torch.randn(batch, cache_len, dim) for _ in range(layers)],
    )
    return x, cache


model = Model()
x, cache = make_cache_inputs(batch=2, seq=3, cache_len=5)

try:
    torch.export.export(model, (x, cache))
    raise AssertionError("export now accepts an unregistered class: update this recipe")
except ValueError as e:
    print(e)
    assert str(e).startswith("Unsupported input type <class") and "KVCache" in str(e), e

# %%
# The message lists the ways out. ``KVCache`` is a dataclass, so the first one applies:
# ``torch.export.register_dataclass`` is public and tells export that the fields of the class
# are its children. ``torch.utils._pytree.register_pytree_node`` is for other classes (see the
# end of this recipe); it lives in a private module, and the pinned PyTorch has no public one:
# there is no ``torch.utils.pytree`` module, and the name ``torch.export.pytree`` is only the
# private module imported by ``torch.export`` for its own use (it is not in
# ``torch.export.__all__``):

print(importlib.util.find_spec("torch.utils.pytree"))
assert importlib.util.find_spec("torch.utils.pytree") is None, "torch.utils.pytree now exists: update this recipe"
assert torch.export.pytree is torch.utils._pytree and "pytree" not in torch.export.__all__
assert "register_dataclass" in torch.export.__all__

# %%
# ``serialized_type_name`` is only needed to save the program with ``torch.export.save`` (see
# :ref:`recipe-save-load-round-trip`), but costs nothing.
#
# Register the class
# ------------------

torch.export.register_dataclass(KVCache, serialized_type_name="KVCache")

# %%
# From now on export flattens a ``KVCache`` into its fields, and each field (a list) into its
# tensors: four tensors here, on top of ``x``.
#
# A ``KVCache`` of specs is not a spec
# ------------------------------------
#
# The natural way to write ``dynamic_shapes`` for the cache is a ``KVCache`` whose fields hold
# the specs of the tensors they will hold. Export matches the spec against the flattened
# inputs, and fails:

batch, seq, cache_len = Dim("batch"), Dim("seq"), Dim("cache_len")
kv = {0: batch, 1: cache_len}
try:
    torch.export.export(
        model,
        (x, cache),
        dynamic_shapes={"x": {0: batch, 1: seq}, "cache": KVCache([kv, kv], [kv, kv])},
    )
    raise AssertionError("a KVCache of specs is now accepted: update this recipe")
except ValueError as e:
    print(e)
    assert "Node type mismatch; expected <class 'list'>" in str(e), e

# %%
# ``expected <class 'list'>`` is the hint: export expects the spec of a registered class to be
# a list of the specs of its children, in the order in which the class flattens (for a
# dataclass, the order of its fields). A dict keyed by field name fails the same way.
#
# The spec mirrors the flattened structure
# ----------------------------------------
#
# ``cache`` flattens into ``[keys, values]``, each a list of two tensors, so its spec is a list
# of two lists of two specs:

spec = {"x": {0: batch, 1: seq}, "cache": [[kv, kv], [kv, kv]]}
ep = torch.export.export(model, (x, cache), dynamic_shapes=spec)
print(ep.range_constraints)
shapes = {
    node.name: [str(d) for d in node.meta["val"].shape]
    for node in ep.graph.nodes
    if node.op == "placeholder"
}
print(shapes)
cache_shapes = [shape for name, shape in shapes.items() if name.startswith("cache_")]
assert all(shape == cache_shapes[0] for shape in cache_shapes), shapes
assert shapes["x"][0] == cache_shapes[0][0] and shapes["x"][1] != cache_shapes[0][1], shapes
assert len(ep.range_constraints) == 3, ep.range_constraints

# %%
# Each tensor of the cache became an input of the graph, named after its path
# (``cache.keys[0]`` is ``cache_keys_0``). The three ``Dim`` objects became three symbols, each
# ranging from 0 (the default ``min`` of a named ``Dim``): every cache tensor shares the batch symbol of ``x`` and one cache-length
# symbol. The exported module rebuilds a ``KVCache`` on its output, and agrees with eager on
# new shapes, including an empty cache and a single new token:


def check_cache_against_eager(ep, combos):
    """The program's summary and new cache equal eager's, for each (batch, seq, cache_len)."""
    module = ep.module()
    for b, s, c in combos:
        inputs = make_cache_inputs(batch=b, seq=s, cache_len=c)
        got, expected = module(*inputs), model(*inputs)
        assert isinstance(got[1], KVCache)
        torch.testing.assert_close(got[0], expected[0])
        torch.testing.assert_close(got[1].keys, expected[1].keys)
        torch.testing.assert_close(got[1].values, expected[1].values)
        print(f"batch={b} seq={s} cache_len={c}: new cache {tuple(got[1].keys[0].shape)}, matches eager")


check_cache_against_eager(ep, [(3, 1, 0), (4, 2, 7), (1, 5, 1)])

# %%
# The guards check that the cache is consistent: every layer must have the same length.

bad_x, bad_cache = make_cache_inputs(batch=2, seq=3, cache_len=5)
bad_cache.values[1] = torch.randn(2, 6, 4)
try:
    ep.module()(bad_x, bad_cache)
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed"), e
else:
    raise AssertionError("the module no longer checks the cache lengths: update this recipe")

# %%
# A class that is not a dataclass
# -------------------------------
#
# For any other class, ``torch.utils._pytree.register_pytree_node`` (a private module, with no
# public equivalent, as checked above) takes a function that splits an instance into a list of children and a
# context, and one that rebuilds it. Export also needs ``flatten_with_keys_fn``, which names
# each child, otherwise it fails when it flattens the inputs:

import torch.utils._pytree as pytree  # noqa: E402


class UnkeyedCache:
    def __init__(self, keys, values):
        self.keys, self.values = keys, values


pytree.register_pytree_node(
    UnkeyedCache,
    lambda c: ([c.keys, c.values], None),
    lambda children, context: UnkeyedCache(*children),
)
try:
    torch.export.export(model, (x, UnkeyedCache(cache.keys, cache.values)))
    raise AssertionError("export no longer needs flatten_with_keys_fn: update this recipe")
except ValueError as e:
    print(e)
    assert str(e).startswith("Did not find a flatten_with_keys_fn"), e

# %%
# With ``flatten_with_keys_fn``, the class behaves like the dataclass, with the same spec (the
# model returns a ``KVCache`` in both cases, since that is what ``forward`` builds):


class PlainCache:
    def __init__(self, keys, values):
        self.keys, self.values = keys, values


pytree.register_pytree_node(
    PlainCache,
    lambda c: ([c.keys, c.values], None),
    lambda children, context: PlainCache(*children),
    serialized_type_name="PlainCache",
    flatten_with_keys_fn=lambda c: (
        [(pytree.GetAttrKey("keys"), c.keys), (pytree.GetAttrKey("values"), c.values)],
        None,
    ),
)
plain_ep = torch.export.export(model, (x, PlainCache(cache.keys, cache.values)), dynamic_shapes=spec)
print(plain_ep.range_constraints)
for b, s, c in [(3, 1, 0), (4, 2, 7)]:
    new_x, new_cache = make_cache_inputs(batch=b, seq=s, cache_len=c)
    got = plain_ep.module()(new_x, PlainCache(new_cache.keys, new_cache.values))
    torch.testing.assert_close(got[0], model(new_x, new_cache)[0])
print("PlainCache matches eager")

# %%
# Prefer a dataclass and ``torch.export.register_dataclass`` when you own the class: it is
# public, and the fields give the children and their names for free.

# %%
# With ShapesSpec (2.15+)
# -----------------------
#
# In a ``ShapesSpec`` (``torch.fx.experimental.dynamic_spec``, experimental in torch 2.15), an
# ``ObjectSpec`` gives the shapes of a registered class's attributes by name:
# :ref:`recipe-shapes-spec-nested`.
