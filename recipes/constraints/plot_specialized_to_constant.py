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

import math

import torch
import torch.nn.functional as F

Dim = torch.export.Dim


def check_against_eager(ep, model, shapes):
    module = ep.module()
    for shape in shapes:
        x = torch.randn(*shape)
        torch.testing.assert_close(module(x), model(x))
    print(f"{len(shapes)} new shapes match eager")


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
# ``torch._dynamo.exc.UserError`` is the class export raises. While tracing, the matrix product
# compared the symbolic feature size with the 8 columns of the weight; the only value that works
# is 8, so export replaced the symbol by 8, contradicting the spec. Here the suggested fix is
# right: the dimension *is* static. Say so with ``Dim.STATIC`` (or the integer 8):

ep = torch.export.export(classifier, (x,), dynamic_shapes=({0: Dim("batch"), 1: Dim.STATIC},))
print(ep.range_constraints)
check_against_eager(ep, classifier, [(2, 8), (11, 8)])

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
assert failure.data["expr"] == "Eq(s77, 5)", failure.data
assert "F.pad" in failure.data["user_stack"][-1]["loc"], failure.data

# %%
# ``Eq(s77, 5)``: the symbol of ``x.shape[0]`` was set equal to 5, by the line with ``F.pad``.
# Without ``draft_export``, ``TORCH_LOGS="+dynamic"`` logs the same guard on stderr
# (``eval Eq(s77, 5) [guard added] (nn/functional.py:5823 in pad)``), with the library function
# that asked for it; adding the environment variable
# ``TORCHDYNAMO_EXTENDED_DEBUG_GUARD_ADDED="Eq(s77, 5)"`` logs the whole Python stack of that guard.
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
check_against_eager(ep, marker, [(2, 8), (9, 8)])

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
# satisfy. With ``Dim.AUTO`` there is no error at all, and the program is wrong for every other
# size:

auto_ep = torch.export.export(pair_sum, (x,), dynamic_shapes=({0: Dim.AUTO},))
print(auto_ep._guards_code)
check_against_eager(auto_ep, pair_sum, [(6, 8)])

# %%
# 6 rows work (``ceil(6 / 2)`` is 3 too); 7 rows do not:

try:
    auto_ep.module()(torch.randn(7, 8))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: math.ceil(x.size()[0] / 2) == 3", e
else:
    raise AssertionError("the AUTO program now accepts 7 rows: update this recipe")

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
check_against_eager(ep, pair_sum, [(4, 8), (9, 8)])

# %%
# ``min=3``: with one or two rows there is a single pair, and export assumed a size of 1 is not
# among the sizes (:ref:`recipe-zero-one-specialization`); a ``Dim`` starting at 0 is refused with the guard
# ``((1 + L['x'].size()[0]) // 2) != 1``.
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
check_against_eager(ep, running_sum, [(2, 8), (12, 8)])

# %%
# When no single operation does the job, ``torch.cond`` or a loop over a *static* dimension are
# the remaining options. In all these cases, the rule is the same: keep sizes as they come from
# ``x.shape`` and combine them with ``+ - * //`` or pass them to torch functions; ``int()``,
# ``float()``, ``range()`` and arguments typed as Python numbers turn them into constants.
