"""
.. _recipe-dim-auto-dynamic-static:

Dim.AUTO, Dim.DYNAMIC, Dim.STATIC, a named Dim or an int: which one?
====================================================================

A dimension in ``dynamic_shapes`` can be given five kinds of values: ``Dim.AUTO``,
``Dim.DYNAMIC``, ``Dim.STATIC``, a named ``Dim("batch")`` or an integer. They differ exactly when
the model's code fixes a dimension, for instance the input features of a ``Linear`` layer:
``Dim.AUTO`` silently makes it static, ``Dim.DYNAMIC`` and a named ``Dim`` raise
"You marked ... as dynamic but your code specialized it to be a constant". This recipe exports
one model with each of them, prints what each gives, and ends with a summary and a
recommendation.

The model
---------

A ``Linear(8, 4)`` layer: ``x`` has a batch dimension that can vary, and 8 features that
cannot, since the layer's weight is ``4 x 8``.
"""

import torch
from torch.export import Dim
from torch.fx.experimental.symbolic_shapes import ConstraintViolationError


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.linear(x)


model = Model()
x = torch.randn(4, 8)
summary = []  # (spec of dims 0 and 1, what export gives)


def export_and_describe(spec):
    """Export with ``{"x": spec}`` and describe the shape of ``x`` in the program."""
    ep = torch.export.export(model, (x,), dynamic_shapes={"x": spec})
    (x_node,) = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name == "x"]
    shape = x_node.meta["val"].shape
    dims = [
        f"{d} in {ep.range_constraints[d.node.expr]}"
        if isinstance(d, torch.SymInt) and d.node.expr in ep.range_constraints
        else str(d)  # a constant
        for d in shape
    ]
    return ep, "x: [" + ", ".join(dims) + "]"


# %%
# ``Dim.AUTO``: dynamic where possible, static elsewhere, silently
# ----------------------------------------------------------------

auto_ep, described = export_and_describe({0: Dim.AUTO, 1: Dim.AUTO})
print(described)
summary.append(("Dim.AUTO, Dim.AUTO", described))
assert described == "x: [s77 in VR[2, int_oo], 8]", described

# %%
# Both dimensions were asked to be "auto". The batch stayed dynamic (the symbol ``s77``, from 2
# to infinity). The features became the constant 8 without any message: while tracing, the
# matrix multiplication required ``x.shape[1] == 8``, and ``Dim.AUTO`` accepts such a guard by
# making the dimension static. The program works on new batch sizes, and only on 8 features:

for new_batch in (3, 17):
    new_x = torch.randn(new_batch, 8)
    torch.testing.assert_close(auto_ep.module()(new_x), model(new_x))
print("batches 3 and 17: same as eager")

# %%
# ``Dim.DYNAMIC``: must stay dynamic, or export raises
# ----------------------------------------------------
#
# ``Dim.DYNAMIC`` is ``Dim.AUTO`` with a promise: the dimension must stay dynamic. The features
# cannot, so export raises a ``torch._dynamo.exc.UserError`` (the class export raises for
# spec problems; its module is private, there is no public alias):

try:
    export_and_describe({0: Dim.DYNAMIC, 1: Dim.DYNAMIC})
    raise AssertionError("Dim.DYNAMIC on the features now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith("Constraints violated (L['x'].size()[1])!"), message
assert "You marked L['x'].size()[1] as dynamic but your code specialized it to be a constant (8)" in message
assert "Suggested fixes" not in message, message
summary.append(("Dim.DYNAMIC, Dim.DYNAMIC", "UserError: specialized it to be a constant (8)"))

# %%
# The message names the dimension by its source, ``L['x'].size()[1]``: dimension 1 of the input
# ``x``. It says what to do (use ``Dim.STATIC`` or ``Dim.AUTO``) but has no "Suggested fixes"
# section. The batch would have been fine: the error is only about dimension 1.
#
# A named ``Dim``: the same error, with the name and a suggested fix
# ------------------------------------------------------------------

try:
    export_and_describe({0: Dim("batch"), 1: Dim("feat")})
    raise AssertionError("Dim('feat') on the features now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith("Constraints violated (feat)!"), message
assert "You marked feat as dynamic but your code specialized it to be a constant (8)" in message
assert "Suggested fixes:\n  feat = 8" in message, message
summary.append(("Dim('batch'), Dim('feat')", "UserError: specialized it to be a constant (8)"))

# %%
# A named ``Dim`` also means "must stay dynamic". The message uses its name, ``feat``, and its
# "Suggested fixes" section says to replace it with the constant: ``feat = 8``.
#
# ``Dim.STATIC`` and an int: static
# ---------------------------------

static_ep, described = export_and_describe({0: Dim.STATIC, 1: Dim.STATIC})
print("Dim.STATIC, Dim.STATIC ->", described)
summary.append(("Dim.STATIC, Dim.STATIC", described))
assert described == "x: [4, 8]", described

int_ep, described = export_and_describe({0: 4, 1: 8})
print("4, 8                   ->", described)
summary.append(("4, 8", described))
assert described == "x: [4, 8]", described

# %%
# Both fix the dimensions to the example's sizes: ``Dim.STATIC`` takes the size from the
# example, an int states it. Leaving a dimension out of the spec (or giving ``None`` for the
# whole tensor) does the same thing. The int must match the example:

try:
    export_and_describe({0: Dim.AUTO, 1: 7})
    raise AssertionError("a mismatched int now exports: update this recipe")
except ConstraintViolationError as e:
    message = str(e)
    print(message)

assert message.startswith("Static shape constraint of 7 does not match input size of 8, for L['x'].size()[1]")
summary.append(("Dim.AUTO, 7", "ConstraintViolationError: 7 does not match 8"))

# %%
# Note the class: ``torch.fx.experimental.symbolic_shapes.ConstraintViolationError`` (a
# ``RuntimeError``), not the ``UserError`` of the two errors above.
#
# The working specs: dynamic batch, static features
# -------------------------------------------------
#
# Say which dimension varies and which does not:

named_ep, described = export_and_describe({0: Dim("batch"), 1: Dim.STATIC})
print("Dim('batch'), Dim.STATIC ->", described)
summary.append(("Dim('batch'), Dim.STATIC", described))
assert described == "x: [s77 in VR[0, int_oo], 8]", described

dynamic_ep, described = export_and_describe({0: Dim.DYNAMIC, 1: Dim.STATIC})
print("Dim.DYNAMIC, Dim.STATIC  ->", described)
summary.append(("Dim.DYNAMIC, Dim.STATIC", described))
assert described == "x: [s77 in VR[2, int_oo], 8]", described

for ep in (named_ep, dynamic_ep):
    for new_batch in (3, 17):
        new_x = torch.randn(new_batch, 8)
        torch.testing.assert_close(ep.module()(new_x), model(new_x))
print("batches 3 and 17: same as eager, for both")

# %%
# Both export and match eager. They differ in the range: a named ``Dim`` starts at its ``min``
# (0 by default), while export gives the dimensions it infers (``Dim.DYNAMIC``, ``Dim.AUTO``) a
# lower bound of 2. ``Dim.STATIC`` could be replaced by ``8``, or the key 1 left out.
#
# Summary
# -------

width = max(len(spec) for spec, _ in summary)
for spec, result in summary:
    print(f"{spec:<{width}}  ->  {result}")

# %%
# * ``Dim.AUTO``: dynamic if the model allows it, static otherwise, **without a message**. Use it
#   to explore, then read the shapes of the program (``range_constraints``, the placeholders'
#   shapes) to see what you got.
# * ``Dim.DYNAMIC``: dynamic, with a range export infers; raises if the model fixes the
#   dimension.
# * A named ``Dim``: dynamic, with your name (used in errors, in suggested fixes, and by the ONNX
#   exporter as the name of the dimension) and your range; raises if the model fixes the
#   dimension.
# * ``Dim.STATIC`` or an int: static (an int must match the example).
#
# The recommendation: a named ``Dim`` (or ``Dim.DYNAMIC``) for every dimension that must vary,
# ``Dim.STATIC`` for the others. Export then fails loudly when the model cannot keep a dimension
# dynamic, instead of exporting a program that rejects your batch sizes at run time.
