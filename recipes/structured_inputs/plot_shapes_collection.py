"""
.. _recipe-shapes-collection:

How do I give dynamic dims to tensors deep inside nested inputs? ``ShapesCollection``
=====================================================================================

A model takes a dict holding an image and a list of text tensors, plus a keyword argument. A
``dynamic_shapes`` spec must copy that nesting exactly (a dict with the argument names, in it a
dict, in it a list...), and every mismatch is an error. ``torch.export.ShapesCollection`` lets
you skip the nesting: you assign a spec to each *tensor object* (``sc[tensor] = {0: batch}``)
and it builds the nested spec for you. This recipe exports with it, prints the spec it builds,
and shows its three traps: a tensor that is not the very object passed to export, a key that is
not a tensor, and a tensor you forgot.

The model and a ``ShapesCollection``
------------------------------------
"""

import torch

Dim = torch.export.Dim


class Model(torch.nn.Module):
    def forward(self, inputs, mask=None):
        image = inputs["image"].flatten(1).sum(dim=1, keepdim=True)
        text = inputs["text"][0] * inputs["text"][1]
        return (image + text) * mask


def make_image_text_inputs(batch, text_len):
    inputs = {"image": torch.randn(batch, 3, 4), "text": [torch.randn(batch, text_len), torch.randn(batch, text_len)]}
    return (inputs,), {"mask": torch.randn(batch, 1)}


def check_against_eager_with_kwargs(ep, model, args_and_kwargs):
    """The exported program gives what eager gives on each pair of new (args, kwargs)."""
    module = ep.module()
    for args, kwargs in args_and_kwargs:
        torch.testing.assert_close(module(*args, **kwargs), model(*args, **kwargs))
    print(f"the exported program matches eager on {len(args_and_kwargs)} new input sets")


model = Model()
args, kwargs = make_image_text_inputs(batch=2, text_len=5)
inputs, mask = args[0], kwargs["mask"]

batch, text_len = Dim("batch"), Dim("text_len")
sc = torch.export.ShapesCollection()
sc[inputs["image"]] = {0: batch}
sc[inputs["text"][0]] = {0: batch, 1: text_len}
sc[inputs["text"][1]] = {0: batch, 1: text_len}
sc[mask] = {0: batch}
print(sc.dynamic_shapes(model, args, kwargs))

# %%
# ``sc.dynamic_shapes(model, args, kwargs)`` is the nested spec that ``export`` builds from the
# collection: the top-level keys are the argument names of ``forward``, and the spec of each
# tensor sits where the tensor sits in the inputs. Pass the collection itself as
# ``dynamic_shapes``:

ep = torch.export.export(model, args, kwargs, dynamic_shapes=sc)
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[0, int_oo]"] * 2, ep.range_constraints

check_against_eager_with_kwargs(ep, model, [make_image_text_inputs(batch=b, text_len=t) for b, t in [(3, 1), (5, 7), (1, 4)]])

# %%
# Two symbols, ``batch`` and ``text_len``, each from 0 (the default ``min`` of a named
# ``Dim``); the program matches eager on new batch sizes and text lengths.
#
# A copy of an input tensor is not the input
# ------------------------------------------
#
# The collection is keyed by the tensor *object*, not by its values or its shape. A tensor that
# is not passed to ``export``, even an exact copy of an input, is not found:

copy_sc = torch.export.ShapesCollection()
copy_sc[inputs["image"].clone()] = {0: batch}
try:
    torch.export.export(model, args, kwargs, dynamic_shapes=copy_sc)
    raise AssertionError("a copied tensor is now found: update this recipe")
except ValueError as e:
    print(e)
    assert str(e).startswith("Some tensors that were assigned shapes were not found in args"), e

# %%
# This happens as soon as the inputs are built twice, for instance by calling a helper such as
# ``make_image_text_inputs`` once for the collection and once for ``export``. Fill the collection from the
# very objects you pass to ``export``.
#
# Only tensors can be keys
# ------------------------
#
# An ``int`` input cannot be a key: the assignment itself fails, with an ``AssertionError``.
# (Integers need a wrapper, ``_IntWrapper``, to be told apart, and the message names it; its
# name says it is private, so prefer a nested spec for a model with int inputs.)

try:
    sc[3] = {0: batch}
except AssertionError as e:
    print(e)
    assert str(e).startswith("Cannot assign shape to non-tensor or non-_IntWrapper type"), e
else:
    raise AssertionError("ShapesCollection now accepts an int key: update this recipe")

# %%
# A forgotten tensor is static
# ----------------------------
#
# Every tensor not in the collection gets the spec ``None``: all its dimensions are static.
# Forget ``mask``, and its batch dimension is fixed to 2; since ``mask`` is multiplied with the
# other tensors, their batch must be 2 as well, which contradicts ``batch``:

partial_sc = torch.export.ShapesCollection()
partial_sc[inputs["image"]] = {0: batch}
partial_sc[inputs["text"][0]] = {0: batch, 1: text_len}
partial_sc[inputs["text"][1]] = {0: batch, 1: text_len}
try:
    torch.export.export(model, args, kwargs, dynamic_shapes=partial_sc)
    raise AssertionError("a forgotten tensor no longer specializes batch: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert "You marked batch as dynamic but your code specialized it to be a constant (2)" in str(e), e

# %%
# ``torch._dynamo.exc.UserError`` is the class ``export`` raises for spec problems (a private
# class, a subclass of ``RuntimeError``: see :ref:`recipe-bounded-dim-min-max`). The message names the ``Dim`` but not the forgotten
# tensor, and its suggested fix, ``batch = 2``, would make the whole program static. Print
# ``partial_sc.dynamic_shapes(model, args, kwargs)`` and look for a ``None`` instead: here
# ``'mask': None``. The fix is the collection of the first cell, which assigns ``mask`` too.

print(partial_sc.dynamic_shapes(model, args, kwargs))

# %%
# With ShapesSpec (2.15+)
# -----------------------
#
# ``ShapesCollection`` builds the ``Dim`` form only. For a ``ShapesSpec``
# (``torch.fx.experimental.dynamic_spec``, experimental in torch 2.15), write the spec by hand:
# :ref:`recipe-shapes-spec-migration` pins both, and :ref:`recipe-shapes-spec-nested` writes
# one for dicts, lists and cache objects.
