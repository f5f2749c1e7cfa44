"""
.. _recipe-example-at-range-edge:

``Dim("batch", min=1)`` and an example of batch 1: "specialized it to be a constant (1)"
========================================================================================

The ranges of a ``Dim`` are inclusive, so an example at either end of the range should be fine:
a batch of 1 for ``Dim("batch", min=1, max=32)``, a batch of 32 for the same ``Dim``. The first
fails: export says the batch was specialized to 1 and suggests ``batch = 1``. The second works.
And an example outside the range fails differently depending on how the dimension is declared.

This recipe goes through the edges of one range with one small model: the example equal to
``min`` (1, then 4), equal to ``max``, and outside the range, with a named ``Dim`` and with
``Dim.DYNAMIC``. Each working program is checked against eager at both ends of its range.

The model
---------
"""

import torch
from torch.fx.experimental import _config as fx_config
from torch.fx.experimental.symbolic_shapes import ConstraintViolationError

Dim = torch.export.Dim


class Similarity(torch.nn.Module):
    """Projects a batch of vectors and returns their pairwise similarities, (batch, batch)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x):
        h = self.linear(x)
        return torch.relu(h @ h.T)


torch.manual_seed(0)
model = Similarity().eval()


def export_with(batch_size, dim):
    return torch.export.export(model, (torch.randn(batch_size, 8),), dynamic_shapes=({0: dim},))


def single_range(ep):
    """The program's only range (here the batch's), e.g. ``'VR[1, 32]'``."""
    (value_range,) = ep.range_constraints.values()
    return str(value_range)


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


# %%
# The example equals ``min=1``
# ----------------------------
#
# The range is 1 to 32, and the only example at hand has a batch of 1:

try:
    export_with(1, Dim("batch", min=1, max=32))
    raise AssertionError("an example of 1 with min=1 now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert str(e).startswith("Constraints violated (batch)!"), e
    assert "your code specialized it to be a constant (1)" in str(e), e
    assert "Suggested fixes:\n  batch = 1" in str(e), e

# %%
# ``min=0`` gives the same error:

try:
    export_with(1, Dim("batch", min=0, max=32))
    raise AssertionError("an example of 1 with min=0 now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    assert "your code specialized it to be a constant (1)" in str(e), e

# %%
# (``torch._dynamo.exc.UserError`` is private; code you keep can catch ``RuntimeError``, its base
# class.) ``min=1`` says which sizes the program must accept; it does not change how export reads
# the example. A size of 1 in an example is specialized before the range is looked at, because
# sizes 0 and 1 behave differently from the others (a dimension of 1 broadcasts), see
# :ref:`recipe-zero-one-specialization`. The batch becomes the constant 1, which contradicts the
# ``Dim``, and the "suggested fix" gives up the dimension.
#
# The fix: an example of 2 or more, same ``Dim``
# ----------------------------------------------
#
# The range stays as declared, including the lower bound 1:

ep = export_with(2, Dim("batch", min=1, max=32))
print(single_range(ep))
assert single_range(ep) == "VR[1, 32]", ep.range_constraints
check_against_eager(ep, model, [(torch.randn(1, 8),), (torch.randn(32, 8),)])

# %%
# The program runs the two ends of the range, 1 and 32, as eager does. Export traced with a batch
# of 2, and nothing in this model computes differently for a batch of 1. A model that
# broadcasts along the batch (adding a tensor of shape ``(batch, 1)``, a ``squeeze()``) can behave
# differently at 1: test that size explicitly, as above.
#
# When the only example at hand has a batch of 1, the (private) configuration flag
# ``backed_size_oblivious`` of ``torch.fx.experimental._config`` tells export not to specialize
# sizes of 0 or 1: the same ``Dim`` then exports from that example, with its declared range:

with fx_config.patch(backed_size_oblivious=True):
    from_one = export_with(1, Dim("batch", min=1, max=32))
print(single_range(from_one))
assert single_range(from_one) == "VR[1, 32]", from_one.range_constraints
check_against_eager(from_one, model, [(torch.randn(1, 8),), (torch.randn(2, 8),), (torch.randn(32, 8),)])

# %%
# Batches of 1, 2 and 32 match eager. As with any example, test the sizes that matter on the
# exported program.
#
# The example equals ``max``, or a ``min`` of 2 or more
# -----------------------------------------------------
#
# An example at either end is fine as long as it is not 1:

at_max = export_with(32, Dim("batch", min=1, max=32))
at_min = export_with(4, Dim("batch", min=4, max=32))
print(single_range(at_max), single_range(at_min))
assert single_range(at_max) == "VR[1, 32]" and single_range(at_min) == "VR[4, 32]"
check_against_eager(at_max, model, [(torch.randn(1, 8),), (torch.randn(7, 8),)])
check_against_eager(at_min, model, [(torch.randn(4, 8),), (torch.randn(32, 8),)])

# %%
# ``min=4`` is checked when the program is called (a lower bound above 2 becomes a guard, see
# :ref:`recipe-bounded-dim-min-max`):

try:
    at_min.module()(torch.randn(3, 8))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] >= 4", e
else:
    raise AssertionError("min=4 is no longer checked: update this recipe")

# %%
# The example is outside the range
# --------------------------------
#
# With a named ``Dim``, an example above ``max`` or below ``min`` stops export with an error that
# is not a ``UserError``:

outside = [
    (33, Dim("batch", min=1, max=32), "33 not in range [2, 32]"),
    (3, Dim("batch", min=4, max=32), "3 not in range [4, 32]"),
]
for example, dim, expected in outside:
    try:
        export_with(example, dim)
        raise AssertionError(f"an example of {example} outside {dim} now exports: update this recipe")
    except ConstraintViolationError as e:
        print(str(e).splitlines()[0])
        assert str(e).startswith(expected), e

# %%
# ``torch.fx.experimental.symbolic_shapes.ConstraintViolationError`` (a ``RuntimeError``) gives
# the example's size and a range, not the input's name. Note the range in the first message:
# ``[2, 32]``, not the ``[1, 32]`` of the ``Dim``. When the example is checked, export has already
# raised the lower bound to 2, its assumption for every dynamic size; the message shows that
# internal range. ``Dim.DYNAMIC`` with the same range accepts the example and exports a program
# that rejects it:

dynamic_ep = export_with(33, Dim.DYNAMIC(min=1, max=32))
print(single_range(dynamic_ep))
assert single_range(dynamic_ep) == "VR[2, 32]", dynamic_ep.range_constraints
try:
    dynamic_ep.module()(torch.randn(33, 8))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] <= 32", e
else:
    raise AssertionError("the DYNAMIC program now accepts its own example: update this recipe")

# %%
# The range also lost its lower bound 1: ``Dim.DYNAMIC`` keeps export's own minimum of 2, where
# the named ``Dim`` above kept ``VR[1, 32]``. But the program does not check that minimum, and a
# batch of 1 is still accepted, and matches eager:

check_against_eager(dynamic_ep, model, [(torch.randn(1, 8),), (torch.randn(32, 8),)])

# %%
# ``Dim.AUTO`` with a range also accepts an example outside it
# (:ref:`recipe-bounded-dim-min-max`).
#
# Summary
# -------
#
# ===========================  ===================================================================
# example                      result
# ===========================  ===================================================================
# 1, with ``min=1``            ``UserError``: "specialized it to be a constant (1)"; use 2 or more
# 1, with ``min=0``            the same: the example, not the range, decides
# ``min`` >= 2 or ``max``      exports with the declared range
# 1, size-oblivious flag       exports with the declared range
# outside, named ``Dim``       ``ConstraintViolationError``: "33 not in range [2, 32]"
# outside, ``Dim.DYNAMIC``     exports; the program rejects its own example
# ===========================  ===================================================================
#
# Pick an example of at least 2 within the range (its ``max`` is fine), and test the ends of the
# range on the exported program.

# %%
# With ShapesSpec (2.15+)
# -----------------------
#
# With a ``ShapesSpec`` (``torch.fx.experimental.dynamic_spec``, experimental in torch 2.15),
# ``ShapeVar("batch", min=1, max=32)`` takes the example at either end of its range, and an
# example outside the range exports as with ``Dim.DYNAMIC``: :ref:`recipe-shapes-spec-size-one`
# runs these cases.
