"""
.. _recipe-shapes-spec-nested:

A ``ShapesSpec`` for ints, dicts, lists, optional inputs and a cache object
===========================================================================

A decoder step takes more than tensors: a dict of features, a cache object holding keys and
values, a list of tensors, an int, an optional mask. With ``Dim``, ``dynamic_shapes`` mirrors
that structure with dicts, tuples and lists (:ref:`recipe-dynamic-shapes-structure`). With
``ShapesSpec``, each level has its own class: ``DictSpec`` for a dict, ``SeqSpec`` for a list or
a tuple, ``ObjectSpec`` for an object's attributes, ``IntVar`` for an int, and the
``@dynamic_spec`` decorator attaches the spec to ``forward`` itself.

This recipe exports one such step and checks each part. ``ShapesSpec`` lives in
``torch.fx.experimental.dynamic_spec``: it is **experimental** in torch 2.15, and each behaviour
below is pinned.
"""

import dataclasses
import re

import torch
from torch.fx.experimental.dynamic_spec import (
    STATIC,
    DictSpec,
    IntVar,
    ObjectSpec,
    SeqSpec,
    ShapesSpec,
    ShapeVar,
    TensorSpec,
    dynamic_spec,
)


@dataclasses.dataclass
class Cache:
    key: torch.Tensor
    value: torch.Tensor


torch.export.register_dataclass(Cache)


class DecoderStep(torch.nn.Module):
    def forward(self, features, cache, layers, keep, mask=None):
        key = torch.cat([cache.key, features["tokens"]], 1)
        value = torch.cat([cache.value, features["tokens"]], 1)
        out = key + value + layers[0].sum() + layers[1].sum()
        if mask is not None:
            out = out * mask.unsqueeze(-1)
        return out[:, -keep:], Cache(key, value)


def placeholder_shapes(ep):
    """The shape of each input of the program, its symbols without their numbers."""
    shapes = {}
    for node in ep.graph.find_nodes(op="placeholder"):
        value = node.meta["val"]
        text = str(list(value.shape)) if isinstance(value, torch.Tensor) else str(value)
        shapes[node.name] = re.sub(r"\b([su])\d+", r"\1", text)
    return shapes


step = DecoderStep()
inputs = ({"tokens": torch.randn(2, 3, 4)}, Cache(torch.randn(2, 5, 4), torch.randn(2, 5, 4)), [torch.randn(2, 4), torch.randn(3, 4)], 2)

# %%
# One spec for the whole structure
# --------------------------------
#
# The same ``ShapeVar`` for the batch in three places; ``SeqSpec`` lists one entry for the first
# tensor of ``layers`` only (the positions it does not list are static); ``IntVar`` makes the
# int ``keep`` an input of the program instead of a constant.

batch, past, seq = ShapeVar("batch"), ShapeVar("past"), ShapeVar("seq")
spec = ShapesSpec({
    "features": DictSpec({"tokens": TensorSpec([batch, seq, STATIC])}),
    "cache": ObjectSpec({"key": TensorSpec([batch, past, 4]), "value": TensorSpec([batch, past, 4])}),
    "layers": SeqSpec([TensorSpec([ShapeVar("rows"), 4])]),
    "keep": IntVar("keep", min=1),
})
ep = torch.export.export(step, inputs, dynamic_shapes=spec)
print(placeholder_shapes(ep))
assert placeholder_shapes(ep) == {
    "features_tokens": "[u, u, 4]",
    "cache_key": "[u, u, 4]",
    "cache_value": "[u, u, 4]",
    "layers_0": "[u, 4]",
    "layers_1": "[3, 4]",
    "keep": "u",
}, placeholder_shapes(ep)

# %%
# ``STATIC`` (an alias of ``None``) and an int both make a dimension static. The int ``keep`` is
# an unbacked symbol with the range of its ``IntVar`` (1 and more).

assert STATIC is None
print(sorted(str(r) for r in ep.range_constraints.values()))
assert "VR[1, int_oo]" in [str(r) for r in ep.range_constraints.values()], ep.range_constraints

# %%
# New sizes everywhere the spec says so, and a new ``keep``:

new_inputs = ({"tokens": torch.randn(3, 1, 4)}, Cache(torch.randn(3, 7, 4), torch.randn(3, 7, 4)),
              [torch.randn(5, 4), torch.randn(3, 4)], 3)
got, expected = ep.module()(*new_inputs), step(*new_inputs)
torch.testing.assert_close(got, expected)
print(got[0].shape, got[1].key.shape)
assert got[0].shape == (3, 3, 4) and isinstance(got[1], Cache), got

# %%
# The output cache comes back as a ``Cache``: the dataclass is registered with
# ``torch.export.register_dataclass``. The second tensor of ``layers`` is static:

try:
    ep.module()(*new_inputs[:2], [torch.randn(5, 4), torch.randn(4, 4)], 3)
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: layers[1].size()[0] == 3", e
else:
    raise AssertionError("the unlisted position of layers is now dynamic: update this recipe")

# %%
# A cache object must be registered
# ---------------------------------
#
# ``ObjectSpec`` walks the object as ``torch.utils._pytree`` flattens it, so the class must be
# registered (a dataclass with ``torch.export.register_dataclass``, another class with a pytree
# registration: see :ref:`recipe-custom-cache-class`). A plain class is refused before tracing:


class PlainCache:
    def __init__(self, key):
        self.key = key


class ReadKey(torch.nn.Module):
    def forward(self, cache):
        return cache.key * 2


try:
    torch.export.export(ReadKey(), (PlainCache(torch.randn(2, 4)),),
                        dynamic_shapes=ShapesSpec({"cache": ObjectSpec({"key": TensorSpec([ShapeVar("batch"), 4])})}))
    raise AssertionError("ObjectSpec now accepts an unregistered class: update this recipe")
except ValueError as e:
    print(e)
    assert "ObjectSpec requires the runtime value's type to be pytree-registered" in str(e), e

# %%
# Optional inputs
# ---------------
#
# A ``ShapesSpec`` names only the arguments passed: a spec for ``mask`` when ``mask`` is not
# passed is refused, and a passed ``mask`` takes a ``TensorSpec`` like any input (here the
# derived ``past + seq``, see :ref:`recipe-shapes-spec-derived-assumptions`).

try:
    torch.export.export(step, inputs, dynamic_shapes=ShapesSpec({"mask": TensorSpec([batch, past + seq])}))
    raise AssertionError("a spec for an argument that is not passed is now accepted: update this recipe")
except ValueError as e:
    print(e)
    assert "ParamsSpec has entries ['mask'] that do not match any argument passed to export()" in str(e), e

with_mask = ShapesSpec({
    "features": DictSpec({"tokens": TensorSpec([batch, seq, 4])}),
    "cache": ObjectSpec({"key": TensorSpec([batch, past, 4]), "value": TensorSpec([batch, past, 4])}),
    "mask": TensorSpec([batch, past + seq]),
})
ep = torch.export.export(step, inputs, {"mask": torch.ones(2, 8)}, dynamic_shapes=with_mask)
mask_inputs = (*new_inputs[:2], [torch.randn(2, 4), torch.randn(3, 4)], 2)
torch.testing.assert_close(ep.module()(*mask_inputs, mask=torch.ones(3, 8)), step(*mask_inputs, mask=torch.ones(3, 8)))
print(placeholder_shapes(ep)["keep"], placeholder_shapes(ep)["mask"])
assert placeholder_shapes(ep)["keep"] == "2" and placeholder_shapes(ep)["mask"] == "[u, u + u]", placeholder_shapes(ep)

# %%
# The program with a mask matches eager on a new batch and length; the mask's length is the sum
# of two symbols, ``past + seq``, in the program itself. Without ``IntVar`` in this spec, ``keep`` is a constant of the program (2), like every input the spec leaves out.
#
# ``@dynamic_spec`` on ``forward``
# --------------------------------
#
# The decorator keeps the spec next to the code it describes; ``torch.export.export`` then uses
# it without a ``dynamic_shapes`` argument:


class Scale(torch.nn.Module):
    @dynamic_spec({"x": TensorSpec([ShapeVar("batch"), 4])})
    def forward(self, x):
        return x * 2


ep = torch.export.export(Scale(), (torch.randn(2, 4),))
print(placeholder_shapes(ep))
assert placeholder_shapes(ep) == {"x": "[u, 4]"}, placeholder_shapes(ep)

# %%
# Passing ``dynamic_shapes`` as well is refused, whatever its form:

try:
    torch.export.export(Scale(), (torch.randn(2, 4),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    raise AssertionError("a decorated forward now takes dynamic_shapes too: update this recipe")
except ValueError as e:
    print(e)
    assert str(e).startswith("Both `@dynamic_spec(...)` is attached to the function/forward AND a `dynamic_shapes=`"), e
