"""
.. _recipe-specialized-to-constant:

"You marked n as dynamic but your code specialized it to be a constant": finding the line
=========================================================================================

Export says a dimension you declared dynamic became a constant, gives the constant, and suggests
``n = 5``: the opposite of what you want. The message names the dimension but not the line of
code that fixed it. This recipe finds that line with ``torch.export.draft_export``, then goes
through the usual culprits: a layer that needs a fixed size, a Python conversion of a size
(``F.pad(..., value=x.shape[0])``, ``int(math.ceil(n / 2))``), a Python loop over a dimension.
Each one gets a rewrite that keeps the dimension symbolic, checked against eager.

A layer that needs a fixed size: make it static
-----------------------------------------------

A ``Linear(8, 4)`` only accepts 8 input features. Marking that dimension dynamic fails:
"""

import logging
import math

import torch
import torch.nn.functional as F

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def random_inputs(*shapes):
    """A tuple of random tensors, one per shape."""
    return tuple(torch.randn(*shape) for shape in shapes)


class Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.linear(x).softmax(-1)


classifier = Classifier()
x = torch.randn(5, 8)
try:
    torch.export.export(classifier, (x,), dynamic_shapes=({0: Dim("batch"), 1: Dim("feat")},))
    raise AssertionError("a dynamic Linear input now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert "You marked feat as dynamic but your code specialized it to be a constant (8)" in message, message
assert "Suggested fixes:\n  feat = 8" in message, message

# %%
# ``torch._dynamo.exc.UserError`` is the class export raises (a private class, a subclass of
# ``RuntimeError``: see :ref:`recipe-bounded-dim-min-max`). While tracing, the matrix product
# compared the symbolic feature size with the 8 columns of the weight; the only value that works
# is 8, so export replaced the symbol by 8, contradicting the spec. Here the suggested fix is
# right: the dimension *is* static. Say so with ``Dim.STATIC`` (or the integer 8):

ep = torch.export.export(classifier, (x,), dynamic_shapes=({0: Dim("batch"), 1: Dim.STATIC},))
print(ep.range_constraints)
check_against_eager(ep, classifier, [random_inputs((2, 8)), random_inputs((11, 8))])

# %%
# In the other cases below, the size is not fixed by the model but by *how the code handles it*.
#
# Finding the line: ``draft_export``
# ----------------------------------
#
# ``Marker`` appends a row that holds the number of rows. The message is the same kind:


class Marker(torch.nn.Module):
    def forward(self, x):
        y = x * 2
        return F.pad(y, (0, 0, 0, 1), value=x.shape[0])


marker = Marker()
spec = ({0: Dim("n")},)
try:
    torch.export.export(marker, (x,), dynamic_shapes=spec)
    raise AssertionError("F.pad(value=<size>) now keeps the size symbolic: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert "You marked n as dynamic but your code specialized it to be a constant (5)" in message, message

# %%
# Nothing in it points at ``F.pad``. The message suggests ``draft_export()``: it takes the same
# arguments, does not stop at the first problem, and records where each one happened. The report
# is the attribute ``_report`` of the program it returns (private, but it is what draft_export's
# own warning tells you to print; ``print(draft._report)`` shows everything). Its failures say
# which guard was added, and the last frame of the user stack is the line responsible:

draft = torch.export.draft_export(marker, (x,), dynamic_shapes=spec)
for failure in draft._report.failures:
    frame = failure.data["user_stack"][-1]
    print(f"{failure.failure_type.name}: {failure.data['expr']}")
    print(f"  line {frame['line']} in {frame['name']}: {frame['loc']}")

failure = draft._report.failures[0]
print(failure.data["symbol_to_sources"])
(x_rows,) = [symbol for symbol, source in failure.data["symbol_to_sources"].items() if source == "L['x'].size()[0]"]
assert failure.data["expr"] == f"Eq({x_rows}, 5)", failure.data
assert "F.pad" in failure.data["user_stack"][-1]["loc"], failure.data

# %%
# ``Eq(s77, 5)``: the symbol of ``x.shape[0]`` (``symbol_to_sources`` maps the symbols to the
# inputs) was set equal to 5, by the line with ``F.pad``.
#
# Without ``draft_export``, the log of the symbolic shapes has the same guard, with the library
# function that asked for it. ``TORCH_LOGS="+dynamic"``, which the error message suggests,
# sends that log to stderr. In code, a handler on the logger
# ``torch.fx.experimental.symbolic_shapes``, at level ``INFO``, receives the same lines (the
# logger's own handlers are set aside meanwhile, to keep the output short):


class Recorder(logging.Handler):
    """Keeps the messages of the records it receives."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


recorder = Recorder()
shapes_logger = logging.getLogger("torch.fx.experimental.symbolic_shapes")
saved_handlers, saved_level = shapes_logger.handlers, shapes_logger.level
shapes_logger.handlers = [recorder]
shapes_logger.setLevel(logging.INFO)
try:
    torch.export.export(marker, (x,), dynamic_shapes=spec)
    raise AssertionError("F.pad(value=<size>) now keeps the size symbolic: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).splitlines()[1])
finally:
    shapes_logger.handlers = saved_handlers
    shapes_logger.setLevel(saved_level)

guard_lines = [m for m in recorder.messages if "[guard added]" in m]
print("\n".join(guard_lines))
assert any(m.startswith("eval Eq(") and " in pad)" in m for m in guard_lines), guard_lines
assert "TORCHDYNAMO_EXTENDED_DEBUG_GUARD_ADDED" in guard_lines[0], guard_lines

# %%
# The line names ``pad`` in ``nn/functional.py``, the library function that turned the size
# into a number, not the line of the model; it also names the environment variable
# ``TORCHDYNAMO_EXTENDED_DEBUG_GUARD_ADDED``, which, set to the expression of the guard, logs the
# whole Python stack where that guard is added, your line included. ``draft_export`` gives that
# line directly.
#
# ``F.pad(value=x.shape[0])``: build the values with a tensor operation
# ---------------------------------------------------------------------
#
# ``F.pad`` declares ``value`` as a Python float: the size is converted to a number, and a number
# cannot stay symbolic. ``new_full`` accepts a symbolic fill value; append the row with
# ``torch.cat``:


class MarkerFixed(torch.nn.Module):
    def forward(self, x):
        y = x * 2
        return torch.cat([y, y.new_full((1, y.shape[1]), y.shape[0])])


ep = torch.export.export(MarkerFixed(), (x,), dynamic_shapes=spec)
print(ep.graph_module.code)
check_against_eager(ep, marker, [random_inputs((2, 8)), random_inputs((9, 8))])

# %%
# The graph reads the size at run time (``sym_size``) and passes it to ``new_full``. The check
# compares with the original ``Marker``: same result.
#
# ``int(math.ceil(n / 2))``: stay in integers
# -------------------------------------------
#
# ``PairSum`` adds the rows two by two, padding an odd number of rows with a zero row. The number
# of pairs is computed the way one would in plain Python:


class PairSum(torch.nn.Module):
    def forward(self, x):
        n = x.shape[0]
        pairs = int(math.ceil(n / 2))
        padded = F.pad(x, (0, 0, 0, 2 * pairs - n))
        return padded.reshape(pairs, 2, x.shape[1]).sum(1)


pair_sum = PairSum()
try:
    torch.export.export(pair_sum, (x,), dynamic_shapes=spec)
    raise AssertionError("int(math.ceil(n / 2)) now stays symbolic: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert "satisfy the generated guard math.ceil(L['x'].size()[0] / 2) == 3" in message, message

# %%
# The message is not "specialized it to be a constant": ``n`` itself stays symbolic, but ``int()``
# turned the number of pairs into the plain integer 3 (``math.ceil`` of a symbolic float is still
# symbolic; ``int()`` of it is not). Export kept the guard ``ceil(n / 2) == 3``, which only 5 and 6
# satisfy. With ``Dim.AUTO`` there is no error at export, and the program keeps that guard: it
# refuses every other size instead of computing a wrong result:

auto_ep = torch.export.export(pair_sum, (x,), dynamic_shapes=({0: Dim.AUTO},))
print(auto_ep._guards_code)
check_against_eager(auto_ep, pair_sum, [random_inputs((6, 8))])

# %%
# 6 rows work (``ceil(6 / 2)`` is 3 too); 4 and 7 rows do not:

for rows in (4, 7):
    try:
        auto_ep.module()(torch.randn(rows, 8))
    except AssertionError as e:
        print(f"{rows} rows: {e}")
        assert str(e) == "Guard failed: math.ceil(x.size()[0] / 2) == 3", e
    else:
        raise AssertionError(f"the AUTO program now accepts {rows} rows: update this recipe")

# %%
# (``_guards_code``, printed above, is a private attribute.) Compute the ceiling with
# integer operations on the size itself: ``(n + 1) // 2`` is a symbolic integer.


class PairSumFixed(torch.nn.Module):
    def forward(self, x):
        n = x.shape[0]
        pairs = (n + 1) // 2
        padded = F.pad(x, (0, 0, 0, 2 * pairs - n))
        return padded.reshape(pairs, 2, x.shape[1]).sum(1)


ep = torch.export.export(PairSumFixed(), (x,), dynamic_shapes=({0: Dim("n", min=3)},))
print(ep.graph_module.code)
check_against_eager(ep, pair_sum, [random_inputs((4, 8)), random_inputs((9, 8))])

# %%
# ``min=3``: with one or two rows there is a single pair, and export assumed a size of 1 is not
# among the sizes (:ref:`recipe-zero-one-specialization`); a ``Dim`` starting at 0 is refused
# with that guard:

try:
    torch.export.export(PairSumFixed(), (x,), dynamic_shapes=({0: Dim("n")},))
    raise AssertionError("(n + 1) // 2 pairs now export from n = 0: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert "satisfy the generated guard ((1 + L['x'].size()[0]) // 2) != 1" in message, message
#
# A Python loop over a dimension: vectorize
# -----------------------------------------
#
# ``RunningSum`` accumulates the rows one by one:


class RunningSum(torch.nn.Module):
    def forward(self, x):
        total = torch.zeros_like(x[0])
        rows = []
        for i in range(x.shape[0]):
            total = total + x[i]
            rows.append(total)
        return torch.stack(rows)


running_sum = RunningSum()
try:
    torch.export.export(running_sum, (x,), dynamic_shapes=spec)
    raise AssertionError("a loop over a dynamic dimension now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert "You marked n as dynamic but your code specialized it to be a constant (5)" in message, message

# %%
# ``range()`` needs a real integer, so the loop runs 5 times while tracing and the graph would
# hold 5 additions: the number of rows is baked into the code. Replace the loop by a tensor
# operation that takes the whole dimension at once, here ``torch.cumsum``:


class RunningSumFixed(torch.nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=0)


ep = torch.export.export(RunningSumFixed(), (x,), dynamic_shapes=spec)
print(ep.graph_module.code)
check_against_eager(ep, running_sum, [random_inputs((2, 8)), random_inputs((12, 8))])

# %%
# When no single operation does the job, ``torch.cond`` or a loop over a *static* dimension are
# the remaining options. In all these cases, the rule is the same: keep sizes as they come from
# ``x.shape`` and combine them with ``+ - * //`` or pass them to torch functions; ``int()``,
# ``float()``, ``range()`` and arguments typed as Python numbers turn them into constants.

# %%
# With ShapesSpec (2.15+)
# -----------------------
#
# A ``ShapesSpec`` (``torch.fx.experimental.dynamic_spec``, experimental in torch 2.15) neither
# raises nor makes the input static when the code forces a size: it keeps an unbacked symbol with
# a range of one value, checked when the program runs (:ref:`recipe-shapes-spec-side-by-side`).
# This message's advice about ``mark_dynamic`` and ``maybe_mark_dynamic`` is for
# ``torch.compile``: :ref:`recipe-shapes-spec-compile-mark-dynamic` relates them to ``Dim``.
