"""
.. _recipe-bounded-dim-min-max:

Guard failed: x.size()[0] <= 64: bounding a Dim with min and max
================================================================

``Dim("batch", min=2, max=64)`` says the batch is between 2 and 64. Export records the range in
``ep.range_constraints`` and the exported module rejects a batch of 65 with
``Guard failed: x.size()[0] <= 64``. But not every bound behaves the way one would expect: a
batch of 1 still runs, the printed ``Dim`` does not show ``min=2``, an example outside the
range fails at export time with an unusual exception, and ``Dim.AUTO(min=..., max=...)``
accepts such an example and then rejects it. This recipe shows each case and what to rely on.

A named ``Dim`` with a range
----------------------------
"""

import torch
from torch.export import Dim
from torch.fx.experimental.symbolic_shapes import ConstraintViolationError


class Model(torch.nn.Module):
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


model = Model()
x = torch.randn(4, 8)

batch = Dim("batch", min=2, max=64)
ep = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
print(ep.range_constraints)


def batch_range(ep):
    """The range of ``x``'s first dimension, e.g. ``'VR[2, 64]'``."""
    (x_node,) = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name == "x"]
    return str(ep.range_constraints[x_node.meta["val"].shape[0].node.expr])


assert batch_range(ep) == "VR[2, 64]", ep.range_constraints

# %%
# ``range_constraints`` maps each symbol of the program to its range of values: the batch is
# a symbol (printed ``s77`` here), and ``VR[2, 64]`` is the closed range from 2 to 64. Inside
# the range the module matches eager, at batch 3 and 64:

check_against_eager(ep, model, [(torch.randn(3, 8),), (torch.randn(64, 8),)])
module = ep.module()

# %%
# Above the range, the module's guard refuses the call:

try:
    module(torch.randn(65, 8))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] <= 64", e
else:
    raise AssertionError("the upper bound is no longer checked: update this recipe")

# %%
# Trap 1: the lower bound 2 is not checked
# ----------------------------------------
#
# A batch of 1 is below ``min=2``, yet the module runs it:

out = module(torch.randn(1, 8))
print(out.shape)
assert out.shape == (1, 4), out.shape

# %%
# Export assumes anyway that a dynamic dimension is at least 2 (sizes 0 and 1 are special:
# they broadcast, or make a tensor empty), so a lower bound of 2 or less adds no guard, and no
# guard means no check at call time. The range in ``range_constraints`` says 2; the module
# lets 1 through. From ``min=3`` on, the lower bound becomes a guard and is checked:

strict_ep = torch.export.export(model, (x,), dynamic_shapes={"x": {0: Dim("batch", min=3, max=64)}})
try:
    strict_ep.module()(torch.randn(2, 8))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] >= 3", e
else:
    raise AssertionError("a lower bound of 3 is no longer checked: update this recipe")

# %%
# If your model gives wrong results for a batch of 1 (a ``squeeze()``, a broadcast), check the
# batch size yourself before calling the exported module: ``min=2`` will not do it.
#
# Trap 2: the printed ``Dim`` hides ``min=2``
# -------------------------------------------
#
# The default lower bound of a named ``Dim`` is 0, and its printed form leaves out ``min`` only
# when it is 2:

for low in (0, 1, 2, 3):
    print(f"Dim('d', min={low}) prints as {Dim('d', min=low)!r}")
print(f"Dim('d') prints as {Dim('d')!r}, its min is {Dim('d').min}")
assert repr(Dim("d", min=2)) == "Dim('d')" and repr(Dim("d")) == "Dim('d', min=0)"
assert repr(batch) == "Dim('batch', max=64)" and batch.min == 2

# %%
# So ``Dim('batch', max=64)`` in a log or an error message means ``min=2``, and
# ``Dim('batch', min=0)`` is what you get from ``Dim("batch")``. Read ``.min`` and ``.max`` when
# it matters.
#
# Trap 3: an example outside the range fails at export time
# ---------------------------------------------------------
#
# The example inputs must lie inside the ranges. With ``min=10`` and an example batch of 4:

try:
    torch.export.export(model, (x,), dynamic_shapes={"x": {0: Dim("batch", min=10)}})
    raise AssertionError("an example outside the range now exports: update this recipe")
except ConstraintViolationError as e:
    print(e)
    assert str(e).startswith("4 not in range [10, int_oo]"), e
    assert not isinstance(e, torch._dynamo.exc.UserError), type(e)

# %%
# This is not the ``torch._dynamo.exc.UserError`` export raises for other spec problems but a
# raw ``torch.fx.experimental.symbolic_shapes.ConstraintViolationError``: an ``except UserError``
# written around the export does not catch it. The message gives the example's size (4) and the
# range it should be in, not the input's name.
#
# Which exception to catch in code you keep
# -----------------------------------------
#
# Both classes live in private modules (``torch._dynamo.exc``, ``torch.fx.experimental``), and
# both are subclasses of ``RuntimeError``:

UserError = torch._dynamo.exc.UserError
print([cls.__name__ for cls in UserError.__mro__])
print([cls.__name__ for cls in ConstraintViolationError.__mro__])
assert [cls.__name__ for cls in UserError.__mro__][:3] == ["UserError", "TorchDynamoException", "RuntimeError"]
assert issubclass(UserError, RuntimeError) and issubclass(ConstraintViolationError, RuntimeError)

# %%
# The recipes of this cookbook catch ``torch._dynamo.exc.UserError`` by name, because each one
# pins the exact exception PyTorch raises today. Code you keep (a test, an export script) can
# catch ``RuntimeError`` instead: it is public, it covers both classes, and it does not break if
# the private modules move. Read the message to tell the problems apart.
#
# Trap 4: ``Dim.AUTO(min=..., max=...)`` accepts such an example
# --------------------------------------------------------------
#
# ``Dim.AUTO`` and ``Dim.DYNAMIC`` can be given a range too. With the same out-of-range example,
# export does not complain:

auto_ep = torch.export.export(model, (x,), dynamic_shapes={"x": {0: Dim.AUTO(min=16, max=32)}})
print(auto_ep.range_constraints)
assert batch_range(auto_ep) == "VR[16, 32]", auto_ep.range_constraints

# %%
# The program has the range asked for, 16 to 32, and so rejects the very example it was
# exported with:

try:
    auto_ep.module()(x)
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] >= 16", e
else:
    raise AssertionError("the AUTO program now accepts its out-of-range example: update this recipe")

# %%
# What to rely on
# ---------------
#
# * Read the range in ``ep.range_constraints`` (and ``.min``/``.max`` of a ``Dim``, not its
#   printed form).
# * Upper bounds, and lower bounds of 3 or more, are checked by the exported module. Lower
#   bounds of 0, 1 and 2 are not: check them yourself if the model needs them.
# * Pick example inputs inside the ranges: a named ``Dim`` raises ``ConstraintViolationError``
#   otherwise, and ``Dim.AUTO``/``Dim.DYNAMIC`` with a range export a program that rejects its
#   own example.
