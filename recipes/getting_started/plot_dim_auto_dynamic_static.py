"""
.. _recipe-dim-auto-dynamic-static:

Dim.AUTO, Dim.DYNAMIC, Dim.STATIC, a named Dim or an int: which one?
====================================================================

A dimension in ``dynamic_shapes`` can be given five kinds of values: ``Dim.AUTO``,
``Dim.DYNAMIC``, ``Dim.STATIC``, a named ``Dim("batch")`` or an integer. They differ exactly when
the model's code fixes a dimension, for instance the input features of a ``Linear`` layer:
``Dim.AUTO`` silently makes it static, ``Dim.DYNAMIC`` and a named ``Dim`` raise
"You marked ... as dynamic but your code specialized it to be a constant". This recipe exports
one model with each of them, prints what each gives, and ends with a summary and two ways
of working: the named ``Dim`` that fails loudly, and ``Dim.AUTO`` followed by a check of the
program.

The model
---------

A ``Linear(8, 4)`` layer: ``x`` has a batch dimension that can vary, and 8 features that
cannot, since the layer's weight is ``4 x 8``.
"""

import torch
from torch.export import Dim
from torch.fx.experimental.symbolic_shapes import ConstraintViolationError, is_concrete_int


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
    """Export with ``{"x": spec}`` and describe the shape of ``x`` in the program: the range
    of a dynamic dimension, the size of a static one."""
    ep = torch.export.export(model, (x,), dynamic_shapes={"x": spec})
    (x_node,) = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name == "x"]
    dims = [
        str(d) if is_concrete_int(d) else f"dynamic {ep.range_constraints[d.node.expr]}"
        for d in x_node.meta["val"].shape
    ]
    return ep, "x: [" + ", ".join(dims) + "]"


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


# %%
# ``Dim.AUTO``: dynamic where possible, static elsewhere, silently
# ----------------------------------------------------------------

auto_ep, described = export_and_describe({0: Dim.AUTO, 1: Dim.AUTO})
print(described)
summary.append(("Dim.AUTO, Dim.AUTO", described))
assert described == "x: [dynamic VR[2, int_oo], 8]", described

# %%
# Both dimensions were asked to be "auto". The batch stayed dynamic (a symbol ranging from 2 to
# infinity). The features became the constant 8 without any message: while tracing, the matrix
# multiplication required ``x.shape[1] == 8``, and ``Dim.AUTO`` accepts such a guard by making
# the dimension static. The program works on new batch sizes, and only on 8 features:

check_against_eager(auto_ep, model, [(torch.randn(3, 8),), (torch.randn(17, 8),)])

# %%
# ``Dim.DYNAMIC``: must stay dynamic, or export raises
# ----------------------------------------------------
#
# ``Dim.DYNAMIC`` is ``Dim.AUTO`` with a promise: the dimension must stay dynamic. The features
# cannot, so export raises a ``torch._dynamo.exc.UserError`` (a private class, a subclass of
# ``RuntimeError``: see :ref:`recipe-bounded-dim-min-max` for what to catch in code you keep):

try:
    export_and_describe({0: Dim.DYNAMIC, 1: Dim.DYNAMIC})
    raise AssertionError("Dim.DYNAMIC on the features now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith("Constraints violated (L['x'].size()[1])!"), message
assert "You marked L['x'].size()[1] as dynamic but your code specialized it to be a constant (8)" in message
assert "If you're using Dim.DYNAMIC, replace it with either Dim.STATIC or Dim.AUTO" in message, message
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
assert described == "x: [dynamic VR[0, int_oo], 8]", described

dynamic_ep, described = export_and_describe({0: Dim.DYNAMIC, 1: Dim.STATIC})
print("Dim.DYNAMIC, Dim.STATIC  ->", described)
summary.append(("Dim.DYNAMIC, Dim.STATIC", described))
assert described == "x: [dynamic VR[2, int_oo], 8]", described

for ep in (named_ep, dynamic_ep):
    check_against_eager(ep, model, [(torch.randn(3, 8),), (torch.randn(17, 8),)])

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
# Which to start with? Two positions
# ----------------------------------
#
# *A named* ``Dim`` *(or* ``Dim.DYNAMIC`` *) for every dimension that must vary,* ``Dim.STATIC``
# *for the others.* Export then fails loudly, at export time, when the model cannot keep a
# dimension dynamic, instead of returning a program that rejects your batch sizes at run time.
# This fits when you know the contract of the model (which sizes vary, within which ranges) and
# want the export to enforce it.
#
# ``Dim.AUTO`` *first, then check the program.* The export team has suggested this flow in
# PyTorch issues (for example pytorch/pytorch#136210): ``Dim.AUTO`` never fails on a
# specialization, infers the ranges and the relations between dimensions by itself, and you
# read what it made of each dimension. This fits when you explore a model you do not know well,
# or one with many inputs whose relations you would otherwise write by hand. Its risk is the
# silent static dimension seen above, so make the reading a check that fails, right after
# export:


def dynamic_dims(ep, input_name):
    """The indices of the dimensions of an input that stayed dynamic in the program."""
    (node,) = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name == input_name]
    return [i for i, d in enumerate(node.meta["val"].shape) if not is_concrete_int(d)]


auto_ep = torch.export.export(model, (x,), dynamic_shapes={"x": {0: Dim.AUTO, 1: Dim.AUTO}})
shape = [n for n in auto_ep.graph.nodes if n.op == "placeholder" and n.name == "x"][0].meta["val"].shape
print("x:", [type(d).__name__ for d in shape], "dynamic dimensions:", dynamic_dims(auto_ep, "x"))
assert all(isinstance(d, torch.SymInt) for d in shape), shape
assert dynamic_dims(auto_ep, "x") == [0], "the batch of x must stay dynamic"

# %%
# A trap when writing that check: in a program exported with ``Dim.AUTO``, a dimension that
# became static can still be a ``torch.SymInt`` (here both are), whose value is the constant 8.
# ``is_concrete_int``, from ``torch.fx.experimental.symbolic_shapes`` (an experimental module,
# like the ``ConstraintViolationError`` above), tells a constant from a symbol. The check states
# the one thing the deployment needs (the batch varies) and leaves the rest to export. Both ways
# end with a program you have checked; they differ in where the check is written: in the spec,
# or after the export.

# %%
# With ShapesSpec (2.15+)
# -----------------------
#
# torch 2.15 adds another choice, a ``ShapesSpec`` (``torch.fx.experimental.dynamic_spec``,
# experimental), which ``torch.export.export``'s docstring recommends going forward:
# :ref:`recipe-shapes-spec-side-by-side` exports one model with a named ``Dim``, ``Dim.AUTO``
# and a ``ShapesSpec``, and :ref:`recipe-shapes-spec-migration` translates each ``Dim`` form.
