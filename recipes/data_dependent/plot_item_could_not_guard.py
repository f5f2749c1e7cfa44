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
decides the condition, and become runtime assertions in the exported program. It then shows
``guard_or_false`` for a fast path in model code, and ends with the deprecation of
``torch._check_is_size``.

``.item()`` as a size
---------------------
"""

import contextlib
import io
import re
import warnings

import torch
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode, guard_or_false


def runtime_asserts(ep):
    """The messages of the graph's ``_assert_scalar`` nodes."""
    return [node.args[1] for node in ep.graph.nodes if node.target == torch.ops.aten._assert_scalar.default]


def item_symbol(ep):
    """The symbol of the value read by ``.item()`` in the program (an unbacked ``u`` symbol)."""
    (item,) = ep.graph.find_nodes(op="call_function", target=torch.ops.aten.item.default)
    symbol = str(item.meta["val"])
    assert re.fullmatch(r"u\d+", symbol), symbol
    return symbol


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class Scores(torch.nn.Module):
    def forward(self, x, length):
        k = length.item()
        return torch.cat([x[:k] * 2, x.new_zeros(k)])


x, length = torch.arange(12.0), torch.tensor(4)
size_ep = torch.export.export(Scores(), (x, length))
print(size_ep.graph_module.code)
print(size_ep.range_constraints)
k = item_symbol(size_ep)
(x_slice,) = size_ep.graph.find_nodes(op="call_function", target=torch.ops.aten.slice.Tensor)
rows = str(x_slice.meta["val"].shape[0])
assert re.fullmatch(r"u\d+", rows) and rows != k, x_slice.meta["val"].shape
assert {str(s): str(v) for s, v in size_ep.range_constraints.items()} == {k: "VR[0, int_oo]", rows: "VR[0, 12]"}

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
    assert str(e).startswith(f"Runtime assertion failed for expression {k} >= 0 on node"), e

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
export_stderr = io.StringIO()  # the graph export traced before the failure (see below)
try:
    with contextlib.redirect_stderr(export_stderr):
        torch.export.export(model, (x, length))
    raise AssertionError("export now decides `if u0 < 0` without a value: update this recipe")
except GuardOnDataDependentSymNode as e:
    lines = str(e).splitlines()
    print("\n".join(lines[:3]))
    assert re.match(r"Could not guard on data-dependent expression u\d+ < 0", lines[0]), lines[0]
    assert "consider using data-dependent friendly APIs such as guard_or_false" in lines[2], lines[2]
    # The path in "Caused by" depends on where the file is: keep its file name only.
    assert lines[3].startswith("Caused by:") and lines[3].endswith(" in forward)"), lines[3]
    print("Caused by: (...", lines[3].rsplit("/", 1)[-1])
assert "def forward(" in export_stderr.getvalue(), export_stderr.getvalue()

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
# * Before raising, export also prints on stderr the graph it traced up to that line; this
#   recipe keeps it off the page (``contextlib.redirect_stderr``).
# * The hint names ``guard_or_false``, ``guard_or_true`` and ``statically_known_true``: they
#   answer a condition without guarding, for a branch that is only a shortcut (see
#   "A fast path" below). In the pinned PyTorch the hint also gained a sentence about Python's
#   ``not`` on a symbolic boolean (use ``torch.sym_not``). For a condition that must hold, as
#   here, the tool is ``torch._check``.
#
# The fix: ``torch._check`` the bounds
# ------------------------------------
#
# ``torch._check(condition)`` tells export that a condition on symbols holds. Its underscore
# marks it private (it is not in ``torch.__all__``), yet it is the tool PyTorch's own reports ask
# for ("Please add ``torch._check(...)``", see :ref:`recipe-draft-export-report`). Export
# records the condition in the symbol's range and as a runtime assertion, and it can then answer
# the ``if`` from the range. In eager mode it raises ``RuntimeError`` when the condition is
# false:

assert "_check" not in torch.__all__
try:
    torch._check(3 > 4)
    raise AssertionError("torch._check(False) no longer raises: update this recipe")
except RuntimeError as e:
    print(f"RuntimeError: {e}")


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
k = item_symbol(fixed_ep)
assert {str(s): str(v) for s, v in fixed_ep.range_constraints.items()} == {k: "VR[0, 12]"}

lengths = [(torch.randn(12), torch.tensor(length)) for length in (0, 7, 12)]
check_against_eager(fixed_ep, fixed, lengths)
check_against_eager(fixed_ep, model, lengths)
print("output sizes:", [fixed_ep.module()(*inputs).numel() for inputs in lengths])

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
    assert str(e).startswith(f"Runtime assertion failed for expression {k} <= 12 on node"), e

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
k = item_symbol(long_ep)
assert {str(s): str(v) for s, v in long_ep.range_constraints.items()} == {k: "VR[3, 12]"}
check_against_eager(long_ep, long_only, [(torch.randn(12), torch.tensor(3)), (torch.randn(12), torch.tensor(11))])

# %%
# The range becomes ``VR[3, 12]`` and lengths 3 and 11 match eager. A length of 2 fails the
# assertion ``u0 >= 3``: the other branch was not exported.

try:
    long_ep.module()(x, torch.tensor(2))
    raise AssertionError("the program now accepts a length of 2: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e).startswith(f"Runtime assertion failed for expression {k} >= 3 on node"), e

# %%
# If both branches are needed at run time, the condition must become part of the graph: see
# :ref:`recipe-cond-on-tensor-value`.
#
# A fast path: ``guard_or_false``
# -------------------------------
#
# Sometimes a branch is only a shortcut: for an empty length, the model can skip the work, but
# the general code gives the same result. ``torch._check`` cannot help here (``k == 0`` does not
# hold for every input), and a plain ``if k == 0`` fails to export like the condition above:


class ShortcutScores(torch.nn.Module):
    def forward(self, x, length):
        k = length.item()
        torch._check(k >= 0)
        torch._check(k <= x.shape[0])
        if k == 0:
            return x.new_zeros(0)
        return torch.cat([x[:k] * 2, x.new_zeros(k)])


try:
    with contextlib.redirect_stderr(io.StringIO()):  # the partial graph, as above
        torch.export.export(ShortcutScores(), (x, length))
    raise AssertionError("export now decides `if k == 0` without a value: update this recipe")
except GuardOnDataDependentSymNode as e:
    print(str(e).splitlines()[0])
    assert re.match(r"Could not guard on data-dependent expression Eq\(u\d+, 0\)", str(e)), e

# %%
# ``guard_or_false(condition)``, from ``torch.fx.experimental.symbolic_shapes`` (listed in its
# ``__all__``, in an experimental module), is the tool the hint named, and it is meant for model
# code like this too. In eager mode it returns the real answer, so the shortcut runs. During
# export, when the answer depends on a value export does not have, it returns ``False`` without
# adding a guard, and export traces the general code, which is right for every length:


class FastScores(torch.nn.Module):
    def forward(self, x, length):
        k = length.item()
        torch._check(k >= 0)
        torch._check(k <= x.shape[0])
        if guard_or_false(k == 0):
            return x.new_zeros(0)  # the shortcut: eager mode only
        return torch.cat([x[:k] * 2, x.new_zeros(k)])


fast = FastScores()
fast_ep = torch.export.export(fast, (x, length))
print(fast_ep.graph_module.code)
assert "new_zeros" in fast_ep.graph_module.code and "cat" in fast_ep.graph_module.code
check_against_eager(fast_ep, fast, [(torch.randn(12), torch.tensor(0)), (torch.randn(12), torch.tensor(5))])

# %%
# The graph holds the general code only, and it matches eager, shortcut included, for a length
# of 0 and of 5. ``guard_or_true`` answers ``True`` instead when it cannot decide, and
# ``statically_known_true`` is ``True`` only when the condition is proven for every value.
# Use them where both answers lead to a correct result; where only one does, write
# ``torch._check`` or ``torch.cond``.
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
assert {str(s): str(v) for s, v in old_ep.range_constraints.items()} == {item_symbol(old_ep): "VR[0, 12]"}

# %%
# The export still works and gives the same range, ``VR[0, 12]``, as the fixed model above. The
# replacement is the one the warning names, ``torch._check(k >= 0)``, as in that model.
