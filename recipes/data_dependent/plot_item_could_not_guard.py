"""
.. _recipe-item-could-not-guard:

Could not guard on data-dependent expression: ``.item()`` in a condition or as a size
=====================================================================================

A model receives a padded buffer ``x`` and the number of valid entries as a 0-d tensor. It reads
that number with ``.item()``, checks it, and uses it as a size. Export stops on the check with
"Could not guard on data-dependent expression u0 < 0": a Python ``if`` needs a ``True`` or
``False``, and while tracing ``u0`` has no value.

This recipe shows that using the number as a size exports by itself, reads the error raised by the
condition, and fixes it with ``torch._check``: the checks give ``u0`` a range (``VR[0, 12]``) that
decides the condition, and become runtime assertions in the exported program. It ends with the
deprecation of ``torch._check_is_size``.

``.item()`` as a size
---------------------
"""

import warnings

import torch
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode


def runtime_asserts(ep):
    """The messages of the graph's ``_assert_scalar`` nodes."""
    return [node.args[1] for node in ep.graph.nodes if node.target == torch.ops.aten._assert_scalar.default]


class Scores(torch.nn.Module):
    def forward(self, x, length):
        k = length.item()
        return torch.cat([x[:k] * 2, x.new_zeros(k)])


x, length = torch.arange(12.0), torch.tensor(4)
size_ep = torch.export.export(Scores(), (x, length))
print(size_ep.graph_module.code)
print(size_ep.range_constraints)
assert {str(k): str(v) for k, v in size_ep.range_constraints.items()} == {"u0": "VR[0, int_oo]", "u1": "VR[0, 12]"}

# %%
# ``k`` is the unbacked symbol ``u0`` (``item`` in the graph). Export does not need its value to
# slice ``x`` or to create ``new_zeros(k)``: sizes are symbolic anyway. ``x[:k]`` gets a symbol of
# its own, ``u1``: slicing clamps ``k`` to the 12 rows of ``x``, so its size is somewhere in
# ``[0, 12]``. The graph asserts what each size requires (``u0 >= 0``, ``0 <= u1 <= 12``), and
# checks it when the program runs:

try:
    size_ep.module()(x, torch.tensor(-1))
    raise AssertionError("a negative length no longer reaches an assertion: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e) == "Runtime assertion failed for expression u0 >= 0 on node 'ge'", e

# %%
# The range printed above for ``u0``, ``VR[0, int_oo]``, says what export knows about the value of
# ``.item()``: nothing but the lower bound.
#
# ``.item()`` in a condition
# --------------------------
#
# The real model validates the length before using it, as eager code should:


class CheckedScores(torch.nn.Module):
    def forward(self, x, length):
        k = length.item()
        if k < 0 or k > x.shape[0]:
            raise ValueError(f"length must be in [0, {x.shape[0]}], got {k}")
        return torch.cat([x[:k] * 2, x.new_zeros(k)])


model = CheckedScores()
try:
    torch.export.export(model, (x, length))
    raise AssertionError("export now decides `if u0 < 0` without a value: update this recipe")
except GuardOnDataDependentSymNode as e:
    lines = str(e).splitlines()
    print("\n".join(lines[:3]))
    assert lines[0].startswith("Could not guard on data-dependent expression u0 < 0"), lines[0]
    # The path in "Caused by" depends on where the file is: keep its file name only.
    assert lines[3].startswith("Caused by:") and lines[3].endswith(" in forward)"), lines[3]
    print("Caused by: (...", lines[3].rsplit("/", 1)[-1])

# %%
# The exception class is ``torch.fx.experimental.symbolic_shapes.GuardOnDataDependentSymNode``, a
# subclass of ``RuntimeError``. How to read it:
#
# * ``u0 < 0`` is the expression export had to turn into ``True`` or ``False``: the first half of
#   the ``if``. ``u0`` is the value of ``.item()``: the first unbacked symbol of the trace.
#   *Guarding* means deciding a condition from the example's values and recording that decision.
#   An unbacked symbol has no example value, so there is nothing to decide from.
# * ``(unhinted: u0 < 0)`` is the same expression without any substitution, and
#   ``Size-like symbols: none`` lists the symbols known to be sizes (none here).
# * ``Caused by`` names the file and line of the ``if`` (its path is shortened here).
# * The hint about ``guard_or_false`` and ``statically_known_true`` is for PyTorch developers
#   writing framework code; in a model, the tool is ``torch._check``.
#
# The fix: ``torch._check`` the bounds
# ------------------------------------
#
# ``torch._check(condition)`` (documented and public despite the underscore) tells export that a
# condition on symbols holds. Export records it in the symbol's range and as a runtime assertion,
# and it can then answer the ``if`` from the range. In eager mode it raises ``RuntimeError`` when
# the condition is false.


class FixedScores(torch.nn.Module):
    def forward(self, x, length):
        k = length.item()
        torch._check(k >= 0)
        torch._check(k <= x.shape[0])
        if k < 0 or k > x.shape[0]:
            raise ValueError(f"length must be in [0, {x.shape[0]}], got {k}")
        return torch.cat([x[:k] * 2, x.new_zeros(k)])


fixed = FixedScores()
fixed_ep = torch.export.export(fixed, (x, length))
print(fixed_ep.range_constraints)
print("\n".join(runtime_asserts(fixed_ep)))
assert {str(k): str(v) for k, v in fixed_ep.range_constraints.items()} == {"u0": "VR[0, 12]"}

for k in (0, 7, 12):
    new_inputs = (torch.randn(12), torch.tensor(k))
    torch.testing.assert_close(fixed_ep.module()(*new_inputs), fixed(*new_inputs))
    torch.testing.assert_close(fixed_ep.module()(*new_inputs), model(*new_inputs))
print("lengths 0, 7 and 12 match eager, output sizes 0, 14 and 24")

# %%
# The range is now ``VR[0, 12]``: with it, ``u0 < 0`` and ``u0 > 12`` are both known to be false,
# the ``if`` disappears from the graph and the ``ValueError`` is never traced. The two checks
# are kept as runtime assertions, and ``u1`` is gone: with ``u0 <= 12``, ``x[:k]`` has exactly
# ``u0`` rows.
#
# The program gives the same results as eager (with or without the checks) on lengths that produce
# outputs of 0, 14 and 24 values. An out-of-range length hits the assertion instead of the
# ``ValueError`` of eager mode:

try:
    fixed_ep.module()(x, torch.tensor(13))
    raise AssertionError("the length is no longer checked: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e).startswith("Runtime assertion failed for expression u0 <= 12 on node"), e

# %%
# Checking the branch you take
# ----------------------------
#
# The same works for a condition that selects a computation, when you know which way it always
# goes for your inputs. Here the model has a fast path for long sequences that is the only one
# used in deployment: ``torch._check(k > 2)`` turns ``if k > 2`` into a known ``True``.


class LongOnly(torch.nn.Module):
    def forward(self, x, length):
        k = length.item()
        torch._check(k > 2)
        torch._check(k <= x.shape[0])
        if k > 2:
            return x[:k].cumsum(0)
        return x[:k]


long_only = LongOnly()
long_ep = torch.export.export(long_only, (x, length))
print(long_ep.range_constraints)
assert {str(k): str(v) for k, v in long_ep.range_constraints.items()} == {"u0": "VR[3, 12]"}
for k in (3, 11):
    new_inputs = (torch.randn(12), torch.tensor(k))
    torch.testing.assert_close(long_ep.module()(*new_inputs), long_only(*new_inputs))

# %%
# The range becomes ``VR[3, 12]`` and lengths 3 and 11 match eager. A length of 2 fails the
# assertion ``u0 >= 3``: the other branch was not exported.

try:
    long_ep.module()(x, torch.tensor(2))
    raise AssertionError("the program now accepts a length of 2: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e).startswith("Runtime assertion failed for expression u0 >= 3 on node"), e

# %%
# If both branches are needed at run time, the condition must become part of the graph: see
# :ref:`recipe-cond-on-tensor-value`.
#
# ``torch._check_is_size`` is deprecated
# --------------------------------------
#
# Older code and older answers use ``torch._check_is_size(k)`` to say "``k`` is a size". The
# pinned PyTorch warns when it runs, during export as in eager mode:


class OldStyle(torch.nn.Module):
    def forward(self, x, length):
        k = length.item()
        torch._check_is_size(k)
        torch._check(k <= x.shape[0])
        return torch.cat([x[:k] * 2, x.new_zeros(k)])


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    old_ep = torch.export.export(OldStyle(), (x, length))
future = [w for w in caught if issubclass(w.category, FutureWarning)]
print(future[0].message)
assert "_check_is_size will be removed in a future PyTorch release" in str(future[0].message), future
assert "Use _check(i >= 0) instead" in str(future[0].message), future
print(old_ep.range_constraints)
assert {str(k): str(v) for k, v in old_ep.range_constraints.items()} == {"u0": "VR[0, 12]"}

# %%
# The export still works and gives the same range, ``VR[0, 12]``, as the fixed model above. The
# replacement is the one the warning names, ``torch._check(k >= 0)``, as in that model.
