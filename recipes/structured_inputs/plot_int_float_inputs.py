"""
.. _recipe-int-float-inputs:

Guard failed: n == 3: ints and floats as inputs of an exported program
======================================================================

A model takes a tensor and two Python numbers: an ``int`` (how many times to repeat the input) and
a ``float`` (a scale). The exported program works on the example, and the first call with another
``int`` or ``float`` fails with "Guard failed: n == 3": by default export bakes Python numbers into
the graph as constants. This recipe makes the ``int`` dynamic (with ``Dim.DYNAMIC``, bounded or
not, or inferred by ``AdditionalInputs``), shows that a ``float`` cannot be, and passes the scale as
a 0-d tensor instead, which also covers ``torch.tensor(scale)`` inside ``forward``.

Numbers are constants by default
--------------------------------
"""

import torch

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class Tile(torch.nn.Module):
    def forward(self, x, n, scale):
        return x.repeat(n, 1) * scale


model = Tile()
x = torch.randn(2, 3)
ep = torch.export.export(model, (x, 3, 0.5))
print(ep.graph_module.code)
assert "[3, 1]" in ep.graph_module.code and "0.5" in ep.graph_module.code, ep.graph_module.code

# %%
# ``n`` and ``scale`` are still inputs of the graph, but unused: the graph repeats 3 times and
# multiplies by 0.5. The module checks that the numbers it receives are the ones it was traced
# with:

for new_n, new_scale in [(4, 0.5), (3, 2.0)]:
    try:
        ep.module()(x, new_n, new_scale)
    except AssertionError as e:
        print(e)
        assert str(e) in ("Guard failed: n == 3", "Guard failed: scale == 0.5"), e
    else:
        raise AssertionError("Python numbers are no longer specialized: update this recipe")

# %%
# The ``int``: ``Dim.DYNAMIC`` as its spec
# ----------------------------------------
#
# An ``int`` input can be dynamic. Its entry in ``dynamic_shapes`` is the hint itself, not a dict
# of dimensions (an ``int`` has none). A named ``Dim`` is refused for an ``int``:

try:
    torch.export.export(model, (x, 3, 0.5), dynamic_shapes={"x": None, "n": Dim("n"), "scale": None})
    raise AssertionError("named Dims are now accepted for ints: update this recipe")
except ValueError as e:
    print(e)
    assert str(e).startswith("Unable to specify input integers as dynamic through named Dims"), e

# %%
# ``Dim.DYNAMIC`` works, and ``Dim.DYNAMIC(min=..., max=...)`` bounds it. Here
# the batch of ``x`` is dynamic too:

spec = {"x": {0: Dim.DYNAMIC}, "n": Dim.DYNAMIC(min=1, max=8), "scale": None}
int_ep = torch.export.export(model, (x, 3, 0.5), dynamic_shapes=spec)
print(int_ep.graph_module.code)
print(int_ep.range_constraints)
n_node = [node for node in int_ep.graph.nodes if node.op == "placeholder"][1]
assert isinstance(n_node.meta["val"], torch.SymInt), n_node.meta
assert sorted(str(r) for r in int_ep.range_constraints.values()) == ["VR[1, 8]", "VR[2, int_oo]"]
check_against_eager(int_ep, model, [(torch.randn(5, 3), 1, 0.5), (torch.randn(3, 3), 7, 0.5)])

# %%
# ``n`` is now a symbol of range ``[1, 8]``, used as the repeat count. The program matches eager
# for ``n`` = 1 and 7. The bounds are checked on every call:

try:
    int_ep.module()(x, 9, 0.5)
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: n <= 8", e
else:
    raise AssertionError("the bound of n is no longer checked: update this recipe")

# %%
# Unlike tensor dimensions, an ``int`` exported from an example of 1 stays dynamic: there is no
# 0/1 specialization for it.

one_ep = torch.export.export(model, (x, 1, 0.5), dynamic_shapes={"x": None, "n": Dim.DYNAMIC, "scale": None})
print(one_ep.range_constraints)
assert [str(r) for r in one_ep.range_constraints.values()] == ["VR[0, int_oo]"]
check_against_eager(one_ep, model, [(x, 2, 0.5), (x, 6, 0.5)])

# %%
# The range says ``n`` may be 0, but the program refuses it: tracing ``repeat`` added a guard on
# the size of the result that the range does not show. Read the range as an upper bound of what
# the program accepts, and test the edge values you need:

try:
    one_ep.module()(x, 0, 0.5)
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed") and " n " in str(e), e
else:
    raise AssertionError("n = 0 is now accepted: update this recipe")

# %%
# ``AdditionalInputs`` infers the same from samples: an ``int`` that differs between samples
# becomes ``Dim.DYNAMIC`` (see :ref:`sphx_glr_auto_recipes_structured_inputs_plot_additional_inputs.py`
# for the tool itself):

samples = torch.export.AdditionalInputs()
samples.add((torch.randn(4, 3), 5, 0.5))
samples.add((torch.randn(3, 3), 2, 0.5))
inferred = samples.dynamic_shapes(model, (x, 3, 0.5))
print(inferred)
assert inferred["n"] == Dim.DYNAMIC and inferred["scale"] is None, inferred
samples_ep = torch.export.export(model, (x, 3, 0.5), dynamic_shapes=samples)
check_against_eager(samples_ep, model, [(torch.randn(6, 3), 4, 0.5), (torch.randn(2, 3), 1, 0.5)])

# %%
# The ``float``: no spec makes it dynamic
# ---------------------------------------
#
# The same hint for ``scale`` is rejected:

try:
    torch.export.export(model, (x, 3, 0.5), dynamic_shapes={"x": None, "n": None, "scale": Dim.DYNAMIC})
    raise AssertionError("floats can now be dynamic: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).splitlines()[0])
    assert "to non-tensor type <class 'float'>" in str(e), e

# %%
# (``torch._dynamo.exc.UserError`` is in a private module; code you keep can catch its base class,
# ``RuntimeError``.) Export keeps every ``float`` input as a constant, and ``AdditionalInputs``
# refuses samples whose floats differ (the recipe linked above shows its message). A value that must
# change between calls goes in as a tensor: a 0-d tensor holding the scale.


class TileTensorScale(torch.nn.Module):
    def forward(self, x, n, scale):
        return x.repeat(n, 1) * scale


tensor_model = TileTensorScale()
tensor_spec = {"x": {0: Dim.DYNAMIC}, "n": Dim.DYNAMIC(min=1, max=8), "scale": None}
tensor_ep = torch.export.export(tensor_model, (x, 3, torch.tensor(0.5)), dynamic_shapes=tensor_spec)
print(tensor_ep.graph_module.code)
check_against_eager(
    tensor_ep, tensor_model, [(torch.randn(5, 3), 2, torch.tensor(2.0)), (torch.randn(3, 3), 4, torch.tensor(-1.5))]
)

# %%
# The spec of a 0-d tensor is ``None`` (it has no dimension), and the value flows through the
# graph: scales 2.0 and -1.5 match eager.
#
# ``torch.tensor(scale)`` inside ``forward``
# ------------------------------------------
#
# Code often builds a tensor from a Python float. With a ``float`` input, ``torch.tensor(scale)``
# becomes a constant stored in the program:


class Wrapped(torch.nn.Module):
    def forward(self, x, scale):
        return x * torch.tensor(scale)


wrapped_ep = torch.export.export(Wrapped(), (x, 0.5))
print(wrapped_ep.constants)
assert [float(c) for c in wrapped_ep.constants.values()] == [0.5], wrapped_ep.constants
try:
    wrapped_ep.module()(x, 2.0)
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: scale == 0.5", e
else:
    raise AssertionError("the wrapped float is no longer specialized: update this recipe")

# %%
# The 0.5 is a lifted constant of the program, and the module guards ``scale == 0.5`` as above.
# With the scale passed as a tensor, reading it back as a Python number with ``.item()`` and
# wrapping it again in ``torch.tensor`` stays in the graph:


class ItemWrapped(torch.nn.Module):
    def forward(self, x, scale):
        return x * torch.tensor([scale.item()])


item_model = ItemWrapped()
item_ep = torch.export.export(item_model, (x, torch.tensor(0.5)), dynamic_shapes=({0: Dim.DYNAMIC}, None))
print(item_ep.graph_module.code)
assert item_ep.constants == {}, item_ep.constants
check_against_eager(item_ep, item_model, [(torch.randn(4, 3), torch.tensor(3.0)), (torch.randn(2, 3), torch.tensor(0.1))])

# %%
# ``item`` and ``scalar_tensor`` are in the graph, there is no constant, and new scales match
# eager. To sum up: an ``int`` is dynamic with ``Dim.DYNAMIC`` (bounded with ``min``/``max``), a
# ``float`` never is, so pass it as a 0-d tensor.

# %%
# With ShapesSpec (2.15+)
# -----------------------
#
# In a ``ShapesSpec`` (``torch.fx.experimental.dynamic_spec``, experimental in torch 2.15), an
# ``IntVar`` makes an ``int`` input dynamic (``IntVar("keep", min=1)``):
# :ref:`recipe-shapes-spec-nested`.
