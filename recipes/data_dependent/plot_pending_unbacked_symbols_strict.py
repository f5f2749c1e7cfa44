"""
.. _recipe-pending-unbacked-symbols-strict:

"Pending unbacked symbols {zuf0} not in returned outputs": a 0-d tensor used as a number with ``strict=True``
=============================================================================================================

A model passes a 0-d tensor where PyTorch takes a Python number: the fill value of
``torch.full_like``, or the index of a row (``features[scores.argmax()]``). Eager mode reads the
number. ``torch.export.export(..., strict=True)`` stops with ``PendingUnbackedSymbolNotFound``,
"Pending unbacked symbols {zuf0} not in returned outputs", followed by a question about a "fake
implementation" that the model does not have.

This recipe raises it twice (a float, ``zuf0``, and an integer, ``u0``), reads the message, and
gives two fixes checked against eager on new sizes: the default non-strict export, which traces
both models, and, where ``strict=True`` must stay, operations that keep the value a tensor.

Public reports of this message: pytorch/tutorials#3180 (a tutorial, merged in 2024-12, that shows
it for a pose-estimation model exported with ``strict=True``), pytorch/pytorch#144907 (the same
kind of model, closed when we looked, 2026-12-03) and pytorch/pytorch#151980 (``torch.full`` with a
0-d tensor, open on 2026-12-03; that case exports on the pinned release, see the end).

The model and its error
-----------------------
"""

import contextlib
import inspect
import io
import re
import traceback

import torch
from torch.export import Dim
from torch.fx.experimental.symbolic_shapes import PendingUnbackedSymbolNotFound


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class PeakNormalize(torch.nn.Module):
    """Scores divided by the best score, which is first filled into a tensor of their shape."""

    def forward(self, scores):
        peak = torch.full_like(scores, scores.max())
        return scores / peak


torch.manual_seed(0)
n = Dim("n")
scores = torch.linspace(0.1, 0.9, 6)
try:
    # anything written on stderr while export traces is kept off the page
    with contextlib.redirect_stderr(io.StringIO()):
        torch.export.export(PeakNormalize(), (scores,), dynamic_shapes=({0: n},), strict=True)
    raise AssertionError("a 0-d fill value now exports with strict=True: update this recipe")
except PendingUnbackedSymbolNotFound as e:
    error = e
    lines = str(error).splitlines()
    print(f"{type(error).__name__}: {lines[0]}")
    print(lines[1])
assert re.match(r"Pending unbacked symbols \{zuf\d+\} not in returned outputs FakeTensor\(", lines[0]), lines[0]
assert lines[1].startswith("Did you accidentally call new_dynamic_size() or item() more times"), lines[1]
assert issubclass(PendingUnbackedSymbolNotFound, RuntimeError)
assert ".py" not in str(error), error

# %%
# How to read it:
#
# * The class is ``PendingUnbackedSymbolNotFound``, from ``torch.fx.experimental.symbolic_shapes``,
#   a subclass of ``RuntimeError``; strict export raises it as it is.
# * An *unbacked symbol* is a value read from a tensor while tracing, which export has no example
#   value for: ``u0`` for an integer, ``zuf0`` for a float (here ``scores.max()``, read as the fill
#   value).
# * "Pending ... not in returned outputs": the symbol was created while tracing an operation, and
#   was not found in what that operation returned, the ``FakeTensor`` printed after it (a fake
#   tensor has a shape and no values).
# * The second line is advice for authors of custom operators, whose *fake implementation* creates
#   such symbols. Here no custom operator is involved: the 0-d tensor ``scores.max()`` stands where
#   ``full_like`` takes a number.
#
# Finding the line
# ----------------
#
# The message names no file and no line, and with ``strict=True`` the model's ``forward`` is not
# in the traceback either: TorchDynamo traced its bytecode without running it. TorchDynamo keeps
# the model's stack on the exception, in the attribute ``real_stack`` (undocumented, so it may
# change), whose last frame is the line:

model_file = PeakNormalize.forward.__code__.co_filename
assert not [f for f in traceback.extract_tb(error.__traceback__) if f.filename == model_file and f.name == "forward"]
frame = error.real_stack[-1]
print(f"line {frame.lineno} in {frame.name}: {frame.line}")
assert frame.line == "peak = torch.full_like(scores, scores.max())", frame.line

# %%
# The same message, with an integer ``u0``, comes from a row selected by a 0-d index:


class BestRow(torch.nn.Module):
    """The features of the row with the best score."""

    def forward(self, scores, features):
        return features[scores.argmax()]


features = torch.arange(24, dtype=torch.float32).reshape(6, 4)
try:
    with contextlib.redirect_stderr(io.StringIO()):
        torch.export.export(BestRow(), (scores, features), dynamic_shapes=({0: n}, {0: n}), strict=True)
    raise AssertionError("a 0-d index now exports with strict=True: update this recipe")
except PendingUnbackedSymbolNotFound as e:
    error = e
    lines = str(error).splitlines()
    print(f"{type(error).__name__}: {lines[0]}")
print(f"line {error.real_stack[-1].lineno}: {error.real_stack[-1].line}")
assert error.real_stack[-1].line == "return features[scores.argmax()]", error.real_stack[-1]
assert re.match(r"Pending unbacked symbols \{u\d+\} not in returned outputs FakeTensor\(", lines[0]), lines[0]

# %%
# The fix: the default, ``strict=False``
# --------------------------------------
#
# ``strict`` is ``False`` by default: export then runs the model's Python code as it is, and reads
# the 0-d tensor with an ``item`` of the graph. Both models export, with ``n`` dynamic:

assert inspect.signature(torch.export.export).parameters["strict"].default is False
peak_ep = torch.export.export(PeakNormalize(), (scores,), dynamic_shapes=({0: n},))
best_ep = torch.export.export(BestRow(), (scores, features), dynamic_shapes=({0: n}, {0: n}))
print(peak_ep.graph_module.code)
assert "torch.ops.aten.item.default" in peak_ep.graph_module.code
assert "torch.ops.aten.select.int(features, 0, item)" in best_ep.graph_module.code, best_ep.graph_module.code
check_against_eager(peak_ep, PeakNormalize(), [(torch.rand(n_rows) + 0.1,) for n_rows in (3, 9)])
check_against_eager(best_ep, BestRow(), [(torch.rand(n_rows), torch.randn(n_rows, 4)) for n_rows in (3, 9)])

# %%
# The graph reads the maximum with ``item`` and gives it to ``full_like``; the other one selects
# the row with ``select`` at the index read with ``item``. Both programs give eager's results for
# 3 and 9 rows (the example had 6).
#
# Keeping ``strict=True``: keep the value a tensor
# ------------------------------------------------
#
# When ``strict=True`` must stay (a tool that calls export that way), write the two lines with
# operations that take the value as a tensor: a division broadcasts a 0-d tensor, so no tensor
# needs to be filled, and ``index_select`` takes its index as a tensor (``argmax`` reshaped to
# one element). No number is read, and no ``item`` is left in the graph:


class PeakNormalizeTensors(torch.nn.Module):
    def forward(self, scores):
        return scores / scores.max()


class BestRowTensors(torch.nn.Module):
    def forward(self, scores, features):
        return features.index_select(0, scores.argmax().reshape(1)).squeeze(0)


peak_strict = torch.export.export(PeakNormalizeTensors(), (scores,), dynamic_shapes=({0: n},), strict=True)
best_strict = torch.export.export(BestRowTensors(), (scores, features), dynamic_shapes=({0: n}, {0: n}), strict=True)
print(best_strict.graph_module.code)
for ep in (peak_strict, best_strict):
    assert "item" not in ep.graph_module.code, ep.graph_module.code
check_against_eager(peak_strict, PeakNormalize(), [(torch.rand(n_rows) + 0.1,) for n_rows in (3, 9)])
check_against_eager(best_strict, BestRow(), [(torch.rand(n_rows), torch.randn(n_rows, 4)) for n_rows in (3, 9)])

# %%
# Both strict programs give what the original models give in eager mode, for 3 and 9 rows.
#
# ``torch.full`` with a 0-d tensor
# --------------------------------
#
# pytorch/pytorch#151980 reports the message for ``torch.full((3, 3), x)`` with a 0-d ``x``. On
# the pinned release that model exports in both modes and gives eager's result:


class Full(torch.nn.Module):
    def forward(self, x):
        return torch.full((3, 3), x)


for strict in (True, False):
    full_ep = torch.export.export(Full(), (torch.tensor(5.0),), strict=strict)
    check_against_eager(full_ep, Full(), [(torch.tensor(-2.5),)])

# %%
# Which operations raise it changes from release to release: on the line that ``real_stack``
# gives, look for a 0-d tensor given where a number goes.
