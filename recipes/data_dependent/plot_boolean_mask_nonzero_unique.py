"""
.. _recipe-boolean-mask-nonzero-unique:

What is ``u0``? Exporting ``x[x > 0]``, ``nonzero`` and ``unique``
==================================================================

``x[x > 0]``, ``torch.nonzero(x)`` and ``torch.unique(x)`` return a tensor whose size depends on
the *values* of ``x``, not on its shape. No ``Dim`` can describe that size: export gives it a
symbol of its own, ``u0``, and you meet that name in graphs, ranges and error messages.

This recipe exports the three ops, shows where ``u0`` appears and which range export gives it,
checks the exported programs against eager on inputs that keep more or fewer values, and ends with
the runtime assertion the program raises when a value of ``u0`` breaks an assumption made while
tracing.

A boolean mask: ``x[x > 0]``
----------------------------
"""

import re

import torch

Dim = torch.export.Dim


class KeepPositive(torch.nn.Module):
    def forward(self, x):
        return x[x > 0]


model = KeepPositive()
x = torch.tensor([0.5, -1.0, 2.0, 0.0, 3.0, -4.0])
print(model(x))
print(model(torch.tensor([-1.0, -2.0, 5.0])))

# %%
# In eager mode the output has as many elements as ``x`` has positive values: 3, then 1. Export the
# model with a dynamic length:

ep = torch.export.export(model, (x,), dynamic_shapes=({0: Dim("n")},))
print(ep.graph_module.code)

# %%
# The graph does the same indexing, then checks one property of the output size: ``u0 >= 0``
# (``_assert_scalar`` nodes are run by the exported program on every call). The shapes of the
# input and output tell what ``u0`` is:


def shapes(ep):
    """{'x': '[s77]', 'output': '[u0]'}: the symbolic shape of each input and of the output."""
    result = {node.name: str(list(node.meta["val"].shape)) for node in ep.graph.nodes if node.op == "placeholder"}
    result["output"] = str(list(ep.graph.output_node().args[0][0].meta["val"].shape))
    return result


def runtime_asserts(ep):
    """The messages of the graph's ``_assert_scalar`` nodes."""
    return [node.args[1] for node in ep.graph.nodes if node.target == torch.ops.aten._assert_scalar.default]


print(shapes(ep))
print(ep.range_constraints)
length, kept = shapes(ep)["x"][1:-1], shapes(ep)["output"][1:-1]  # the symbol in "[...]"
assert re.fullmatch(r"s\d+", length) and re.fullmatch(r"u\d+", kept), shapes(ep)
assert {str(k): str(v) for k, v in ep.range_constraints.items()} == {
    kept: "VR[0, 9223372036854775806]",
    length: "VR[0, int_oo]",
}, ep.range_constraints

# %%
# The input length is ``s77`` (the number is PyTorch's choice, the letter is what matters, and
# the checks above read only the letter): an "s" symbol is *backed*, it comes from an input dimension, and
# while tracing export knows its example value (6). The output length is ``u0``: a "u" symbol is
# *unbacked*, it comes out of an op that reads values, and export has no value for it. Its range
# is ``VR[0, 9223372036854775806]``: export knows the size is not negative, but did not relate it
# to ``s77`` (the input length); the upper bound is just the largest size it allows.
#
# The program computes the same thing as eager, whatever the number of positive values, for new
# input lengths too:

def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


new_inputs = [(torch.tensor(values),) for values in ([1.0, -2.0, 3.0, 4.0], [-1.0, -2.0, -3.0], [7.0] * 9, [0.0, 2.0])]
print("values kept:", [model(*inputs).numel() for inputs in new_inputs])
check_against_eager(ep, model, new_inputs)

# %%
# ``nonzero`` and ``unique``
# --------------------------
#
# Both get a ``u0`` in the same way. With a static input of 6 elements, export also knows the
# upper bound, so the range is ``VR[0, 6]``:


class NonzeroIndices(torch.nn.Module):
    def forward(self, x):
        return torch.nonzero(x)


class Unique(torch.nn.Module):
    def forward(self, x):
        return torch.unique(x)


x_ints = torch.tensor([3, 0, 3, 1, 0, 2])
for m in (NonzeroIndices(), Unique()):
    ep_static = torch.export.export(m, (x_ints,))
    print(type(m).__name__, shapes(ep_static), ep_static.range_constraints)
    print("   ", runtime_asserts(ep_static))
    (count,) = [str(symbol) for symbol in ep_static.range_constraints]
    assert re.fullmatch(r"u\d+", count), ep_static.range_constraints
    assert [a.split(" on node")[0] for a in runtime_asserts(ep_static)] == [
        f"Runtime assertion failed for expression {count} >= 0",
        f"Runtime assertion failed for expression {count} <= 6",
    ], runtime_asserts(ep_static)
    assert isinstance(m, NonzeroIndices) or "aten._unique2" in ep_static.graph_module.code
    assert [str(r) for r in ep_static.range_constraints.values()] == ["VR[0, 6]"], ep_static.range_constraints
    check_against_eager(ep_static, m, [(torch.tensor([0, 0, 0, 0, 0, 0]),), (torch.tensor([5, 4, 4, 0, 1, 1]),)])

# %%
# ``nonzero`` returns ``[u0, 1]`` (one column per input dimension). ``unique`` is traced as
# ``aten._unique2``, whose first output is ``[u0]``. Both graphs assert ``u0 >= 0`` and ``u0 <= 6``,
# which no input can break. On an input of zeros, and on one with 5 nonzero and 4 distinct values,
# the programs match eager.
#
# When a value of ``u0`` breaks the program
# -----------------------------------------
#
# Things change when the code after the op needs more than "a size". Here the positive values are
# taken two by two, with ``reshape(-1, 2)``: that only works for an even count.


class SumPairs(torch.nn.Module):
    def forward(self, x):
        return x[x > 0].reshape(-1, 2).sum(dim=1)


pairs_model = SumPairs()
x_even = torch.tensor([0.5, -1.0, 2.0, 1.0, 3.0, -4.0])
pairs_ep = torch.export.export(pairs_model, (x_even,), dynamic_shapes=({0: Dim("n")},))
asserts = runtime_asserts(pairs_ep)
print("\n".join(asserts))
(kept,) = [str(symbol) for symbol in pairs_ep.range_constraints if re.fullmatch(r"u\d+", str(symbol))]
assert [a.split(" on node")[0] for a in asserts] == [
    f"Runtime assertion failed for expression {kept} >= 0",
    f"Runtime assertion failed for expression Eq(Mod({kept}, 2), 0)",
], asserts
check_against_eager(
    pairs_ep, pairs_model, [(torch.tensor([1.0, 2.0]),), (torch.tensor([-1.0, 4.0, 5.0, 6.0, -2.0, 7.0, 0.0]),)]
)

# %%
# Export cannot prove that ``u0`` is even. It does not stop there: it *assumes* it and writes the
# assumption into the program as an assertion, ``Eq(Mod(u0, 2), 0)``, next to ``u0 >= 0``,
# checked on every call. With an even number of positive values the program matches eager
# (2 and 4 values kept above). With an odd number, the assertion fails before the reshape:

odd = torch.tensor([1.0, -2.0, 3.0, 4.0])
try:
    pairs_ep.module()(odd)
    raise AssertionError("the program no longer checks that u0 is even: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e).startswith(f"Runtime assertion failed for expression Eq(Mod({kept}, 2), 0)"), e

# %%
# Eager fails on the same input too, but inside ``reshape`` and with another message:

try:
    pairs_model(odd)
    raise AssertionError("reshape(-1, 2) now accepts 3 elements: update this recipe")
except RuntimeError as e:
    print(e)

# %%
# To read such a message, find the op that produced ``u0`` (the first data-dependent op of the
# model, here the mask) and the line that needs the property in the expression (here
# ``reshape(-1, 2)``). If the property is a real requirement of the model, the assertion is what
# you want: a clear error instead of a wrong result. If some inputs legitimately break it, the
# model itself has to change, for example by padding the values to an even count.
