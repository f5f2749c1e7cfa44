"""
.. _recipe-data-dependent-output-equal:

"DataDependentOutputException: aten.equal.default": ``torch.equal`` and ``torch.allclose`` in an exported model
===============================================================================================================

A model compares two tensors with ``torch.equal`` (or ``torch.allclose``) and takes a Python
branch on the answer: a shortcut when a mask keeps every position, a check that two inputs agree.
Eager mode runs it. ``torch.export.export`` stops with a message that is only the name of an
operator, ``aten.equal.default``, and no line of the model; with ``strict=True`` the same model
stops with "Data dependent operator".

This recipe raises both, reads them, finds the model's line, and replaces the comparison by one
that stays a tensor in the graph: ``torch.where`` keeps the model's two branches, and dropping a
shortcut that computes what the general path computes is simpler still. Both exported programs
are checked against eager on new batch sizes and sequence lengths.

Public reports of this message: pytorch/pytorch#145970 (with ``torch._dynamo.export``) and
pytorch/pytorch#173659 (raised from inside ``torch.quantile``); both were open on 2026-12-03.

The model and its error
-----------------------
"""

import contextlib
import io
import traceback

import torch
from torch._subclasses.fake_tensor import DataDependentOutputException
from torch.export import Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class MaskedMean(torch.nn.Module):
    """The mean over the sequence of the positions that ``mask`` keeps, with a shortcut when it
    keeps them all."""

    def forward(self, x, mask):
        if torch.equal(mask, torch.ones_like(mask)):
            return x.mean(dim=1)
        weights = mask.to(x.dtype).unsqueeze(-1)
        return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)


def inputs(batch, seq, kept):
    """``x`` of shape (batch, seq, 4) and a mask that keeps the first ``kept`` positions."""
    x = torch.arange(batch * seq * 4, dtype=torch.float32).reshape(batch, seq, 4).sin()
    mask = (torch.arange(seq) < kept).long().expand(batch, seq).contiguous()
    return x, mask


batch, seq = Dim("batch"), Dim("seq")
dynamic_shapes = {"x": {0: batch, 1: seq}, "mask": {0: batch, 1: seq}}
example = inputs(2, 5, kept=3)

try:
    # anything export writes on stderr while it traces is kept off the page
    with contextlib.redirect_stderr(io.StringIO()):
        torch.export.export(MaskedMean(), example, dynamic_shapes=dynamic_shapes)
    raise AssertionError("torch.equal now exports: update this recipe")
except DataDependentOutputException as error:
    print(f"{type(error).__name__}: {error}")
    assert str(error) == "aten.equal.default", error
    caught = error
assert issubclass(DataDependentOutputException, RuntimeError)

# %%
# How to read it:
#
# * The class is ``DataDependentOutputException``, from the private module
#   ``torch._subclasses.fake_tensor`` (a subclass of ``RuntimeError``): export raises it as it is.
# * The message is the operator that raised it, ``aten.equal.default``: the ATen operator behind
#   ``torch.equal`` (``default`` is its overload). Nothing in the message is about a shape.
# * "Data-dependent output": the operator returns a Python value (``True`` or ``False``), not a
#   tensor, and that value depends on what the tensors hold. Export runs the model on *fake*
#   tensors, which have shapes but no values, so the operator has nothing to return. The
#   operators that refuse this way carry the tag ``torch.Tag.data_dependent_output``:

for op in (torch.ops.aten.equal.default, torch.ops.aten.allclose.default):
    print(op, torch.Tag.data_dependent_output in op.tags)
    assert torch.Tag.data_dependent_output in op.tags, op.tags

# %%
# Finding the line
# ----------------
#
# The message names no line, and the traceback's last frames are inside PyTorch (the very last
# in ``fake_impls.py``). The model's line is the frame of its ``forward`` in the traceback:

model_file = MaskedMean.forward.__code__.co_filename
(frame,) = [f for f in traceback.extract_tb(caught.__traceback__) if f.filename == model_file and f.name == "forward"]
print(f"line {frame.lineno} in {frame.name}: {frame.line}")
assert frame.line == "if torch.equal(mask, torch.ones_like(mask)):", frame.line
assert traceback.extract_tb(caught.__traceback__)[-1].filename.endswith("fake_impls.py")

# %%
# ``torch.allclose`` raises the same exception, with its own operator's name:


class MaskedMeanAllclose(MaskedMean):
    def forward(self, x, mask):
        if torch.allclose(mask.float(), torch.ones_like(mask, dtype=torch.float32)):
            return x.mean(dim=1)
        return super().forward(x, mask)


try:
    with contextlib.redirect_stderr(io.StringIO()):
        torch.export.export(MaskedMeanAllclose(), example, dynamic_shapes=dynamic_shapes)
    raise AssertionError("torch.allclose now exports: update this recipe")
except DataDependentOutputException as error:
    print(f"{type(error).__name__}: {error}")
    assert str(error) == "aten.allclose.default", error

# %%
# With ``strict=True``: "Data dependent operator"
# -----------------------------------------------
#
# Strict export traces the bytecode with TorchDynamo, which stops at the same operator with
# another exception, ``torch._dynamo.exc.Unsupported`` (a private module too), whose message names
# the operator and says why (the rest of it gives a hint about custom operators and the model's
# line, under "from user code"):

try:
    with contextlib.redirect_stderr(io.StringIO()):
        torch.export.export(MaskedMean(), example, dynamic_shapes=dynamic_shapes, strict=True)
    raise AssertionError("torch.equal now exports with strict=True: update this recipe")
except torch._dynamo.exc.Unsupported as error:
    lines = str(error).splitlines()
    print("\n".join(lines[:2]))
    assert lines[0] == "Data dependent operator", lines[0]
    assert "Operator `aten.equal.default` has a non-Tensor output whose value is dependent on the data" in lines[1], lines[1]
    assert "Hint: Consider wrapping the operator into a PyTorch-understood custom operator" in str(error)
    assert "if torch.equal(mask, torch.ones_like(mask)):" in str(error).split("from user code:")[1]

# %%
# The fix: a comparison that stays a tensor, and ``torch.where``
# --------------------------------------------------------------
#
# ``(mask == 1).all()`` asks the same question, and its answer is a 0-d boolean *tensor*: an
# operator of the graph, computed when the program runs. Keep it out of a Python ``if``, which
# needs its value while tracing (:ref:`recipe-item-could-not-guard` shows that error);
# ``torch.where`` selects between the two results without asking. It computes both: fine for two
# cheap branches (:ref:`recipe-cond-on-tensor-value` shows ``torch.cond``, which runs one).


class MaskedMeanWhere(torch.nn.Module):
    def forward(self, x, mask):
        keeps_all = (mask == 1).all()
        weights = mask.to(x.dtype).unsqueeze(-1)
        masked = (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
        return torch.where(keeps_all, x.mean(dim=1), masked)


where_ep = torch.export.export(MaskedMeanWhere(), example, dynamic_shapes=dynamic_shapes)
shown = (torch.ops.aten.eq.Scalar, torch.ops.aten.all.default, torch.ops.aten.where.self)
print("\n".join(node.format_node() for node in where_ep.graph.nodes if node.target in shown))
code = where_ep.graph_module.code
assert "aten.equal" not in code and "item" not in code, code
assert "torch.ops.aten.all.default" in code and "torch.ops.aten.where.self" in code, code
assert "torch.ops.aten.mean.dim" in code and "torch.ops.aten.sum.dim_IntList" in code, code
new_inputs = [inputs(3, 7, kept=7), inputs(4, 9, kept=2), inputs(1, 6, kept=0)]
check_against_eager(where_ep, MaskedMean(), new_inputs)

# %%
# The three nodes shown compare the mask with ``eq``, reduce it with ``all`` and select with
# ``where``; the graph holds no ``equal`` and no ``item``, and it computes both the ``mean`` and
# the masked ``sum``. The program gives what the original model gives in eager mode for 3
# sequences of 7 all kept, 4 of 9 with 2 kept, and a batch of 1 with none kept (the example was 2
# sequences of 5).
#
# Simpler still: drop the shortcut
# --------------------------------
#
# Here the shortcut computes what the general path computes when every position is kept (a
# weight of 1 everywhere, divided by the length): it only saves work. Without it there is no
# comparison left to trace:


class MaskedMeanNoShortcut(torch.nn.Module):
    def forward(self, x, mask):
        weights = mask.to(x.dtype).unsqueeze(-1)
        return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)


plain_ep = torch.export.export(MaskedMeanNoShortcut(), example, dynamic_shapes=dynamic_shapes)
assert "where" not in plain_ep.graph_module.code
check_against_eager(plain_ep, MaskedMean(), new_inputs)

# %%
# Inside PyTorch: ``torch.quantile``
# ----------------------------------
#
# The message can come from an operator that calls ``equal`` internally: pytorch/pytorch#173659
# reports it from ``torch.quantile``. On the pinned release ``torch.quantile`` exports with a
# dynamic batch and gives eager's results:


class RowQuantile(torch.nn.Module):
    def forward(self, x):
        return torch.quantile(x, 0.9, dim=1)


torch.manual_seed(0)
quantile_ep = torch.export.export(RowQuantile(), (torch.randn(4, 8),), dynamic_shapes=({0: Dim("rows")},))
check_against_eager(quantile_ep, RowQuantile(), [(torch.randn(n, 8),) for n in (2, 7)])

# %%
# When the message names an operator your code does not call, the model's line in the traceback
# (as above) is the call into PyTorch that reached it.
