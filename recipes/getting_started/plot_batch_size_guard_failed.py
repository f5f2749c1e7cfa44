"""
.. _recipe-batch-size-guard-failed:

Guard failed: x.size()[0] == 4: the exported model only accepts the example's batch size
========================================================================================

You export a model with ``torch.export.export(model, (x,))``, where ``x`` is a batch of 4, and
call the exported module on a batch of 3. Eager PyTorch runs it, the exported module raises
``AssertionError: Guard failed: x.size()[0] == 4``. This recipe shows why an export without
``dynamic_shapes`` is specialized to the example's shapes, and ends with the one-line fix: a
``Dim`` for the batch dimension, checked on two new batch sizes.

The model and its export without ``dynamic_shapes``
---------------------------------------------------

A small model that flattens everything but the batch dimension, the way a lot of code does it,
with ``x.reshape(x.shape[0], -1)``:
"""

import torch


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.linear(x.reshape(x.shape[0], -1)).relu()


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


model = Model()
x = torch.randn(4, 2, 4)

ep = torch.export.export(model, (x,))
print(ep.graph_module.code)
print("range_constraints:", ep.range_constraints)

# %%
# ``x.shape[0]`` was the Python integer 4 while export traced the model, so the graph reshapes
# to the constant ``[4, -1]``. Without ``dynamic_shapes``, every dimension of every input is a
# constant: there are no symbols, and ``range_constraints`` is empty.
#
# A new batch size fails at the module's entrance
# -----------------------------------------------
#
# Eager PyTorch runs a batch of 3 without complaint:

print(model(torch.randn(3, 2, 4)).shape)

# %%
# The exported module refuses it before running the graph:

try:
    ep.module()(torch.randn(3, 2, 4))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] == 4", e
else:
    raise AssertionError("the static program now accepts a new batch size: update this recipe")

# %%
# Every assumption export made about the inputs while tracing becomes a *guard*, and
# ``ep.module()`` checks the guards on every call. Here the assumption is "the batch is 4",
# because nothing said otherwise. The check is what protects you: without it, this graph would
# reshape the 24 numbers of a batch of 3 into 4 rows of 6, which the ``Linear`` layer cannot
# take (and another model might silently compute something else). The message names the input and the dimension
# (``x.size()[0]``) and the value it was specialized to (``4``).
#
# The fix: a ``Dim`` for the batch dimension
# ------------------------------------------
#
# ``dynamic_shapes`` tells export which dimensions may change. It is keyed like ``forward``'s
# arguments; for ``x``, ``{0: Dim("batch")}`` makes dimension 0 dynamic and leaves the others
# static:

batch = torch.export.Dim("batch")
dynamic_ep = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
print(dynamic_ep.graph_module.code)
print("range_constraints:", dynamic_ep.range_constraints)

# %%
# Now the graph reads the batch size from ``x`` (``sym_size``) instead of using 4, and the batch
# is a symbol (printed ``s77`` here: the number is PyTorch's choice) with a range of 0 to
# infinity. In the graph's view of ``x``, the first dimension is a ``torch.SymInt`` and the
# others are plain integers:

(x_node,) = [n for n in dynamic_ep.graph.nodes if n.op == "placeholder" and n.name == "x"]
x_shape = x_node.meta["val"].shape
print(x_shape)
assert isinstance(x_shape[0], torch.SymInt), x_shape
assert [type(d) for d in x_shape[1:]] == [int, int] and x_shape[1:] == (2, 4), x_shape
assert str(dynamic_ep.range_constraints[x_shape[0].node.expr]) == "VR[0, int_oo]"

# %%
# The exported module gives the same result as eager on new batch sizes, 3 and 17 (the helper
# ``check_against_eager``, defined at the top, compares the two on each set of inputs):

check_against_eager(dynamic_ep, model, [(torch.randn(3, 2, 4),), (torch.randn(17, 2, 4),)])

# %%
# The other dimensions stay static
# --------------------------------
#
# Only the dimensions listed in ``dynamic_shapes`` are dynamic. Dimensions 1 and 2 of ``x`` are
# still fixed to 2 and 4, and a change there fails like the batch did before:

try:
    dynamic_ep.module()(torch.randn(3, 4, 2))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[1] == 2", e
else:
    raise AssertionError("the program now accepts a new x.size()[1]: update this recipe")

# %%
# Here that is what we want: the ``Linear`` layer needs ``2 * 4 = 8`` features. Give a ``Dim`` to
# every dimension that really varies in your use, and pick an example whose dynamic dimensions
# are not 0 or 1 (export treats those sizes as special and specializes them).
