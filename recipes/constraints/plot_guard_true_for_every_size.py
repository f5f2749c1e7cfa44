"""
.. _recipe-guard-true-for-every-size:

"Not all values of n ... satisfy the generated guard": padding to a multiple of 64
==================================================================================

A model built like a blocked-attention encoder pads its sequence to a multiple of 64 and cuts it
into blocks of 64. Eager mode runs it on every length. Export with a dynamic length fails with
"Constraints violated (n)!", half a dozen guards written in ``Mod`` and ``//`` that nobody can read, and a
suggested fix, ``n = 64*_n - 28``, that would keep one length in 64.

This recipe answers the reports of that kind (a guard from padding to a multiple of 64 or from an
alignment ``Mod(..., 8)`` that seems to hold for every size, and a suggested fix that forbids most
sizes). It checks each guard over the range in plain Python, finds that all hold for every length
but one, shows where that one comes from (not the model's code: PyTorch asks whether a
size computed from ``n`` is 1), shows that ``Dim.DYNAMIC`` and
``prefer_deferred_runtime_asserts_over_guards`` only move the refusal to run time, gives two
fixes checked against eager on lengths from 1 to 300, and ends with an alignment to a multiple of
8 whose guard, ``(n % 8) != 0``, comes from the model's own ``if``.

The error
---------
"""

import re

import torch
import torch.nn.functional as F

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


class BlockPooling(torch.nn.Module):
    """Pads the sequence to a multiple of 64 and averages each block of 64 positions."""

    def forward(self, x):
        n = x.shape[1]
        pad = (64 - n % 64) % 64
        blocks = F.pad(x, (0, pad)).view(x.shape[0], -1, 64)
        return blocks.mean(-1)


model = BlockPooling()
x = torch.randn(2, 100)
spec = ({0: Dim("batch"), 1: Dim("n")},)
try:
    torch.export.export(model, (x,), dynamic_shapes=spec)
    raise AssertionError("padding to a multiple of 64 now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    lines = message.splitlines()
    print("\n".join(lines[:1] + ["  - Not all values of n ... satisfy the generated guard ... (one line each)"]))
    print("\n".join(lines[lines.index("Suggested fixes:") :]))
guard_prefix = "  - Not all values of n = L['x'].size()[1] in the specified range satisfy the generated guard "
guards = [line[len(guard_prefix) :].rstrip(".") for line in message.splitlines() if line.startswith(guard_prefix)]
assert message.startswith("Constraints violated (n)!"), message
assert len(guards) >= 5, guards
assert "Suggested fixes:\n  _n = Dim('_n', min=1, max=oo)\n  n = 64*_n - 28" in message, message

# %%
# Each ``-`` line is a *guard*: a condition on ``n`` that the trace relied on, written with the
# input's source ``L['x'].size()[1]`` for ``n``. Export refuses a dynamic ``n`` unless it can
# prove every guard for every ``n`` of the range. It could not prove any of these (the list
# is shortened here: its length varies from run to run with the order in which they are simplified).
#
# The suggested fix is ``n = 64*_n - 28``: with the example's ``n = 100``, it keeps the lengths
# 36, 100, 164, ... Before accepting it, count what it forbids.
#
# Check the guards over the range in plain Python
# -----------------------------------------------
#
# A guard is a Python expression of ``n`` once the source is replaced with a name (``//`` and
# ``%`` on non-negative integers mean the same in the guard and in Python). Evaluating each
# one for every length from 2 (the lowest value export assumes for an input size) to 4096 tells
# which ones really restrict ``n``:

lengths = range(2, 4097)
false_for = {}
for guard in guards:
    expression = guard.replace("L['x'].size()[1]", "n").replace("torch.sym_max", "max")
    false_for[guard] = [n for n in lengths if not eval(expression, {"__builtins__": {}}, {"n": n, "max": max})]

(restricting,) = [guard for guard in guards if false_for[guard]]
print("every guard holds for every length from 2 to 4096, except:")
print(" ", restricting, "false for n in", false_for[restricting][0], "...", false_for[restricting][-1])
assert false_for[restricting] == list(range(2, 65)), false_for[restricting]
assert restricting.endswith("// 64) != 1"), restricting
allowed_by_suggestion = [n for n in lengths if (n + 28) % 64 == 0]
print("the suggested fix keeps", len(allowed_by_suggestion), "of", len(lengths), "lengths:", allowed_by_suggestion[:3])
assert allowed_by_suggestion[:3] == [36, 100, 164] and len(allowed_by_suggestion) == 64

# %%
# All guards but one hold for every length: export could not prove them because its reasoning about
# ``Mod`` and ``//`` of the same symbol is limited, not because they restrict anything. Left
# alone they would be harmless. The last one, ``(n + pad) // 64 != 1``, says "there are at least two
# blocks": it is false for every length from 2 to 64. The suggested fix satisfies all of them by
# keeping 64 lengths out of 4095: do not apply it.
#
# Where "the number of blocks is not 1" comes from
# ------------------------------------------------
#
# The model has no ``if`` on the number of blocks, and eager mode runs it on one block:

for n in (1, 40, 64):
    print(n, tuple(model(torch.randn(2, n)).shape))
assert model(torch.randn(2, 40)).shape == (2, 1)

# %%
# The guard comes from PyTorch itself: creating a tensor with a size computed from ``n`` (the
# blocks dimension) is enough to get it, without padding, ``view`` or ``mean``. PyTorch's own
# code asks whether that size is 1. For an input's own size export assumes it is not (sizes 0
# and 1 of inputs are special, see :ref:`recipe-zero-one-specialization`), but
# ``(n + 63) // 64`` *is* 1 for short inputs, so the answer comes from the example (2 blocks)
# and becomes a guard:


class BlocksOnly(torch.nn.Module):
    def forward(self, x):
        return x.new_zeros(x.shape[0], (x.shape[1] + 63) // 64, 64)


try:
    torch.export.export(BlocksOnly(), (x,), dynamic_shapes=spec)
    raise AssertionError("a tensor of (n + 63) // 64 blocks now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert "satisfy the generated guard ((63 + L['x'].size()[1]) // 64) != 1." in str(e), e

# %%
# The computation does not depend on the answer: eager gives the right result for one block, and
# so does the program exported with the general answer (fix 2 below). The guard restricts the
# program, not the computation. This is a limitation of the pinned PyTorch, not of your code.
#
# ``Dim.DYNAMIC`` and deferred assertions only move the refusal
# -------------------------------------------------------------
#
# With ``Dim.DYNAMIC`` instead of a named ``Dim``, export does not raise: it accepts the guards
# silently, and the program refuses short inputs when it runs. Its range also shows the lowest
# size export assumes for an input, 2, the start of the Python check above:

dynamic_ep = torch.export.export(model, (x,), dynamic_shapes=({0: Dim.DYNAMIC, 1: Dim.DYNAMIC},))
print(dynamic_ep.range_constraints)
assert [str(r) for r in dynamic_ep.range_constraints.values()] == ["VR[2, int_oo]", "VR[2, int_oo]"]
check_against_eager(dynamic_ep, model, [(torch.randn(3, 65),), (torch.randn(1, 300),)])
try:
    dynamic_ep.module()(torch.randn(2, 40))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed:") and str(e).endswith("// 64 != 1"), e
else:
    raise AssertionError("the Dim.DYNAMIC program now accepts 40 positions: update this recipe")

# %%
# ``torch.export.export(..., prefer_deferred_runtime_asserts_over_guards=True)`` (a public
# argument) turns every guard into a runtime assertion of the program instead. That is the
# right tool for the guards that hold for every length: they are checked at run time and
# never fail. The last one still fails for one block:

deferred_ep = torch.export.export(model, (x,), dynamic_shapes=spec, prefer_deferred_runtime_asserts_over_guards=True)
assert len(runtime_asserts(deferred_ep)) >= len(guards), runtime_asserts(deferred_ep)
check_against_eager(deferred_ep, model, [(torch.randn(3, 65),), (torch.randn(1, 300),)])
try:
    deferred_ep.module()(torch.randn(2, 40))
    raise AssertionError("the deferred program now accepts 40 positions: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e).startswith("Runtime assertion failed for expression Ne(") and re.search(r"//64\), 1\)", str(e)), e

# %%
# Rewrite the line: count the blocks first
# ----------------------------------------
#
# The guards that hold for every length come from the way the padding is written: ``view(...,
# -1, 64)`` has to divide ``n + (64 - n % 64) % 64`` by 64, and export cannot simplify that. Count
# the blocks with ``(n + 63) // 64`` and pad to ``blocks * 64``: the same numbers, in a form
# export can follow. Only the guard that matters is left:


class CountedBlockPooling(torch.nn.Module):
    """The same computation, with the number of blocks computed first."""

    def forward(self, x):
        n = x.shape[1]
        blocks = (n + 63) // 64
        return F.pad(x, (0, blocks * 64 - n)).view(x.shape[0], blocks, 64).mean(-1)


counted = CountedBlockPooling()
try:
    torch.export.export(counted, (x,), dynamic_shapes=spec)
    raise AssertionError("the block count now exports without a range: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert str(e).count("satisfy the generated guard") == 1, e
    assert "satisfy the generated guard ((63 + L['x'].size()[1]) // 64) != 1." in str(e), e

# %%
# Fix 1: say that short inputs do not happen
# ------------------------------------------
#
# If the deployed model only ever sees more than 64 positions, put it in the range:
# ``Dim("n", min=65)`` makes "at least two blocks" provable for the rewritten model, and export
# accepts the spec. Short inputs are then refused by the program's range check, as the spec says:

long_ep = torch.export.export(counted, (x,), dynamic_shapes=({0: Dim("batch"), 1: Dim("n", min=65)},))
print(long_ep.range_constraints)
check_against_eager(long_ep, model, [(torch.randn(3, 65),), (torch.randn(1, 300),), (torch.randn(4, 129),)])
try:
    long_ep.module()(torch.randn(2, 40))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[1] >= 65", e
else:
    raise AssertionError("the program with min=65 now accepts 40 positions: update this recipe")

# %%
# Fix 2: every length, with ``backed_size_oblivious``
# ---------------------------------------------------
#
# When short inputs must work, the configuration flag ``backed_size_oblivious`` tells export to
# answer "is this size 1?" with the general case instead of the example's answer. It lives in
# ``torch.fx.experimental._config``, a **private** module (see
# :ref:`recipe-zero-one-specialization` for its warnings): check the program against eager on
# the sizes that matter, here 1, 2, 40, 64, 65 and 300 positions. It works on the original
# model, padding line unchanged.

with torch.fx.experimental._config.patch(backed_size_oblivious=True):
    every_length_ep = torch.export.export(model, (x,), dynamic_shapes=spec)
print(every_length_ep.range_constraints)
assert [str(r) for r in every_length_ep.range_constraints.values()] == ["VR[0, int_oo]", "VR[0, int_oo]"]
assert runtime_asserts(every_length_ep) == []
check_against_eager(every_length_ep, model, [(torch.randn(b, n),) for b, n in [(2, 1), (1, 2), (3, 40), (2, 64), (1, 65), (2, 300)]])

# %%
# The program has no guard and no assertion left, and matches eager on every length, one block
# included. ``torch.onnx.export(..., dynamo=True)`` turns the same flag on by itself, so the ONNX
# exporter does not meet this error.
#
# Alignment to a multiple of 8: a guard from the example's ``if``
# ----------------------------------------------------------------
#
# A guard can also come from the model's own branch. Here the model pads to a multiple of 8 only
# when it needs to. The example has 20 positions, so the ``if`` is taken, and the guard says
# so:


class AlignTo8(torch.nn.Module):
    def forward(self, x):
        n = x.shape[1]
        if n % 8 != 0:
            x = F.pad(x, (0, 8 - n % 8))
        return x


try:
    torch.export.export(AlignTo8(), (torch.randn(2, 20),), dynamic_shapes=spec)
    raise AssertionError("an if on n % 8 now exports with a dynamic n: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).splitlines()[1])
    (align_guard,) = [line[len(guard_prefix) :].rstrip(".") for line in str(e).splitlines() if line.startswith(guard_prefix)]
align_expression = align_guard.replace("L['x'].size()[1]", "n")
print(align_expression, "is false for n in", [n for n in range(2, 41) if not eval(align_expression, {"__builtins__": {}}, {"n": n})])
assert align_expression == "(n % 8) != 0", align_expression

# %%
# The same Python check shows what this guard forbids: the multiples of 8, the inputs that need no
# padding. Here the guard records a branch, so no flag helps: write the line without the branch.
# ``(8 - n % 8) % 8`` is 0 for a multiple of 8, and padding by 0 does nothing:


class AlignTo8NoBranch(torch.nn.Module):
    def forward(self, x):
        n = x.shape[1]
        return F.pad(x, (0, (8 - n % 8) % 8))


aligned_ep = torch.export.export(AlignTo8NoBranch(), (torch.randn(2, 20),), dynamic_shapes=spec)
print(aligned_ep.range_constraints)
check_against_eager(aligned_ep, AlignTo8(), [(torch.randn(3, n),) for n in (1, 8, 9, 16, 30)])

# %%
# The program takes every length and matches the model with the ``if`` on 1, 8, 9, 16 and 30
# positions.
#
# What to do with such a guard
# ----------------------------
#
# 1. Copy the guards into Python and evaluate them over the range you need: a guard that holds
#    for every size is harmless; one that fails names the sizes the program would refuse.
# 2. Never apply a suggested fix before counting the sizes it keeps.
# 3. Guards that hold everywhere but keep export from accepting a range: write the size
#    arithmetic so that each size is computed once (the number of blocks above).
#    A guard that records an ``if`` on a size (``n % 8 != 0``): write the line without the
#    branch.
# 4. A guard on a size *computed* from an input (``!= 1``) with no ``if`` of yours behind it
#    comes from PyTorch's own checks: state the range (fix 1) or use ``backed_size_oblivious``
#    (fix 2), and compare with eager at the small sizes.
