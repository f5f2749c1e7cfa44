"""
.. _recipe-view-reshape-unbacked:

view/reshape on a data-dependent size: "Could not guard on data-dependent expression Ne(...)" after torch._check
================================================================================================================

A tensor whose size comes from the data (``x[mask]``, ``nonzero``, a length read with ``.item()``)
is reshaped with ``view`` or ``reshape`` and a ``-1``. PyTorch issue
`#124581 <https://github.com/pytorch/pytorch/issues/124581>`_ (opened in April 2024) reports
"GuardOnDataDependentSymNode: reshape on transposed input does not work". With the pinned
release, the usual case exports without any ``torch._check``: export adds the divisibility check
to the program itself. One common case still fails whatever the usual checks say: ``reshape(...,
-1)`` of a *non-contiguous* tensor, such as the attention output after ``transpose(1, 2)``. This
recipe shows both, explains the second one (it is about a tensor of 0 elements), and gives two
fixes, checked against eager.

``view(-1, k)`` of rows selected by a mask: exports, with a runtime check
-------------------------------------------------------------------------
"""

import contextlib
import io
import re

import torch
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def runtime_asserts(ep):
    """The messages of the graph's ``_assert_scalar`` nodes."""
    return [node.args[1] for node in ep.graph.nodes if node.target == torch.ops.aten._assert_scalar.default]


class GroupRows(torch.nn.Module):
    """Keeps the rows of ``x`` selected by ``keep`` and groups them by 4."""

    def forward(self, x, keep):
        kept = x[keep]
        return kept.view(-1, 4 * x.shape[1])


group_rows = GroupRows()
x, keep = torch.randn(10, 3), torch.arange(10) < 8
group_ep = torch.export.export(
    group_rows, (x, keep), dynamic_shapes=({0: Dim.DYNAMIC, 1: Dim.DYNAMIC}, {0: Dim.DYNAMIC})
)
print("\n".join(runtime_asserts(group_ep)))
assert any("Mod(" in message for message in runtime_asserts(group_ep)), runtime_asserts(group_ep)
group_inputs = [(torch.randn(12, 5), torch.arange(12) % 3 == 0), (torch.randn(9, 2), torch.arange(9) != 4)]
check_against_eager(group_ep, group_rows, group_inputs)

# %%
# ``x[keep]`` has ``u0`` rows, a size known only at run time (see
# :ref:`sphx_glr_auto_recipes_data_dependent_plot_boolean_mask_nonzero_unique.py`). ``view(-1, 12)``
# is only valid when the number of elements is a multiple of 12, and export cannot know that while
# tracing. It did not raise: it wrote the condition as a runtime assertion (the ``Mod(...)`` line
# above) and went on. With 4 and 8 kept rows the program matches eager; with 6 kept rows both
# refuse, with their own messages:

bad = (torch.randn(10, 3), torch.arange(10) < 6)
try:
    group_rows(*bad)
    raise AssertionError("eager view now accepts 18 elements in rows of 12: update this recipe")
except RuntimeError as e:
    print("eager:", e)
    assert str(e) == "shape '[-1, 12]' is invalid for input of size 18", e
try:
    group_ep.module()(*bad)
    raise AssertionError("the exported program no longer checks the number of rows: update this recipe")
except RuntimeError as e:
    print("exported:", e)
    assert str(e).startswith("Runtime assertion failed for expression Eq(Mod("), e

# %%
# No ``torch._check`` is needed here: the program already checks what eager checks. Adding
# ``torch._check(kept.shape[0] % 4 == 0)`` does not give the same program: it adds an assertion
# of its own, on the number of kept rows (``Eq(Mod(u0, 4), 0)``), which runs first. Both programs
# refuse the 6 kept rows, each with its own assertion:


class GroupRowsChecked(torch.nn.Module):
    def forward(self, x, keep):
        kept = x[keep]
        torch._check(kept.shape[0] % 4 == 0)
        return kept.view(-1, 4 * x.shape[1])


checked_rows_ep = torch.export.export(
    GroupRowsChecked(), (x, keep), dynamic_shapes=({0: Dim.DYNAMIC, 1: Dim.DYNAMIC}, {0: Dim.DYNAMIC})
)
print("\n".join(runtime_asserts(checked_rows_ep)))
rows_mod_4 = re.compile(r"Eq\(Mod\(u\d+, 4\), 0\)")
assert any(rows_mod_4.search(m) for m in runtime_asserts(checked_rows_ep)), runtime_asserts(checked_rows_ep)
assert not any(rows_mod_4.search(m) for m in runtime_asserts(group_ep)), runtime_asserts(group_ep)
try:
    checked_rows_ep.module()(*bad)
    raise AssertionError("the checked program no longer checks the number of rows: update this recipe")
except RuntimeError as e:
    print("exported, with torch._check:", e)
    assert rows_mod_4.search(str(e)), e
check_against_eager(checked_rows_ep, GroupRowsChecked(), group_inputs)

# %%
# Both match eager on the 4 and 8 kept rows above; the ``torch._check`` version states the condition in the model's own terms.
#
# ``transpose`` then ``reshape(..., -1)``: the error the usual checks do not fix
# ------------------------------------------------------------------------------
#
# An attention block keeps the first ``length`` positions, then merges the heads back with
# ``transpose(1, 2).reshape(batch, length, -1)``. The length comes from the data, and the model
# checks it the usual way, ``0 <= length <= positions``, as
# :ref:`sphx_glr_auto_recipes_data_dependent_plot_item_could_not_guard.py` recommends:


class MergeHeads(torch.nn.Module):
    def forward(self, x, length):
        # x: (batch, heads, positions, head_dim)
        t = length.item()
        torch._check(t >= 0)
        torch._check(t <= x.shape[2])
        y = x[:, :, :t]
        return y.transpose(1, 2).reshape(x.shape[0], t, -1)


x = torch.randn(2, 4, 10, 3)
spec = ({0: Dim.DYNAMIC, 2: Dim.DYNAMIC}, None)
export_stderr = io.StringIO()  # the graph export traced before the failure (see below)
try:
    with contextlib.redirect_stderr(export_stderr):
        torch.export.export(MergeHeads(), (x, torch.tensor(5)), dynamic_shapes=spec)
    raise AssertionError("reshape(..., -1) of a non-contiguous unbacked tensor now exports: update this recipe")
except GuardOnDataDependentSymNode as e:
    lines = str(e).splitlines()
    fix = lines.index("To fix the error, insert one of the following checks before this call:")
    call = lines.index("The following call raised this error:")
    print("\n".join([lines[0], *lines[call : call + 3], *lines[fix : fix + 3]]))
    assert lines[0].startswith("Could not guard on data-dependent expression Ne("), lines[0]
    assert lines[call + 2].strip() == "return y.transpose(1, 2).reshape(x.shape[0], t, -1)", lines[call:call + 3]
assert "def forward(" in export_stderr.getvalue(), export_stderr.getvalue()

# %%
# (``GuardOnDataDependentSymNode`` comes from ``torch.fx.experimental``, a private module; it is a
# ``RuntimeError``.) The message names the failing line of ``forward``. Before raising, export
# also prints on stderr the graph it traced up to that line; the recipe keeps it off the page
# (``contextlib.redirect_stderr``). The expression is
# "the batch (2 in the example) times ``u0`` is not 0": export asks whether the tensor it reshapes
# has any element.
#
# Why: ``-1`` means "whatever makes the number of elements match". For a tensor of 0 elements any
# value matches, so ``-1`` is ambiguous, and eager refuses it when the length is 0:

try:
    MergeHeads()(x, torch.tensor(0))
    raise AssertionError("eager reshape now resolves -1 for 0 elements: update this recipe")
except RuntimeError as e:
    print(e)
    assert "because the unspecified dimension size -1 can be any value and is ambiguous" in str(e), e
assert not x[:, :, :5].transpose(1, 2).is_contiguous()

# %%
# A transposed tensor is not contiguous (asserted above), so ``reshape`` has to copy it, and on
# that path the ``-1`` is resolved from the number of elements, which must not be 0. The checks of
# the model say ``t >= 0``, which allows 0, so the question stays open. The same reshape of a
# contiguous tensor exports with the same checks, as in the first section: there, export turns the
# question into a runtime assertion (the ``Ne(...)`` line printed below) instead of raising.


class MergeHeadsContiguous(torch.nn.Module):
    def forward(self, x, length):
        t = length.item()
        torch._check(t >= 0)
        torch._check(t <= x.shape[2])
        y = x[:, :, :t]
        return y.transpose(1, 2).contiguous().reshape(x.shape[0], t, -1)


contiguous_model = MergeHeadsContiguous()
contiguous_ep = torch.export.export(contiguous_model, (x, torch.tensor(5)), dynamic_shapes=spec)
print("\n".join(runtime_asserts(contiguous_ep)))
assert any(message.startswith("Runtime assertion failed for expression Ne(") for message in runtime_asserts(contiguous_ep))

# %%
# Fix 1: the check the message suggests
# -------------------------------------
#
# The message lists the checks that decide the expression. ``t > 0`` is the one the model means:
# a length of 0 fails in eager anyway.


class MergeHeadsChecked(torch.nn.Module):
    def forward(self, x, length):
        t = length.item()
        torch._check(t > 0)
        torch._check(t <= x.shape[2])
        y = x[:, :, :t]
        return y.transpose(1, 2).reshape(x.shape[0], t, -1)


checked = MergeHeadsChecked()
checked_ep = torch.export.export(checked, (x, torch.tensor(5)), dynamic_shapes=spec)
print(checked_ep.range_constraints)
assert "VR[1, int_oo]" in [str(r) for r in checked_ep.range_constraints.values()], checked_ep.range_constraints
new_inputs = [(torch.randn(3, 4, 7, 3), torch.tensor(3)), (torch.randn(1, 4, 12, 3), torch.tensor(12))]
check_against_eager(checked_ep, checked, new_inputs)
check_against_eager(contiguous_ep, contiguous_model, new_inputs)

try:
    checked_ep.module()(x, torch.tensor(0))
    raise AssertionError("a length of 0 is no longer checked: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e).startswith("Runtime assertion failed for expression"), e

# %%
# The length is now at least 1, batch sizes 3 and 1 with 7 and 12 positions match eager (so does
# the ``.contiguous()`` version above), and a length of 0 fails on the runtime assertion, where
# eager fails on the ambiguous ``-1``.
#
# Fix 2: no ``-1``
# ----------------
#
# The last size is known: heads times head size. Written out, there is nothing to infer and
# nothing to check, and a length of 0 becomes valid (an empty result, in eager too):


class MergeHeadsExplicit(torch.nn.Module):
    def forward(self, x, length):
        t = length.item()
        torch._check(t >= 0)
        torch._check(t <= x.shape[2])
        y = x[:, :, :t]
        return y.transpose(1, 2).reshape(x.shape[0], t, x.shape[1] * x.shape[3])


explicit = MergeHeadsExplicit()
explicit_ep = torch.export.export(explicit, (x, torch.tensor(5)), dynamic_shapes=spec)
check_against_eager(explicit_ep, explicit, [*new_inputs, (torch.randn(2, 4, 6, 3), torch.tensor(0))])
print(explicit_ep.module()(x, torch.tensor(0)).shape)

# %%
# ``y.transpose(1, 2).flatten(2)`` says the same without computing the size, and exports without
# any check as well:


class MergeHeadsFlatten(torch.nn.Module):
    def forward(self, x, length):
        y = x[:, :, : length.item()]
        return y.transpose(1, 2).flatten(2)


flatten = MergeHeadsFlatten()
flatten_ep = torch.export.export(flatten, (x, torch.tensor(5)), dynamic_shapes=spec)
check_against_eager(flatten_ep, flatten, new_inputs)

# %%
# To sum up: on a data-dependent size, ``view`` and ``reshape`` of a contiguous tensor export and
# check their conditions at run time. On a non-contiguous one, a ``-1`` needs to know the tensor is
# not empty: check the length with ``> 0`` (not ``>= 0``), or write the size instead of ``-1``.
