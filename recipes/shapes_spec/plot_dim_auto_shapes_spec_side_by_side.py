"""
.. _recipe-shapes-spec-side-by-side:

``Dim``, ``Dim.AUTO`` or ``ShapesSpec``? The same model three ways
==================================================================

``torch.export.export``'s docstring in 2.15 introduces a third way to write ``dynamic_shapes``,
``ShapesSpec``, and calls it "the recommended way to specify dynamic shapes for export going
forward". You already write ``{0: Dim("batch")}`` or ``{0: Dim.AUTO}``: what changes if you switch?

This recipe exports one small model three ways and compares what you get: the range of the
batch, the kind of symbol (``s`` for ``Dim``, ``u`` for ``ShapesSpec``), the batches each program
accepts, and then two models where the three ways part: a branch on the batch size, where
``Dim.AUTO`` silently narrows the range and ``ShapesSpec`` stops export, and a size forced by a
weight, where neither stops export.

``ShapesSpec`` lives in ``torch.fx.experimental.dynamic_spec``: it is **experimental** in torch
2.15, so each behaviour below is pinned, and the page will say when a release changes it.
"""

import contextlib
import io
import re

import torch
from torch.fx.experimental.dynamic_spec import ShapesSpec, ShapeVar, TensorSpec

Dim = torch.export.Dim


class Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.linear(x).relu()


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def batch_range(ep):
    """The batch's symbol (its name without the number: ``s`` or ``u``) and its range."""
    ((symbol, value_range),) = ep.range_constraints.items()
    return re.sub(r"\d+", "", str(symbol)), str(value_range)


model = Classifier().eval()
example = (torch.randn(4, 8),)

# %%
# The three specs
# ---------------
#
# A ``ShapesSpec`` names the arguments of ``forward`` (here ``x``) and gives one entry per
# dimension of each tensor: a ``ShapeVar`` for a dynamic size, an int for a fixed one.

by_name = torch.export.export(model, example, dynamic_shapes=({0: Dim("batch")},))
by_auto = torch.export.export(model, example, dynamic_shapes=({0: Dim.AUTO},))
batch = ShapeVar("batch")
by_spec = torch.export.export(model, example, dynamic_shapes=ShapesSpec({"x": TensorSpec([batch, 8])}))
for name, ep in (("Dim('batch')", by_name), ("Dim.AUTO", by_auto), ("ShapesSpec", by_spec)):
    print(f"{name:13} {ep.range_constraints}")

# %%
# The module and the documentation's word for it:

print(ShapesSpec.__module__)
assert ShapesSpec.__module__ == "torch.fx.experimental.dynamic_spec"
docstring = " ".join(torch.export.export.__doc__.split())
assert "is the recommended way to specify dynamic shapes for export going forward" in docstring

# %%
# Ranges and symbols
# ------------------
#
# A named ``Dim`` and a ``ShapeVar`` both start at 0 (a ``ShapeVar``'s ``min`` defaults to 0);
# ``Dim.AUTO`` infers a range that starts at 2. The symbols differ: ``Dim`` gives *backed*
# symbols (``s``: export traced with the example's value at hand), ``ShapesSpec`` gives
# *unbacked* ones (``u``: export traced without any value, the way it treats the result of
# ``.item()``).

assert batch_range(by_name) == ("s", "VR[0, int_oo]"), by_name.range_constraints
assert batch_range(by_auto) == ("s", "VR[2, int_oo]"), by_auto.range_constraints
assert batch_range(by_spec) == ("u", "VR[0, int_oo]"), by_spec.range_constraints

# %%
# What each accepts at run time
# -----------------------------
#
# On this model the three programs accept the same batches, including 0 and 1, and match eager.
# ``Dim.AUTO``'s lower bound 2 is not checked when the program runs.

new_batches = [(torch.randn(0, 8),), (torch.randn(1, 8),), (torch.randn(5, 8),)]
for ep in (by_name, by_auto, by_spec):
    check_against_eager(ep, model, new_batches)

# %%
# Where they part: a branch on the batch size
# -------------------------------------------
#
# A model that takes a shortcut for small batches asks a question about the size,
# ``x.shape[0] > 2``. With a backed symbol, export answers it from the example (4 rows: yes) and
# keeps the answer as a condition on the program.


class SmallBatchShortcut(torch.nn.Module):
    def forward(self, x):
        if x.shape[0] > 2:
            return x * 2
        return x


shortcut = SmallBatchShortcut()
auto_ep = torch.export.export(shortcut, example, dynamic_shapes=({0: Dim.AUTO},))
print(auto_ep.range_constraints)
assert batch_range(auto_ep) == ("s", "VR[3, int_oo]"), auto_ep.range_constraints

# %%
# ``Dim.AUTO`` narrowed the range to 3 and more without a word: the program refuses a batch of 2
# that the eager model handles. (A named ``Dim`` refuses such a narrowing at export and suggests
# a ``min``: see :ref:`recipe-suggested-fixes`.)

try:
    auto_ep.module()(torch.randn(2, 8))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] >= 3", e
else:
    raise AssertionError("the Dim.AUTO program now accepts batch 2: update this recipe")

# %%
# ``ShapesSpec`` has no value to answer with: the size is unbacked, so export stops with a
# data-dependent error, the one of ``.item()`` (see :ref:`recipe-item-could-not-guard`), with a
# last paragraph that names ``ShapesSpec``:

try:
    with contextlib.redirect_stderr(io.StringIO()):  # the graph traced up to the failure: see below
        torch.export.export(shortcut, example, dynamic_shapes=ShapesSpec({"x": TensorSpec([ShapeVar("batch"), 8])}))
    raise AssertionError("ShapesSpec now exports the branch on the batch: update this recipe")
except torch.fx.experimental.symbolic_shapes.GuardOnDataDependentSymNode as e:
    message = str(e)
    print(message.splitlines()[0], "...", *[line for line in message.splitlines() if "ShapesSpec" in line], sep="\n")
assert message.startswith("Could not guard on data-dependent expression"), message
assert "The ShapesSpec/ParamsSpec dynamic-shapes API is in use." in message, message

# %%
# Before raising, export prints on stderr the graph it traced up to the failing line; the recipe
# keeps it off the page (``contextlib.redirect_stderr``).
#
# This is what the docstring means by "no silent specialization": a program exported with a
# ``ShapesSpec`` does not carry a condition you did not write. The fix is yours to choose: a
# ``min`` on the ``ShapeVar`` (``ShapeVar("batch", min=3)``), or ``torch._check`` in the model
# (see :ref:`recipe-shapes-spec-size-one`). With ``min=3`` the range is the one you declared:

ep = torch.export.export(shortcut, example, dynamic_shapes=ShapesSpec({"x": TensorSpec([ShapeVar("batch", min=3), 8])}))
assert batch_range(ep) == ("u", "VR[3, int_oo]"), ep.range_constraints
check_against_eager(ep, shortcut, [(torch.randn(3, 8),), (torch.randn(7, 8),)])

# %%
# Where none of them stops export: a size forced by a weight
# ----------------------------------------------------------
#
# A model that adds a weight of shape ``(4, 8)`` can only take a batch of 4. ``Dim.AUTO`` makes
# the batch static; a named ``Dim`` raises "specialized it to be a constant (4)" (see
# :ref:`recipe-specialized-to-constant`). ``ShapesSpec`` neither raises nor makes the input
# static: it keeps a ``u`` symbol whose range is exactly 4 to 4, and the program checks it.


class PerRowBias(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(4, 8))

    def forward(self, x):
        return x + self.bias


biased = PerRowBias()
ep = torch.export.export(biased, example, dynamic_shapes=ShapesSpec({"x": TensorSpec([ShapeVar("batch"), 8])}))
print(ep.range_constraints)
assert batch_range(ep) == ("u", "VR[4, 4]"), ep.range_constraints
try:
    ep.module()(torch.randn(5, 8))
    raise AssertionError("the ShapesSpec program now accepts batch 5: update this recipe")
except RuntimeError as e:
    message = str(e)
    print(message)
assert message.startswith("Runtime assertion failed for expression"), message
assert " <= 4 on node" in message, message

# %%
# So read ``ep.range_constraints`` after any export: a range of one value means the dimension is
# not dynamic, whatever the spec said.
#
# Summary
# -------
#
# ==========================  ================  =======================
# on torch 2.15               ``Dim.AUTO``      ``ShapesSpec``
# ==========================  ================  =======================
# symbol                      ``s`` (backed)    ``u`` (unbacked)
# range, plain model          2 to ∞            0 to ∞ (``min``/``max``)
# branch ``x.shape[0] > 2``   range 3 to ∞,     data-dependent error
#                             silently
# weight of 4 rows            static 4          range 4 to 4, checked
# ==========================  ================  =======================
#
# A named ``Dim`` has an ``s`` symbol and the range 0 to ∞ here (pinned above); where ``Dim.AUTO``
# narrows or makes a size static, a named ``Dim`` stops export with "Constraints violated" and
# suggested fixes (:ref:`recipe-suggested-fixes`, :ref:`recipe-specialized-to-constant`).
