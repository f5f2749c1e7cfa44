"""
.. _recipe-derived-dim-min-value:

"Expected derived min value of dx - 1 to be >= 0": a derived ``Dim`` that can go below zero
===========================================================================================

A model built like the shift of a causal language model takes a sequence of ``n`` positions and
a second input one position shorter (the targets of the next token, say): it drops the first
position of the sequence and combines the rest with the second input. The spec writes the
relation as a derived dimension, ``dx`` and ``dx - 1`` (see :ref:`recipe-derived-dims`), and
``torch.export.export`` raises an ``AssertionError``: "Expected derived min value of dx - 1 to be
>= 0. Please specify an appropriate min value for dx (currently 0)."

This recipe reads the message, then gives two fixes, each checked against eager on new shapes:
a ``min`` on the root ``Dim`` (which needs a ``max`` too on torch 2.15, or export crashes with a
``KeyError``), or the shorter size as the root, ``dx = dy + 1``. It ends with the same message on
the ``max`` side.

The model and the error
-----------------------
"""

import sys
import traceback

import torch

Dim = torch.export.Dim


class ShiftByOne(torch.nn.Module):
    """Drops the first position of ``x`` (batch, n) and adds ``y`` (batch, n - 1)."""

    def forward(self, x, y):
        return x[:, 1:] + y


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def random_inputs(*shapes):
    """A tuple of random tensors, one per shape."""
    return tuple(torch.randn(*shape) for shape in shapes)


def check_refuses_one_target(ep, spec):
    """The program refuses a sequence of 2 positions (one target): its guard says that the length
    of ``y`` is not 1 (the guard error ends in ``!= 1``)."""
    try:
        ep.module()(torch.randn(2, 2), torch.randn(2, 1))
    except AssertionError as e:
        assert str(e).startswith("Guard failed") and str(e).endswith("!= 1"), e
        print(f"{spec}: a target of length 1 is refused by a guard ending in != 1")
    else:
        raise AssertionError(f"a target of length 1 is now accepted ({spec}): update this recipe")


def length_ranges(ep):
    """The range of dimension 1 (the length) of each input of the program, in order."""
    return [
        str(ep.range_constraints[node.meta["val"].shape[1].node.expr])
        for node in ep.graph.nodes
        if node.op == "placeholder"
    ]


model = ShiftByOne()
x, y = torch.randn(2, 5), torch.randn(2, 4)

dx = Dim("dx")
try:
    torch.export.export(model, (x, y), dynamic_shapes=({1: dx}, {1: dx - 1}))
except AssertionError as e:
    message = str(e)
    print(message)
    assert "Expected derived min value of dx - 1 to be >= 0" in message, message
    assert "Please specify an appropriate min value for dx (currently 0)" in message, message
else:
    raise AssertionError("a derived Dim that can go below zero now exports: update this recipe")

# %%
# How to read it
# --------------
#
# ``dx - 1`` is a *derived* dimension: its range is the range of its *root*, ``dx``, shifted by
# -1. A ``Dim`` without ``min`` starts at 0, so the smallest value of ``dx - 1`` would be -1, and
# no tensor has a size of -1. The message names the derived expression (``dx - 1``), the root
# whose ``min`` is to change (``dx``) and that root's current ``min`` (0, the default).
#
# The check belongs to the derived ``Dim`` itself, not to the model: reading its ``min`` raises
# the same error, with no model and no export. With ``min=1`` (and ``max=4096``) on the root,
# ``dx - 1`` runs from 0, a valid size, to 4095.

print(repr(Dim("dx")), Dim("dx").min)
assert Dim("dx").min == 0
shifted = Dim("dx") - 1
try:
    shifted.min
except AssertionError as e:
    print(e)
    assert str(e) == message, (str(e), message)
else:
    raise AssertionError("dx - 1 now has a minimum below zero: update this recipe")

shifted_from_one = Dim("dx", min=1, max=4096) - 1
print(shifted_from_one.min, shifted_from_one.max)
assert (shifted_from_one.min, shifted_from_one.max) == (0, 4095)

# %%
# Fix 1: a ``min`` on the root, and on torch 2.15 a ``max`` too
# -------------------------------------------------------------
#
# The message asks for a ``min`` on ``dx``. ``Dim("dx", min=1)`` is the smallest that fits, and on
# the pinned release export then crashes with ``KeyError: 'max'``, whatever the ``min``:

for low in (1, 3):
    dx = Dim("dx", min=low)
    try:
        torch.export.export(model, (x, y), dynamic_shapes=({1: dx}, {1: dx - 1}))
        raise AssertionError(f"min={low} without a max now exports: update this recipe")
    except KeyError as e:
        frames = [frame.name for frame in traceback.extract_tb(e.__traceback__)]
        print(f"min={low}:", repr(e), "raised in", frames[-1], "called by", frames[-2])
        assert e.args == ("max",), e
        assert frames[-2:] == ["prettify_results", "_process_derived_dim_roots"], frames

# %%
# The model is not the problem: the ``KeyError`` comes from ``prettify_results``, an internal
# function of ``torch.fx.experimental.symbolic_shapes`` that formats export's report on the
# dimensions after the trace. Its helper ``_process_derived_dim_roots`` looks up a ``"max"`` for the derived
# ``dx - 1`` that is missing when the root has no ``max`` (see
# :ref:`recipe-export-crashes-in-shape-machinery` for other crashes of this kind). A ``max`` on the
# root avoids it. Pick the longest sequence the model serves, here 4096 positions (the list gives
# the range of the length of ``x``, then of ``y``):

dx = Dim("dx", min=1, max=4096)
ep = torch.export.export(model, (x, y), dynamic_shapes=({1: dx}, {1: dx - 1}))
print(length_ranges(ep))
assert length_ranges(ep) == ["VR[1, 4096]", "VR[0, 4095]"], ep.range_constraints

# %%
# ``x`` takes 1 to 4096 positions and ``y`` one fewer, 0 to 4095. But the program refuses a
# sequence of 2 positions (one target): its guard error ends in ``!= 1`` (``y`` is not of length 1).

check_refuses_one_target(ep, "dx - 1, dx in [1, 4096]")

# %%
# Adding a tensor with a size of 1 broadcasts it, so export assumed that the length of ``y`` is
# not 1 while tracing, and the program checks it (the 0/1 assumption:
# :ref:`recipe-zero-one-specialization`). The range cannot say "every length but 2". Give the
# root the real minimum of the exported program instead, here 3 positions (two targets): the
# ranges then start at the shortest lengths the program accepts, and the ``min`` is checked on
# every call.

dx = Dim("dx", min=3, max=4096)
root_min_ep = torch.export.export(model, (x, y), dynamic_shapes=({1: dx}, {1: dx - 1}))
print(length_ranges(root_min_ep))
assert length_ranges(root_min_ep) == ["VR[3, 4096]", "VR[2, 4095]"], root_min_ep.range_constraints
check_against_eager(root_min_ep, model, [random_inputs((2, 3), (2, 2)), random_inputs((2, 17), (2, 16)), random_inputs((2, 4096), (2, 4095))])

try:
    root_min_ep.module()(torch.randn(2, 2), torch.randn(2, 1))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed") and str(e).endswith(">= 3"), e
else:
    raise AssertionError("min=3 is no longer checked: update this recipe")

# %%
# Fix 2: the shorter size as the root
# -----------------------------------
#
# Turn the relation around: give the ``Dim`` to the shorter input and derive the longer one,
# ``dx = dy + 1``. A derived dimension that adds to its root can never go below the root's
# minimum, so the default ``min=0`` is fine, and this spec exports without a ``max``:

dy = Dim("dy")
dx = dy + 1
ep = torch.export.export(model, (x, y), dynamic_shapes=({1: dx}, {1: dy}))
print(length_ranges(ep))
assert length_ranges(ep) == ["VR[1, int_oo]", "VR[0, int_oo]"], ep.range_constraints

# %%
# ``int_oo`` is no upper bound. The same guard refuses a single target here too:

check_refuses_one_target(ep, "dy as the root")

# %%
# so give the shorter size the real minimum of the exported program, 2 targets:

dy = Dim("dy", min=2)
root_dy_ep = torch.export.export(model, (x, y), dynamic_shapes=({1: dy + 1}, {1: dy}))
print(length_ranges(root_dy_ep))
assert length_ranges(root_dy_ep) == ["VR[3, int_oo]", "VR[2, int_oo]"], root_dy_ep.range_constraints
check_against_eager(root_dy_ep, model, [random_inputs((2, 3), (2, 2)), random_inputs((2, 17), (2, 16)), random_inputs((2, 5000), (2, 4999))])

# %%
# Which one keeps the range you want?
# -----------------------------------
#
# Both give the same ranges when the sizes are bounded: ``Dim("dx", min=3, max=4096)`` with
# ``dx - 1`` and ``Dim("dy", min=2, max=4095)`` with ``dy + 1`` have the same ranges.

dy = Dim("dy", min=2, max=4095)
bounded_dy_ep = torch.export.export(model, (x, y), dynamic_shapes=({1: dy + 1}, {1: dy}))
print(length_ranges(bounded_dy_ep))
assert length_ranges(bounded_dy_ep) == length_ranges(root_min_ep), (bounded_dy_ep.range_constraints, root_min_ep.range_constraints)

# %%
# Without an upper bound (``int_oo``), only the shorter size as the root exports on torch 2.15:
# the first fix needs a ``max`` (the ``KeyError`` above), and the second keeps ``int_oo``. So, when the
# sequence has no natural maximum, make the shorter size the root (``dy = Dim("dy", min=2)``,
# ``dx = dy + 1``); when it has one (a context length), either spec gives the same ranges, and
# the ``min`` goes on the root whichever way round you write it: the shortest ``y`` is
# ``min - 1`` of the ``dx`` root, or the ``min`` of the ``dy`` root.
#
# The max side: "Expected derived max value"
# ------------------------------------------
#
# The same check runs on the ``max`` of a derived dimension, which must be at most
# ``sys.maxsize - 1`` (9223372036854775806 on a 64-bit machine). Writing "no limit" as that
# largest size, ``max=sys.maxsize - 1``, leaves no room for ``dy + 1``:

dy = Dim("dy", min=2, max=sys.maxsize - 1)
try:
    torch.export.export(model, (x, y), dynamic_shapes=({1: dy + 1}, {1: dy}))
except AssertionError as e:
    print(e)
    assert f"Expected derived max value of dy + 1 to be <= {sys.maxsize - 1}" in str(e), e
    assert "Please specify an appropriate max value for dy" in str(e), e
else:
    raise AssertionError("a derived Dim above sys.maxsize now exports: update this recipe")

# %%
# A multiplied ``Dim`` reaches it from half that size: ``2 * d`` with ``Dim("d", max=2**62)`` (the
# derived ``Dim`` raises as soon as its ``max`` is read):

doubled = 2 * Dim("d", max=2**62)
try:
    doubled.max
except AssertionError as e:
    print(e)
    assert "Expected derived max value of 2*d" in str(e), e
    assert "Please specify an appropriate max value for d" in str(e), e
else:
    raise AssertionError("2 * d above sys.maxsize now has a max: update this recipe")

# %%
# Leave ``max`` out for no upper bound: the default is ``int_oo``, and a derived dimension of an
# unbounded root is unbounded too (as in the second fix above). Or give the real maximum.

print(Dim("dy").max, (Dim("dy") + 1).max, (2 * Dim("d")).max)
assert [str(bound) for bound in (Dim("dy").max, (Dim("dy") + 1).max, (2 * Dim("d")).max)] == ["int_oo"] * 3

# %%
# Summary
# -------
#
# ========================================================  ===========================================
# spec                                                      result on torch 2.15
# ========================================================  ===========================================
# ``Dim("dx")``, ``dx - 1``                                 ``AssertionError``: derived min below 0
# ``Dim("dx", min=1)``, ``dx - 1``                          ``KeyError: 'max'`` inside export
# ``Dim("dx", min=3, max=4096)``, ``dx - 1``                exports: ``[3, 4096]`` and ``[2, 4095]``
# ``Dim("dy", min=2)``, ``dy + 1``                          exports: ``[3, int_oo]`` and ``[2, int_oo]``
# ``Dim("dy", min=2, max=sys.maxsize - 1)``, ``dy + 1``     ``AssertionError``: derived max too large
# ========================================================  ===========================================
#
# A derived ``Dim`` that subtracts needs a ``min`` on its root; on torch 2.15 it needs a ``max``
# too, or the shorter size as the root.
