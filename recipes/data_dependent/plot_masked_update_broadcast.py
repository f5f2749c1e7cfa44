"""
.. _recipe-masked-update-broadcast:

``b[mask] += c`` and "Could not guard on data-dependent expression Ne(u0, 4)" in ``_broadcast_shapes``
======================================================================================================

A model built like a post-processing step corrects the entries of ``b`` selected by a mask:
``b[mask] += c``. Reports from older releases show export failing there with "Could not guard on
data-dependent expression Ne(u0, 4)", and a "Potential framework code culprit" in PyTorch's
``_broadcast_shapes``: the number of selected entries (``u0``) meets the size of ``c`` in a
broadcast. With the pinned release the same line exports, and the question moved into the
program, as a runtime assertion.

This recipe shows what the pinned release does with that line and with broadcasting a size read
with ``.item()``, what the assertions mean (the program refuses exactly the inputs eager refuses,
and one more), and ends with the rewrite that has no data-dependent size at all:
``torch.where``, checked against eager on new shapes.

The masked update exports, with an assertion
--------------------------------------------
"""

import re

import torch

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def runtime_asserts(ep):
    """The messages of the graph's ``_assert_scalar`` nodes."""
    return [node.args[1] for node in ep.graph.nodes if node.target == torch.ops.aten._assert_scalar.default]


class CorrectInvalid(torch.nn.Module):
    """Adds the correction ``c`` to the entries of ``b`` where ``a`` is negative."""

    def forward(self, a, b, c):
        b = b.clone()
        b[a < 0] += c
        return b


model = CorrectInvalid()
a, b, c = torch.randn(8), torch.randn(8), torch.randn(8)
ep = torch.export.export(model, (a, b, c))
print("\n".join(runtime_asserts(ep)))
assert any(re.fullmatch(r"Runtime assertion failed for expression Eq\(u\d+, 8\) on node '\w+'", m) for m in runtime_asserts(ep))

# %%
# ``b[a < 0]`` has ``u0`` entries, a size known only when the program runs, and ``+= c`` adds 8
# values to them: the broadcast needs ``u0`` to match 8. The reports show older releases stopping
# export on that question; the pinned one
# assumes the answer and asserts it: ``Eq(u0, 8)`` (with the range ``u0 >= 8``, ``u0 <= 8``),
# "every entry is selected". Eager mode agrees
# that this line only works when every entry is selected:

some_negative = (torch.tensor([-1.0, 2, -3, 4, 5, 6, 7, 8]), torch.randn(8), torch.randn(8))
try:
    model(*some_negative)
    raise AssertionError("eager now adds 8 values to 2 entries: update this recipe")
except RuntimeError as e:
    print("eager:", e)
    assert "must match the size of tensor b (8) at non-singleton dimension 0" in str(e), e
try:
    ep.module()(*some_negative)
    raise AssertionError("the program now adds 8 values to 2 entries: update this recipe")
except RuntimeError as e:
    print("exported:", e)
    assert re.match(r"Runtime assertion failed for expression (u\d+ >= 8|Eq\(u\d+, 8\))", str(e)), e

# %%
# So export did not break the model: the line is wrong for most inputs, and the assertion says
# which inputs it accepts. What the model means is to add, at each selected position, the
# correction of that position: ``b[mask] += c[mask]``.
#
# The fix: ``torch.where``, no data-dependent size
# ------------------------------------------------
#
# ``torch.where(mask, b + c, b)`` computes the same thing without selecting anything: every
# tensor keeps the size of the input, so no ``u0`` appears, nothing needs an assertion, and the
# number of entries can be dynamic:


class CorrectInvalidWhere(torch.nn.Module):
    def forward(self, a, b, c):
        return torch.where(a < 0, b + c, b)


class CorrectInvalidIndexed(torch.nn.Module):
    """The intended masked update, for comparison."""

    def forward(self, a, b, c):
        b = b.clone()
        mask = a < 0
        b[mask] += c[mask]
        return b


where_model = CorrectInvalidWhere()
n = Dim("n")
where_ep = torch.export.export(where_model, (a, b, c), dynamic_shapes=({0: n}, {0: n}, {0: n}))
print(where_ep.range_constraints)
assert runtime_asserts(where_ep) == []
new_inputs = [(torch.randn(k), torch.randn(k), torch.randn(k)) for k in (3, 8, 50)] + [some_negative]
check_against_eager(where_ep, CorrectInvalidIndexed(), new_inputs)

# %%
# The program matches the intended masked update on 3, 8 and 50 entries and on the input that
# broke the original line.
#
# A size read with ``.item()`` in a broadcast: the program refuses 1
# ------------------------------------------------------------------
#
# The same assumption has a consequence to know. Here a length read with ``.item()`` makes a
# tensor that is added to ``x`` of 4 values. Eager mode broadcasts a length of 1; the exported
# program asserts that the length is 4:


class AddOnes(torch.nn.Module):
    def forward(self, x, length):
        return x + torch.ones(length.item())


add_ones = AddOnes()
add_ep = torch.export.export(add_ones, (torch.randn(4), torch.tensor(4)))
print(add_ones(torch.zeros(4), torch.tensor(1)))
try:
    add_ep.module()(torch.zeros(4), torch.tensor(1))
    raise AssertionError("the program now broadcasts a length of 1: update this recipe")
except RuntimeError as e:
    print(e)
    assert re.match(r"Runtime assertion failed for expression (u\d+ >= 4|Eq\(u\d+, 4\))", str(e)), e

# %%
# When export meets a broadcast between a data-dependent size and another size, it takes the
# general case ("the sizes are equal", not "one of them is 1") and asserts it. The program then
# refuses an input that eager accepts. If a size of 1 is meaningful for your model, write the
# broadcast explicitly (``expand`` to the size you mean, or ``torch.where`` as above), and test
# the program with that size.
