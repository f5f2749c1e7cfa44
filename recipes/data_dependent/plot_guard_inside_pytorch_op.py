"""
.. _recipe-guard-inside-pytorch-op:

"Could not guard on data-dependent expression Eq(8*u0, 0)" raised inside a PyTorch op
=====================================================================================

A model built like a detector head keeps the boxes whose score passes a threshold and
normalizes their features with ``BatchNorm1d``. Export fails with "Could not guard on
data-dependent expression", but the condition is in none of the model's lines: it is inside the
PyTorch op that receives the kept rows. Reports of this kind name ``nn.MultiheadAttention``,
``grid_sample``, an in-place masked update or a convolution's memory-format check: a size
computed from a mask, ``nonzero`` or ``.item()`` reaches an op that asks a question about it.
Models built like those reports export with the pinned release (checked at the end of this
page); ``BatchNorm1d`` and ``roll`` still ask.

This recipe finds the op and the model's own line in the message, asks eager mode whether the
question matters (here it does not: a PyTorch limitation, pinned below so we learn when it is
lifted), and gives two fixes checked against eager: ``torch._check`` before the op, and running
the op on the fixed-size tensor before the selection.

Public reports of this kind: pytorch/pytorch#147672 (``nn.MultiheadAttention``),
pytorch/pytorch#152791 (``grid_sample`` after ``nonzero``), pytorch/pytorch#155162 (a ``Conv1d``
memory-format check).

The error
---------
"""

import contextlib
import io
import re

import torch
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

Dim = torch.export.Dim


def runtime_asserts(ep):
    """The messages of the graph's ``_assert_scalar`` nodes."""
    return [node.args[1] for node in ep.graph.nodes if node.target == torch.ops.aten._assert_scalar.default]


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class KeptBoxesHead(torch.nn.Module):
    """Keeps the boxes scored above 0.5 and normalizes their 8 features."""

    def __init__(self):
        super().__init__()
        self.norm = torch.nn.BatchNorm1d(8)

    def forward(self, feats, scores):
        kept = feats[scores > 0.5]
        return self.norm(kept)


torch.manual_seed(0)
model = KeptBoxesHead().eval()
feats, scores = torch.randn(10, 8), torch.rand(10)
try:
    with contextlib.redirect_stderr(io.StringIO()):  # the graph traced up to the failure: see below
        torch.export.export(model, (feats, scores))
    raise AssertionError("BatchNorm on a data-dependent number of rows now exports: update this recipe")
except GuardOnDataDependentSymNode as e:
    message = str(e)
lines = message.splitlines()
caused_by = next(line for line in lines if line.startswith("Caused by:"))
call = lines.index("The following call raised this error:")
fixes = lines.index("To fix the error, insert one of the following checks before this call:")
print(lines[0])
print(re.sub(r":\d+ in", ":NNN in", caused_by))
# The path of this file depends on where it runs: keep its name only.
print(lines[call], '  File ".../' + lines[call + 1].rsplit("/", 1)[-1], lines[call + 2], sep="\n")
print("\n".join(lines[fixes : fixes + 3]))
assert re.match(r"Could not guard on data-dependent expression Eq\(8\*u\d+, 0\)", lines[0]), lines[0]
assert re.fullmatch(r"Caused by: \(_ops\.py:\d+ in __call__\)", caused_by), caused_by
assert lines[call + 2].strip() == "return self.norm(kept)", lines[call + 2]
assert lines[fixes + 2].strip() == "2. torch._check((8*kept.shape[0]) != 0)", lines[fixes + 2]

# %%
# How to read it
# --------------
#
# * ``Eq(8*u0, 0)`` is the question. ``u0`` is the number of kept rows (a size read from the
#   mask's values, see :ref:`recipe-boolean-mask-nonzero-unique`), ``8*u0`` the number of
#   elements of ``kept``: the op asks "is the input empty?".
# * ``Caused by: (_ops.py:NNN in __call__)`` names the last Python line before the question:
#   ``_ops.py`` is PyTorch's door into its C++ operators, so the question was asked inside a
#   C++ op. ``TORCHDYNAMO_EXTENDED_DEBUG_CPP=1`` prints the C++ stack when you need the exact
#   function. When the op is written in Python (a decomposition), this line names the PyTorch
#   file and function instead, and reports quote it as "Potential framework code culprit".
# * "The following call raised this error" is the line of *your* code that called the op:
#   ``self.norm(kept)``. That is where a fix goes.
# * The suggested checks are the expression and its negation, with ``u0`` replaced by the
#   model's own ``kept.shape[0]``.
#
# Before raising, export prints on stderr the graph it traced up to the failing line; the recipe
# keeps it off the page (``contextlib.redirect_stderr``).
#
# An op written in Python gives the same question with its own file in "Caused by". ``roll``
# asks it too (its reference implementation returns a copy of an empty input):


class KeptBoxesRoll(torch.nn.Module):
    def forward(self, feats, scores):
        kept = feats[scores > 0.5]
        return torch.roll(kept, 1, 0)


try:
    with contextlib.redirect_stderr(io.StringIO()):  # the traced graph, as above
        torch.export.export(KeptBoxesRoll(), (feats, scores))
    raise AssertionError("roll on a data-dependent number of rows now exports: update this recipe")
except GuardOnDataDependentSymNode as e:
    roll_caused_by = next(line for line in str(e).splitlines() if line.startswith("Caused by:"))
    print(str(e).splitlines()[0])
    print(re.sub(r":\d+ in", ":NNN in", roll_caused_by))
    assert re.match(r"Could not guard on data-dependent expression Eq\(8\*u\d+, 0\)", str(e)), e
    assert re.fullmatch(r"Caused by: \(_refs/__init__\.py:\d+ in roll\)", roll_caused_by), roll_caused_by

# %%
# Is it your model or PyTorch?
# ----------------------------
#
# Ask eager mode both answers of the question. If the op accepts inputs on both sides and gives
# the result your model expects, the question is the op's business (a shortcut for empty
# inputs here), not a condition of your model: a limitation of PyTorch's op under export,
# worth an upstream report with a reproduction as small as the model above. If eager fails on
# one side, the question is a real condition of the op: state it with ``torch._check`` (as in
# :ref:`recipe-item-could-not-guard`).

no_boxes = torch.zeros(10)
for name, m in [("BatchNorm1d", model), ("roll", KeptBoxesRoll())]:
    print(name, "with no kept box:", tuple(m(feats, no_boxes).shape), "with some:", tuple(m(feats, scores).shape))
    assert m(feats, no_boxes).shape == (0, 8)

# %%
# Both ops accept zero rows in eager mode. The pinned PyTorch asks the question anyway: the
# sentinels above will tell when it no longer does.
#
# Fix 1: ``torch._check`` before the op
# -------------------------------------
#
# When the model never sees an empty selection (the threshold always keeps a box, or the caller
# handles that case), say so with the suggested check (``8*kept.shape[0] != 0`` is
# ``kept.shape[0] != 0``), just before the call. Export then knows
# the answer ("not empty"), and the check becomes a runtime assertion of the program:


class CheckedHead(KeptBoxesHead):
    def forward(self, feats, scores):
        kept = feats[scores > 0.5]
        torch._check(kept.shape[0] != 0)
        return self.norm(kept)


checked = CheckedHead()
checked.load_state_dict(model.state_dict())
checked.eval()
boxes = Dim("boxes")
checked_ep = torch.export.export(checked, (feats, scores), dynamic_shapes=({0: boxes}, {0: boxes}))
new_inputs = [(torch.randn(n, 8), torch.rand(n).clamp(min=0.01) + torch.arange(n).eq(0)) for n in (3, 12, 30)]
check_against_eager(checked_ep, model, new_inputs)
try:
    checked_ep.module()(feats, no_boxes)
    raise AssertionError("the checked program now accepts no kept box: update this recipe")
except RuntimeError as e:
    print(e)
    assert re.match(r"Runtime assertion failed for expression Ne\(u\d+, 0\)", str(e)), e

# %%
# The program (with a dynamic number of boxes) matches eager on 3, 12 and 30 boxes (each with at least one kept), and refuses an
# empty selection, which eager accepts: the check narrowed the program to what you promised.
#
# Fix 2: run the op before the selection
# --------------------------------------
#
# The question exists only because the op receives a tensor whose size comes from the data. In
# eval mode ``BatchNorm1d`` normalizes each row on its own, so normalizing all boxes and then
# keeping some gives the same rows. The op then sees the fixed-size input (``feats`` has a size
# export knows), and the selection comes last:


class NormalizeThenKeep(KeptBoxesHead):
    def forward(self, feats, scores):
        return self.norm(feats)[scores > 0.5]


reordered = NormalizeThenKeep()
reordered.load_state_dict(model.state_dict())
reordered.eval()
reordered_ep = torch.export.export(reordered, (feats, scores), dynamic_shapes=({0: boxes}, {0: boxes}))
check_against_eager(reordered_ep, model, new_inputs + [(feats, no_boxes)])

# %%
# This program matches the original
# model on every input, the empty selection included. The same idea works for other ops: run
# them on the padded or full-size tensor and mask the result (``torch.where``), or make the size
# fixed with ``nonzero_static`` or padding to a maximum, so that no data-dependent size reaches
# the op.
#
# The reported ops that no longer ask
# -----------------------------------
#
# Models built like the public reports of this kind (attention over the rows a mask kept, with a
# key padding mask; ``grid_sample`` at points found by ``nonzero``; a depthwise ``Conv1d`` over a
# length made of ``.tolist()`` values) export with the pinned release. Where the op needs a
# condition, it became a runtime assertion of the program, as in
# :ref:`recipe-masked-update-broadcast`:


class KeptAttention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = torch.nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, queries, memory, padding, useful):
        q, m, p = queries[useful], memory[useful], padding[useful]
        return self.attention(q, m, m, key_padding_mask=p, need_weights=False)[0]


class SampleAtPoints(torch.nn.Module):
    def forward(self, image, hits):
        grid = (hits.nonzero().float() / 4 - 1).view(1, -1, 1, 2)
        return torch.nn.functional.grid_sample(image, grid, align_corners=False)


class DepthwiseOverLengths(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(8, 8, kernel_size=7, padding=3, groups=8)

    def forward(self, lengths):
        first, second = lengths.tolist()
        return self.conv(torch.ones(1, first + second, 8).permute(0, 2, 1))


def attention_inputs(*useful):
    return torch.randn(4, 1, 8), torch.randn(4, 5, 8), torch.zeros(4, 5, dtype=torch.bool), torch.tensor(useful)


reported = [
    (KeptAttention().eval(), attention_inputs(True, False, True, True), [attention_inputs(False, True, False, False)]),
    (SampleAtPoints(), (torch.randn(1, 1, 8, 8), torch.rand(8, 8) > 0.5), [(torch.randn(1, 1, 8, 8), torch.rand(8, 8) > 0.8)]),
    (DepthwiseOverLengths(), (torch.tensor([5, 6]),), [(torch.tensor([2, 9]),)]),
]
for reported_model, example, new in reported:
    reported_ep = torch.export.export(reported_model, example)
    print(type(reported_model).__name__, "exports;", len(runtime_asserts(reported_ep)), "runtime assertions")
    check_against_eager(reported_ep, reported_model, new)

# %%
# Summary
# -------
#
# 1. "The following call raised this error" is your line; "Caused by" says whether the question
#    is in a C++ op (``_ops.py ... in __call__``) or in a PyTorch Python file (its name).
# 2. Run eager on both answers of the question. Both fine: a PyTorch limitation, report it and
#    work around it. One fails: a real condition, write it with ``torch._check``.
# 3. Prefer moving the data-dependent selection after the op: no check, no narrower program.
