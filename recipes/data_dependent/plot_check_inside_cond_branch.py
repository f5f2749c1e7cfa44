"""
.. _recipe-check-inside-cond-branch:

"satisfy the generated guard 6 <= ...": a ``torch._check`` inside a ``torch.cond`` branch restricts the inputs
==============================================================================================================

A model built like a sequence head reads position 5 when the sequence has more than 5 positions,
and position 0 otherwise. The branch is written with ``torch.cond`` so that both cases stay in
the exported program, and the long branch says ``torch._check(seq > 5)``, which is true whenever
that branch runs. Export fails anyway: "Not all values of seq ... satisfy the generated guard
6 <= L['X'].size()[1]", and the suggested fix, ``Dim('seq', min=6)``, removes the short sequences
the other branch was written for.

This recipe reproduces that report (pytorch/pytorch#147991, opened 2025-02-26): a check or guard
inside a ``torch.cond`` branch becomes a condition on the inputs of the whole program. It pins
this PyTorch bug, shows that ``Dim.DYNAMIC`` turns it into a program that refuses short
sequences, and gives a workaround checked against eager on short and long sequences: an op whose
index is checked when it runs, not while tracing.

The failure
-----------
"""

import torch

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class SixthPosition(torch.nn.Module):
    """Position 5 of each sequence when there is one, else twice position 0."""

    def forward(self, x):
        def long_branch(x):
            torch._check(x.shape[1] > 5)
            return x[:, 5] * 1

        def short_branch(x):
            return x[:, 0] * 2

        return torch.cond(x.shape[1] > 5, long_branch, short_branch, (x,))


model = SixthPosition()
x = torch.rand(2, 10, 3)
print(tuple(model(torch.rand(2, 3, 3)).shape), tuple(model(x).shape))

# %%
# Eager mode runs both lengths (3 and 10 positions). Export with a dynamic ``seq``:

spec = {"x": {0: Dim("batch"), 1: Dim("seq")}}
try:
    torch.export.export(model, (x,), dynamic_shapes=spec)
    raise AssertionError("a check inside a cond branch no longer restricts the inputs: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert str(e).startswith("Constraints violated (seq)!"), e
    assert "satisfy the generated guard 6 <= L['x'].size()[1] and L['x'].size()[1] <= IntInfinity()" in str(e), e
    assert "Suggested fixes:\n  seq = Dim('seq', min=6)" in str(e), e

# %%
# Export refuses ``seq`` with one guard,
# ``6 <= seq``: the check ``seq > 5`` of the long branch. ``torch.cond`` traces both branches,
# and in the pinned release what a branch learns about the sizes (a ``torch._check``, or a guard
# of an op) is kept as a fact about the inputs of the whole program, as if every call took that
# branch. The predicate that selects the branch is not taken into account. That is a bug of
# PyTorch, not of the model: do not accept the suggested fix, which keeps only the sequences of
# 6 positions or more, and makes the short branch dead code.
#
# ``Dim.DYNAMIC`` hides it
# ------------------------
#
# With ``Dim.DYNAMIC``, export accepts the restriction silently. The program's range for ``seq``
# starts at 6, and a short sequence, which eager handles with the other branch, is refused:

dynamic_ep = torch.export.export(model, (x,), dynamic_shapes={"x": {0: Dim.DYNAMIC, 1: Dim.DYNAMIC}})
print(dynamic_ep.range_constraints)
assert [str(r) for r in dynamic_ep.range_constraints.values()] == ["VR[2, int_oo]", "VR[6, int_oo]"]
try:
    dynamic_ep.module()(torch.rand(2, 3, 3))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[1] >= 6", e
else:
    raise AssertionError("the program now accepts a short sequence: update this recipe")

# %%
# Removing the check does not help
# --------------------------------
#
# The check was not needed to export ``x[:, 5]``: the indexing asks the same question by itself
# (is position 5 inside the sequence?), and its guard leaks the same way:


class SixthPositionUnchecked(torch.nn.Module):
    def forward(self, x):
        return torch.cond(x.shape[1] > 5, lambda x: x[:, 5] * 1, lambda x: x[:, 0] * 2, (x,))


try:
    torch.export.export(SixthPositionUnchecked(), (x,), dynamic_shapes=spec)
    raise AssertionError("indexing inside a cond branch no longer restricts the inputs: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).splitlines()[1])
    assert "satisfy the generated guard 6 <= L['x'].size()[1]" in str(e), e

# %%
# The workaround: an index checked when the program runs
# ------------------------------------------------------
#
# The branch must not ask export a question about the sizes. ``index_select`` with a tensor
# index does not: whether position 5 exists is checked by the kernel when the branch runs, on
# the real tensor, and the branch only runs for sequences longer than 5:


class SixthPositionSelected(torch.nn.Module):
    def forward(self, x):
        def long_branch(x):
            return x.index_select(1, torch.tensor([5]))[:, 0]

        def short_branch(x):
            return x[:, 0] * 2

        return torch.cond(x.shape[1] > 5, long_branch, short_branch, (x,))


selected = SixthPositionSelected()
selected_ep = torch.export.export(selected, (x,), dynamic_shapes=spec)
print(selected_ep.range_constraints)
assert [str(r) for r in selected_ep.range_constraints.values()] == ["VR[0, int_oo]", "VR[0, int_oo]"]
check_against_eager(selected_ep, model, [(torch.rand(b, s, 3),) for b, s in [(2, 2), (1, 3), (3, 6), (2, 9)]])

# %%
# The program keeps both branches, accepts every length, and matches the original model on 2, 3,
# 6 and 9 positions. The same idea applies to other branch-local facts: compute indices as
# tensors (``index_select``, ``gather``) rather than Python integers that export must check, or
# compute both results without ``torch.cond`` and pick one with ``torch.where`` when both are
# valid for every size.
