"""
.. _recipe-extract-specialized-integer:

"Could not extract specialized integer from data-dependent expression u0": a value from ``.item()`` used as a Python int
========================================================================================================================

A model reads a number from a tensor with ``.item()`` and uses it where Python needs a plain
``int``: as the count of a ``for`` loop (``range(k)``), through ``int(k)``, or as the index of a
Python list. Export stops with "Could not extract specialized integer from data-dependent
expression u0". The message is often pasted alone, without the line that raised it.

This recipe raises it in the three ways, reads the message and its ``Caused by`` line, and fixes
each use: a size stays symbolic (no ``int()``), a list indexed by a value becomes a stacked tensor
indexed by a tensor, and a loop with a data-dependent count runs a fixed number of times and keeps
the steps it needs with ``torch.where``.

A loop over ``range(k)``
------------------------
"""

import contextlib
import inspect
import io
import re

import torch
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def line_of(model, code):
    """The line number, in this file, of the line of ``model.forward`` that holds ``code``."""
    lines, first = inspect.getsourcelines(type(model).forward)
    (offset,) = [i for i, line in enumerate(lines) if code in line]
    return first + offset


class Refine(torch.nn.Module):
    """Applies the same refinement step ``steps`` times; ``steps`` comes with the input."""

    def __init__(self):
        super().__init__()
        self.step = torch.nn.Linear(4, 4)

    def forward(self, x, steps):
        for _ in range(steps.item()):
            x = torch.tanh(self.step(x))
        return x


torch.manual_seed(0)
refine = Refine()
x, steps = torch.randn(2, 4), torch.tensor(3)
try:
    # Export prints the graph it traced on stderr before it raises: kept off the page.
    with contextlib.redirect_stderr(io.StringIO()):
        torch.export.export(refine, (x, steps))
    raise AssertionError("Refine now exports: update this recipe")
except GuardOnDataDependentSymNode as e:
    lines = str(e).splitlines()
    print(lines[0])
assert re.fullmatch(r"Could not extract specialized integer from data-dependent expression u\d+ "
                    r"\(unhinted: u\d+\)\.  \(Size-like symbols: none\)", lines[0]), lines[0]
(caused_by,) = [line for line in lines if line.startswith("Caused by:")]
# The path in "Caused by" depends on where the file is: keep its file name only.
assert caused_by.endswith(f"plot_extract_specialized_integer.py:{line_of(refine, 'range(steps.item())')} in forward)"), caused_by
assert issubclass(GuardOnDataDependentSymNode, RuntimeError)
print("Caused by: (...", caused_by.rsplit("/", 1)[-1])

# %%
# The exception class is ``GuardOnDataDependentSymNode``, from
# ``torch.fx.experimental.symbolic_shapes``, a subclass of ``RuntimeError`` (export raises it as
# it is). How to read it:
#
# * ``u0`` is the value of ``steps.item()``: an *unbacked* symbol, the first of the trace. Export
#   records that a value was read, but it has no example value for it.
# * "extract specialized integer" means that Python asked for the number itself: ``range()``
#   needs an ``int``, and a symbol can only give one by being *specialized*, replaced by the
#   example's value (3 here) in the whole program. For an unbacked symbol export refuses,
#   whatever the example holds. "Could not guard on data-dependent expression" is the same refusal
#   for a condition (an ``if``), see :ref:`recipe-item-could-not-guard`.
# * ``(unhinted: u0)`` repeats the expression without substitution; ``Size-like symbols: none``
#   says that nothing told export that ``u0`` is a size.
# * ``Caused by`` gives the file and line of the ``for`` (its path is shortened here). When only
#   the first line was copied, :ref:`recipe-guard-with-no-line-of-your-code` shows how to find the
#   line again.
#
# The same message for ``int()`` and for a list index
# ---------------------------------------------------
#
# Every use that needs a Python ``int`` raises it, on the line of that use:


class ZerosOfLength(torch.nn.Module):
    def forward(self, x, length):
        k = int(length.item())
        return torch.cat([x, x.new_zeros(k)])


class PickScale(torch.nn.Module):
    def forward(self, x, choice):
        scales = [x, x * 2, x * 3]
        return scales[choice.item()]


for model, inputs, use in ((ZerosOfLength(), (torch.arange(4.0), torch.tensor(2)), "int(length.item())"),
                           (PickScale(), (torch.arange(4.0), torch.tensor(1)), "scales[choice.item()]")):
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            torch.export.export(model, inputs)
        raise AssertionError(f"{type(model).__name__} now exports: update this recipe")
    except GuardOnDataDependentSymNode as e:
        lines = str(e).splitlines()
        print(lines[0])
    (caused_by,) = [line for line in lines if line.startswith("Caused by:")]
    print(f"Caused by: (... {caused_by.rsplit('/', 1)[-1]}  [{type(model).__name__}]")
    assert lines[0].startswith("Could not extract specialized integer from data-dependent expression u"), lines[0]
    assert caused_by.endswith(f":{line_of(model, use)} in forward)"), caused_by

# %%
# A size: drop the ``int()``
# --------------------------
#
# ``length.item()`` is already an integer for PyTorch's ops: a symbolic one, which
# ``new_zeros`` accepts as a size. The ``int()`` around it is what asks for the number.
# ``torch._check(k >= 0)`` tells export that the value is a valid size; it becomes a runtime
# assertion of the program.


class ZerosOfLengthFixed(torch.nn.Module):
    def forward(self, x, length):
        k = length.item()
        torch._check(k >= 0)
        return torch.cat([x, x.new_zeros(k)])


zeros = ZerosOfLengthFixed()
zeros_ep = torch.export.export(zeros, (torch.arange(4.0), torch.tensor(2)))
print(zeros_ep.range_constraints)
assert [str(r) for r in zeros_ep.range_constraints.values()] == ["VR[0, int_oo]"]
assert "torch.ops.aten._assert_scalar.default" in zeros_ep.graph_module.code
check_against_eager(zeros_ep, zeros, [(torch.randn(4), torch.tensor(n)) for n in (0, 5, 9)])
check_against_eager(zeros_ep, ZerosOfLength(), [(torch.randn(4), torch.tensor(7))])

# %%
# The program gives eager's results for lengths 0, 5 and 9 (the example was 2), and the same as
# the model with ``int()`` in eager mode.
#
# A list indexed by a value: stack it
# -----------------------------------
#
# A Python list cannot be indexed by a symbol. Stacked into one tensor, the candidates can be
# selected by the tensor ``choice`` itself, with ``torch.index_select``, which takes the index as
# a tensor and never reads its value:


class PickScaleFixed(torch.nn.Module):
    def forward(self, x, choice):
        scales = torch.stack([x, x * 2, x * 3])
        return torch.index_select(scales, 0, choice.reshape(1)).squeeze(0)


pick = PickScaleFixed()
pick_ep = torch.export.export(pick, (torch.arange(4.0), torch.tensor(1)))
print(pick_ep.graph_module.code)
assert "item" not in pick_ep.graph_module.code
assert "torch.ops.aten.index_select.default(stack, 0, reshape)" in pick_ep.graph_module.code
check_against_eager(pick_ep, pick, [(torch.randn(4), torch.tensor(n)) for n in (0, 2)])
check_against_eager(pick_ep, PickScale(), [(torch.randn(4), torch.tensor(n)) for n in (0, 1, 2)])

# %%
# No ``item`` is left in the graph: the choice is an input of ``index_select``. The program
# matches eager for the choices 0 and 2 (the example was 1). Stacking computes every candidate:
# it suits a few cheap ones. For two branches of different costs, :ref:`recipe-cond-on-tensor-value` shows
# ``torch.cond``.
#
# A loop with a data-dependent count: a fixed number of steps
# -----------------------------------------------------------
#
# Export traces a Python loop by running it, so the graph holds as many steps as the loop ran.
# With the count unknown, there is no number of steps to trace. When the count has a known
# maximum, the loop can run that many times and keep a step only while it is below ``steps``:
# ``torch.where`` selects, per step, the refined or the unchanged tensor. The condition is a
# tensor, so nothing asks for a Python value.

MAX_STEPS = 4


class RefineBounded(torch.nn.Module):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def forward(self, x, steps):
        for i in range(MAX_STEPS):
            x = torch.where(i < steps, torch.tanh(self.step(x)), x)
        return x


bounded = RefineBounded(refine.step)
bounded_ep = torch.export.export(bounded, (x, steps))
assert "item" not in bounded_ep.graph_module.code
assert bounded_ep.graph_module.code.count("torch.ops.aten.where") == MAX_STEPS
new_inputs = [(torch.randn(2, 4), torch.tensor(n)) for n in (0, 1, 4)]
check_against_eager(bounded_ep, bounded, new_inputs)
check_against_eager(bounded_ep, refine, new_inputs)
too_many = (torch.randn(2, 4), torch.tensor(MAX_STEPS + 2))
torch.testing.assert_close(bounded_ep.module()(*too_many), refine(too_many[0], torch.tensor(MAX_STEPS)))
assert not torch.allclose(bounded_ep.module()(*too_many), refine(*too_many))

# %%
# The program matches the original model, run eagerly, on new inputs with 0, 1 and 4 steps (the
# example had 3). It always computes ``MAX_STEPS`` steps, and a count above ``MAX_STEPS`` is
# silently cut to it: 6 steps give what 4 steps give in eager mode. Where such a count must fail
# instead, check it; the check becomes a runtime assertion of the program:


class RefineBoundedChecked(RefineBounded):
    def forward(self, x, steps):
        torch._check(steps.item() <= MAX_STEPS)
        return super().forward(x, steps)


checked_ep = torch.export.export(RefineBoundedChecked(refine.step), (x, steps))
check_against_eager(checked_ep, refine, new_inputs)
try:
    checked_ep.module()(*too_many)
    raise AssertionError("a count above MAX_STEPS no longer fails: update this recipe")
except RuntimeError as e:
    print(e)
    assert re.match(rf"Runtime assertion failed for expression u\d+ <= {MAX_STEPS} on node", str(e)), e

# %%
# When the count has no useful maximum, the loop must become an operator
# of its own, ``torch.while_loop``: :ref:`recipe-onnx-scan-while-loop` exports one.
