"""
.. _recipe-shapes-spec-size-one:

An example with one row and ``ShapesSpec``: no 0/1 specialization, and what it costs
====================================================================================

The only example you have has a batch of 1, and ``Dim("batch")`` fails with "specialized it to be
a constant (1)", ``Dim.AUTO`` silently exports a batch of exactly 1
(:ref:`recipe-zero-one-specialization`), and ``Dim("batch", min=1)`` fails with an example at its
own lower bound (:ref:`recipe-example-at-range-edge`). ``torch.export.export``'s docstring says
that ``ShapesSpec`` does no 0/1 specialization. This recipe checks it on those two cases, then
shows the price: export no longer looks at the example's sizes, so a branch on a size becomes a
data-dependent error (fixed with ``torch._check``, a ``min`` or an assumption), and two sizes that
could broadcast are assumed equal.

``ShapesSpec`` lives in ``torch.fx.experimental.dynamic_spec``: it is **experimental** in torch
2.15, and each behaviour below is pinned.
"""

import contextlib
import io
import re

import torch
from torch.fx.experimental.dynamic_spec import ShapesSpec, ShapeVar, TensorSpec


class Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.linear(x).relu()


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def ranges(ep):
    """The program's ranges, its symbols without their numbers (``u`` or ``s``)."""
    return {re.sub(r"\d+", "", str(symbol)): str(value_range) for symbol, value_range in ep.range_constraints.items()}


model = Classifier().eval()
one = torch.randn(1, 8)

# %%
# An example of batch 1
# ---------------------
#
# The spec gives ``x`` a dynamic first dimension and a fixed second one:

ep = torch.export.export(model, (one,), dynamic_shapes=ShapesSpec({"x": TensorSpec([ShapeVar("batch"), 8])}))
print(ep.range_constraints)
assert ranges(ep) == {"u": "VR[0, int_oo]"}, ep.range_constraints
check_against_eager(ep, model, [(torch.randn(1, 8),), (torch.randn(5, 8),), (torch.randn(0, 8),)])

# %%
# No error, no warning, and the batch is dynamic from 0 up: the size of the example does not
# matter, because the batch is an *unbacked* symbol (``u``). Export traces without looking at the
# example's value at all.
#
# An example at the edge of the range
# -----------------------------------
#
# ``ShapeVar`` takes a ``min`` and a ``max`` as ``Dim`` does. An example at the lower bound 1 is
# fine, and so is one at ``max``:

for size in (1, 32):
    ep = torch.export.export(
        model, (torch.randn(size, 8),), dynamic_shapes=ShapesSpec({"x": TensorSpec([ShapeVar("batch", min=1, max=32), 8])})
    )
    assert ranges(ep) == {"u": "VR[1, 32]"}, ep.range_constraints
    check_against_eager(ep, model, [(torch.randn(1, 8),), (torch.randn(32, 8),)])

# %%
# An example *outside* the range is not checked either: export succeeds, and the program refuses
# its own example (:ref:`recipe-example-at-range-edge` shows what ``Dim`` and ``Dim.DYNAMIC`` do).

outside = torch.randn(40, 8)
ep = torch.export.export(model, (outside,), dynamic_shapes=ShapesSpec({"x": TensorSpec([ShapeVar("batch", min=1, max=32), 8])}))
assert ranges(ep) == {"u": "VR[1, 32]"}, ep.range_constraints
try:
    ep.module()(outside)
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] <= 32", e
else:
    raise AssertionError("the program now accepts a batch above max: update this recipe")

# %%
# What it costs: a branch on a size
# ---------------------------------
#
# The model below normalizes over the batch when it has more than one row, a common guard
# against the standard deviation of a single value. With a ``Dim``, export answers
# ``x.shape[0] > 1`` from the example (:ref:`recipe-shapes-spec-side-by-side` shows it); with a
# ``ShapesSpec`` there is no value to answer with, whatever the example:


class BatchNormalize(torch.nn.Module):
    def forward(self, x):
        if x.shape[0] > 1:
            x = (x - x.mean(0)) / (x.std(0) + 1e-5)
        return x.relu()


normalize = BatchNormalize()
four = torch.randn(4, 8)
try:
    with contextlib.redirect_stderr(io.StringIO()):  # the graph traced up to the failure: see below
        torch.export.export(normalize, (four,), dynamic_shapes=ShapesSpec({"x": TensorSpec([ShapeVar("batch"), 8])}))
    raise AssertionError("ShapesSpec now exports a branch on the batch: update this recipe")
except torch.fx.experimental.symbolic_shapes.GuardOnDataDependentSymNode as e:
    message = str(e)
    print(message.splitlines()[0])
assert message.startswith("Could not guard on data-dependent expression"), message
assert re.search(r"expression u\d+ > 1 ", message), message

# %%
# Before raising, export prints on stderr the graph it traced up to the failing line; the recipe
# keeps it off the page (``contextlib.redirect_stderr``).
#
# ``GuardOnDataDependentSymNode`` (in ``torch.fx.experimental.symbolic_shapes``) is a
# ``RuntimeError``; the message names the question (``u… > 1``). Three fixes say the answer
# in advance; all three give the same program, for batches of 2 or more:
#
# - ``torch._check(x.shape[0] > 1)`` in the model (a public API);
# - ``ShapeVar("batch", min=2)``;
# - ``assumptions=[batch > 1]`` in the ``ShapesSpec``.


class CheckedBatchNormalize(BatchNormalize):
    def forward(self, x):
        torch._check(x.shape[0] > 1)
        return super().forward(x)


batch = ShapeVar("batch")
programs = [
    torch.export.export(CheckedBatchNormalize(), (four,), dynamic_shapes=ShapesSpec({"x": TensorSpec([ShapeVar("batch"), 8])})),
    torch.export.export(normalize, (four,), dynamic_shapes=ShapesSpec({"x": TensorSpec([ShapeVar("batch", min=2), 8])})),
    torch.export.export(normalize, (four,), dynamic_shapes=ShapesSpec({"x": TensorSpec([batch, 8])}, assumptions=[batch > 1])),
]
for ep in programs:
    assert ranges(ep) == {"u": "VR[2, int_oo]"}, ep.range_constraints
    check_against_eager(ep, normalize, [(torch.randn(2, 8),), (torch.randn(6, 8),)])

# %%
# The branch for one row is not in these programs: a batch of 1 gets an assertion of the graph
# (a ``RuntimeError``), not the eager result.

try:
    programs[0].module()(one)
    raise AssertionError("the checked program now accepts batch 1: update this recipe")
except RuntimeError as e:
    message = str(e)
    print(message)
assert message.startswith("Runtime assertion failed for expression") and ">= 2 on node" in message, message

# %%
# Export does not run the example through these checks either: exported from the example of
# one row, the program with ``torch._check`` is the same, for 2 rows and more.

ep = torch.export.export(CheckedBatchNormalize(), (one,), dynamic_shapes=ShapesSpec({"x": TensorSpec([ShapeVar("batch"), 8])}))
assert ranges(ep) == {"u": "VR[2, int_oo]"}, ep.range_constraints

# %%
# What it costs: sizes that could broadcast
# -----------------------------------------
#
# ``x + y`` with two dynamic batches: in eager, a ``y`` of one row broadcasts. Export cannot ask
# whether a ``u`` size is 1, so it takes the general case, equal sizes, and the program checks it:


class AddRows(torch.nn.Module):
    def forward(self, x, y):
        return x + y


spec = ShapesSpec({"x": TensorSpec([ShapeVar("rows_x"), 8]), "y": TensorSpec([ShapeVar("rows_y"), 8])})
ep = torch.export.export(AddRows(), (torch.randn(3, 8), torch.randn(3, 8)), dynamic_shapes=spec)
check_against_eager(ep, AddRows(), [(torch.randn(5, 8), torch.randn(5, 8))])
print(AddRows()(torch.randn(5, 8), torch.randn(1, 8)).shape)

# %%
# Eager broadcasts a ``y`` of one row to 5 rows; the program refuses it:

try:
    ep.module()(torch.randn(5, 8), torch.randn(1, 8))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: y.size()[0] == x.size()[0]", e
else:
    raise AssertionError("the program now broadcasts a batch of 1: update this recipe")

# %%
# If the model relies on broadcasting a size of 1,
# write the 1 in the spec (``TensorSpec([1, 8])``) or broadcast explicitly (``expand``).
#
# Summary: ``ShapesSpec`` removes the example's influence on the program. The 0/1 problem goes,
# and so does every answer export used to read from the example: write them in the model
# (``torch._check``) or in the spec (``min``, ``max``, ``assumptions``).
