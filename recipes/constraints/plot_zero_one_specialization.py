"""
.. _recipe-zero-one-specialization:

An example input with batch size 1: 0/1 specialization
======================================================

You export with a single example, ``torch.randn(1, 8)``, and mark the batch dynamic. Depending on
how you mark it, export raises a ``UserError`` ("specialized it to be a constant (1)"), a
``ValueError`` ("0/1 specialized"), or silently exports a program that only accepts batch 1.
The cause is the example, not the model: export treats sizes 0 and 1 as special. This recipe
shows the three behaviours, explains them, and ends with two fixes checked on batches of 1 and 5:
an example of size 2 or more, and the private switch ``backed_size_oblivious``.
"""

import torch

Dim = torch.export.Dim


class Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.linear(x).relu()


def check_against_eager(ep, model, batches):
    module = ep.module()
    for batch in batches:
        x = torch.randn(batch, 8)
        torch.testing.assert_close(module(x), model(x))
    print(f"batches {batches} match eager")


model = Classifier()
one = torch.randn(1, 8)

# %%
# A named ``Dim``: "specialized it to be a constant (1)"
# ------------------------------------------------------

try:
    torch.export.export(model, (one,), dynamic_shapes=({0: Dim("batch")},))
    raise AssertionError("a named Dim with an example of size 1 now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert "You marked batch as dynamic but your code specialized it to be a constant (1)" in message, message
assert "Suggested fixes:\n  batch = 1" in message, message

# %%
# ``torch._dynamo.exc.UserError`` is the class export raises. Nothing in this model depends on
# the batch size. Export creates a symbol for a dynamic dimension only when the example's size is
# 2 or more: a size of 0 or 1 changes how tensors behave (a dimension of size 1 *broadcasts*, a
# size 0 makes a tensor empty), so export keeps such a size as a constant. The suggested fix,
# ``batch = 1``, would give up the dynamic batch.
#
# ``Dim.DYNAMIC``: a ``ValueError``
# ---------------------------------

try:
    torch.export.export(model, (one,), dynamic_shapes=({0: Dim.DYNAMIC},))
    raise AssertionError("Dim.DYNAMIC with an example of size 1 now exports: update this recipe")
except ValueError as e:
    message = str(e)
    print(message)

assert "but export 0/1 specialized due to hint of 1 for dimension inputs['x'].shape[0]" in message, message

# %%
# Same cause, other class, and a message that names it: "0/1 specialized due to hint of 1".
# (The *hint* is the example's size.)
#
# ``Dim.AUTO``: silently static
# -----------------------------
#
# ``Dim.AUTO`` means "dynamic if possible", so it does not raise. It only logs a warning
# (``0/1 specialized; Dim.AUTO was specified along with a sample input with hint = 1``) and
# exports a batch of exactly 1:

ep = torch.export.export(model, (one,), dynamic_shapes=({0: Dim.AUTO},))
print(ep.range_constraints)
x_placeholder = [node for node in ep.graph.nodes if node.op == "placeholder"][-1]
print(x_placeholder.meta["val"].shape)
assert ep.range_constraints == {}, ep.range_constraints

# %%
# No range, and a placeholder of shape ``[1, 8]``. Batch 5 is refused when the program runs,
# possibly long after export:

try:
    ep.module()(torch.randn(5, 8))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] == 1", e
else:
    raise AssertionError("the AUTO program now accepts batch 5: update this recipe")

# %%
# Fix 1: an example with batch 2 or more
# --------------------------------------
#
# The simplest fix: export with a batch of 2 (any size >= 2). The ``Dim``'s range still starts at
# 0 and batch 1 runs:

two = torch.randn(2, 8)
ep = torch.export.export(model, (two,), dynamic_shapes=({0: Dim("batch")},))
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[0, int_oo]"]
check_against_eager(ep, model, [1, 5])

# %%
# With ``Dim.AUTO`` or ``Dim.DYNAMIC`` the inferred range starts at 2, yet batch 1 runs too: the
# lower bound 2 comes from the 0/1 assumption and is not checked when the module runs.

ep = torch.export.export(model, (two,), dynamic_shapes=({0: Dim.AUTO},))
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[2, int_oo]"]
check_against_eager(ep, model, [1, 5])

# %%
# Batch 1 gives the same result as eager here because nothing in ``Classifier`` behaves
# differently for one row.
#
# Fix 2: keep the example of size 1 with ``backed_size_oblivious``
# ----------------------------------------------------------------
#
# When the only example you have has a size of 1 (a recorded input, a test fixture), the
# configuration flag ``backed_size_oblivious`` tells export not to specialize sizes 0 and 1 of the
# example. It lives in ``torch.fx.experimental._config``: a **private** module, so it may change
# without notice. The check below pins its existence and its default:

assert torch.fx.experimental._config.backed_size_oblivious is False

with torch.fx.experimental._config.patch(backed_size_oblivious=True):
    ep = torch.export.export(model, (one,), dynamic_shapes=({0: Dim.DYNAMIC},))
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[0, int_oo]"]
check_against_eager(ep, model, [1, 5])

# %%
# With the flag, the batch stays dynamic although the example has one row, and batches of 1 and 5
# match eager. ``patch`` restores the default when the ``with`` block ends. The flag changes the
# trace: where the code asks "is this size 1?", export answers "no" (the general case) instead of
# looking at the example, so review the checks of the module when the model broadcasts.
# ``torch.onnx.export(..., dynamo=True)`` sets this flag during its own capture, so the ONNX
# exporter accepts an example of batch 1 without it.
