"""
.. _recipe-float-item-condition:

"Could not guard on data-dependent expression Ne(zuf0, 0.0)": a float read from a tensor in an ``if``
=====================================================================================================

A model reads a scale from a tensor with ``.item()`` and divides by it, skipping the division
when the scale is zero: ``if s != 0.0``. Export stops on that line with "Could not guard on
data-dependent expression Ne(zuf0, 0.0)". It is the error of
:ref:`recipe-item-could-not-guard`, for a float: ``zuf0`` is a float read from a tensor, which
has no value while export traces.

This recipe shows the error, reads the symbol's name, and gives two fixes checked against eager
on new inputs: the condition written with tensor operations (``torch.where``), which keeps both
branches, and ``torch._check`` when the value is never zero.

Public reports of this kind: pytorch/executorch#12732 (a model built like the one reported
there compares such a float with ``0.0``; this page does not run that model).

The error
---------
"""

import contextlib
import io
import re

import torch
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode
from torch.utils._sympy.symbol import SymT, prefix_str

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class ScaledPoints(torch.nn.Module):
    """Divides the points by a scale given as a 0-d tensor, unless the scale is zero."""

    def forward(self, points, scale):
        s = scale.item()
        if s != 0.0:
            return points / s
        return points


model = ScaledPoints()
points, scale = torch.arange(12.0).reshape(4, 3), torch.tensor(2.0)
spec = ({0: Dim("points")}, None)
try:
    with contextlib.redirect_stderr(io.StringIO()):  # the graph traced up to the failure
        torch.export.export(model, (points, scale), dynamic_shapes=spec)
    raise AssertionError("export now decides `if s != 0.0` on a float read from a tensor: update this recipe")
except GuardOnDataDependentSymNode as e:
    lines = str(e).splitlines()
    caused_by = next(line for line in lines if line.startswith("Caused by:"))
    print(lines[0])
    # The path in "Caused by" depends on where this file is: keep its file name only.
    print("Caused by: (...", caused_by.rsplit("/", 1)[-1])
assert re.match(r"Could not guard on data-dependent expression Ne\(zuf\d+, 0\.0\)", lines[0]), lines[0]
assert caused_by.endswith(" in forward)"), caused_by

# %%
# How to read it
# --------------
#
# * ``Ne(zuf0, 0.0)`` is ``s != 0.0``: ``Ne`` is "not equal", and the ``if`` needs it as
#   ``True`` or ``False``.
# * The prefix of a symbol says what it stands for. ``s`` is a dimension of an input, ``u`` an
#   integer read from a tensor (an *unbacked* integer: no example value backs it), and ``zuf`` an
#   unbacked float: a Python ``float`` read from a tensor, here by ``.item()`` on a float tensor.
#   The table is in a private module of PyTorch, ``torch.utils._sympy.symbol``:

print({kind.name: prefix_str[kind] for kind in (SymT.SIZE, SymT.UNBACKED_INT, SymT.UNBACKED_FLOAT)})
assert prefix_str[SymT.UNBACKED_FLOAT] == "zuf" and prefix_str[SymT.UNBACKED_INT] == "u"

# %%
# * ``Caused by`` names the line of the ``if``; that is where a fix goes. The hint about
#   ``guard_or_false`` and ``guard_or_true`` (printed under data-dependent errors) names tools
#   that answer without a guard, which is right only when both branches give the same result:
#   not here, where one branch divides by the scale.
#
# Fix 1: the condition as tensor operations
# -----------------------------------------
#
# When both branches are needed (a zero scale happens and must leave the points unchanged),
# keep the value in a tensor and let ``torch.where`` pick, element by element, at run time.
# Nothing needs a Python ``bool``, so there is nothing to guard. The divisor is replaced by 1
# where the scale is zero, so that no ``inf`` is computed even in the branch that is not kept:


class ScaledPointsWhere(torch.nn.Module):
    def forward(self, points, scale):
        nonzero = scale != 0
        return torch.where(nonzero, points / torch.where(nonzero, scale, 1.0), points)


where_model = ScaledPointsWhere()
where_ep = torch.export.export(where_model, (points, scale), dynamic_shapes=spec)
print(where_ep.graph_module.code)
assert "aten.item" not in where_ep.graph_module.code and "aten.where" in where_ep.graph_module.code
new_inputs = [(torch.randn(7, 3), torch.tensor(0.5)), (torch.randn(2, 3), torch.tensor(0.0)), (torch.randn(9, 3), torch.tensor(-3.0))]
check_against_eager(where_ep, model, new_inputs)

# %%
# The graph has no ``item`` and no branch: the program matches the original model in eager mode
# on 7, 2 and 9 points, with a zero scale among them. For branches that compute different
# things, rather than choosing between two values of the same shape, see ``torch.cond``
# (:ref:`recipe-cond-on-tensor-value`).
#
# Fix 2: ``torch._check`` when the value is never zero
# ----------------------------------------------------
#
# If the caller never passes a zero scale, say so before the ``if``. ``torch._check`` works on a
# float condition as on an integer one: export takes the condition as known, traces the division
# only, and keeps the condition as a runtime assertion of the program:


class ScaledPointsChecked(torch.nn.Module):
    def forward(self, points, scale):
        s = scale.item()
        torch._check(s != 0.0)
        if s != 0.0:
            return points / s
        return points


checked = ScaledPointsChecked()
checked_ep = torch.export.export(checked, (points, scale), dynamic_shapes=spec)
check_against_eager(checked_ep, model, [inputs for inputs in new_inputs if inputs[1] != 0])
try:
    checked_ep.module()(points, torch.tensor(0.0))
    raise AssertionError("the checked program now accepts a zero scale: update this recipe")
except RuntimeError as e:
    print(e)
    assert re.match(r"Runtime assertion failed for expression Ne\(zuf\d+, 0\)", str(e)), e

# %%
# The program matches eager on the non-zero scales and refuses a zero scale, which eager
# accepts: the check narrowed the program to what was promised. Prefer fix 1 when zero can
# happen.
#
# Summary
# -------
#
# 1. ``zuf`` in the expression is a float read from a tensor (``.item()``), ``u`` an integer.
# 2. A Python ``if`` on it cannot be traced. Keep the value in a tensor and select with
#    ``torch.where`` (both branches kept), or ``torch._check`` the condition when it always holds.
