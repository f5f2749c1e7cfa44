"""
.. _recipe-shapes-spec-derived-assumptions:

"Could not guard on data-dependent expression Ne(u5, u1 + u3)": derived sizes and assumptions
==============================================================================================

With ``ShapesSpec``, every dynamic size is a symbol of its own that export knows nothing about,
so a model that checks how its inputs' sizes relate (a mask that covers the past and the new
tokens, a batch of pairs) stops export with a data-dependent error on an expression of several
symbols. ``ShapesSpec`` lets you say the relation: a size can be an expression of other sizes
(``batch * 2``, ``past + seq``), and ``assumptions`` states what an expression cannot
(``batch % 2 == 0``).

This recipe shows the three on small models: what export then accepts, what the program checks
when it runs, and the error an input that breaks the relation gets. ``ShapesSpec`` lives in
``torch.fx.experimental.dynamic_spec``: it is **experimental** in torch 2.15, and each behaviour
below is pinned.
"""

import contextlib
import io
import re

import torch
from torch.fx.experimental.dynamic_spec import ParamsSpec, ShapesSpec, ShapeVar, TensorSpec


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def runtime_asserts(ep):
    """The messages of the graph's ``_assert_scalar`` nodes."""
    return [node.args[1] for node in ep.graph.nodes if node.target == torch.ops.aten._assert_scalar.default]


def without_numbers(text):
    """``u`` for ``u12``: symbols' numbers are not what a page teaches."""
    return re.sub(r"\b([su])\d+", r"\1", text)


# %%
# A derived size: ``batch * 2``
# -----------------------------
#
# The example of the docstring of ``torch.export.export``: ``y`` has twice the rows of ``x``.


class Doubled(torch.nn.Module):
    def forward(self, x, y):
        return torch.cat([x, x], 0) + y


batch = ShapeVar("batch", min=1, max=128)
spec = ShapesSpec(params=ParamsSpec({"x": TensorSpec([batch, 3]), "y": TensorSpec([batch * 2, 3])}))
ep = torch.export.export(Doubled(), (torch.randn(1, 3), torch.randn(2, 3)), dynamic_shapes=spec)
print(ep.range_constraints)
assert sorted(str(r) for r in ep.range_constraints.values()) == ["VR[1, 128]", "VR[2, 256]"], ep.range_constraints
check_against_eager(ep, Doubled(), [(torch.randn(5, 3), torch.randn(10, 3)), (torch.randn(128, 3), torch.randn(256, 3))])

# %%
# Each input's size has its own ``u`` symbol; the relation is an assertion of the graph, checked
# each time the program runs:

print(without_numbers(" | ".join(runtime_asserts(ep))))
assert any(re.search(r"Eq\(u\d+, 2\*u\d+\)", m) for m in runtime_asserts(ep)), runtime_asserts(ep)

# %%
# Rows that break the relation get the last one:

try:
    ep.module()(torch.randn(5, 3), torch.randn(9, 3))
    raise AssertionError("the program now accepts 9 rows for 2 * 5: update this recipe")
except RuntimeError as e:
    message = str(e)
    print(without_numbers(message))
assert message.startswith("Runtime assertion failed for expression Eq("), message

# %%
# The message is the expression with the program's symbols (``Eq(u…, 2*u…)``), not the names
# of your spec: read ``batch * 2`` for it. The bounds are checked too, the upper one by a guard
# of the module (an ``AssertionError``):

try:
    ep.module()(torch.randn(200, 3), torch.randn(400, 3))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] <= 128", e
else:
    raise AssertionError("the program now accepts batch 200 above max=128: update this recipe")

# %%
# ``past + seq``: when the model checks a relation
# ------------------------------------------------
#
# A decoding step gets the new tokens ``x``, the cached ``past`` and a mask over both, and
# checks the mask, as many models do. Three independent ``ShapeVar`` s for the mask's length, the
# past and the new tokens fail: export cannot answer the ``if``.


class Step(torch.nn.Module):
    def forward(self, x, past, mask):
        if mask.shape[1] != past.shape[1] + x.shape[1]:
            raise ValueError("the mask must cover the past and the new tokens")
        return torch.cat([past, x], 1) * mask.unsqueeze(-1)


step = Step()
inputs = (torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.ones(2, 8))
batch, seq, past = ShapeVar("batch"), ShapeVar("seq"), ShapeVar("past")
independent = ShapesSpec({
    "x": TensorSpec([batch, seq, 4]),
    "past": TensorSpec([batch, past, 4]),
    "mask": TensorSpec([batch, ShapeVar("total")]),
})
try:
    with contextlib.redirect_stderr(io.StringIO()):  # the graph traced up to the failure: see below
        torch.export.export(step, inputs, dynamic_shapes=independent)
    raise AssertionError("the check of the mask now exports with independent sizes: update this recipe")
except torch.fx.experimental.symbolic_shapes.GuardOnDataDependentSymNode as e:
    message = str(e)
    # The size-like symbols sorted: PyTorch lists them in either order from run to run.
    print(re.sub(r"Size-like symbols: ([^)]*)", lambda m: "Size-like symbols: " + ", ".join(sorted(m.group(1).split(", "))),
                 message.splitlines()[0]))
assert re.match(r"Could not guard on data-dependent expression Ne\(u\d+, u\d+ \+ u\d+\)", message), message
assert "adding a relational assumption to your ShapesSpec" in message, message

# %%
# Before raising, export prints on stderr the graph it traced up to the failing line; the recipe
# keeps it off the page (``contextlib.redirect_stderr``).
#
# The message suggests an assumption; here the relation is a size, so write it in the spec:
# the mask's length is ``past + seq``.

derived = ShapesSpec({
    "x": TensorSpec([batch, seq, 4]),
    "past": TensorSpec([batch, past, 4]),
    "mask": TensorSpec([batch, past + seq]),
})
ep = torch.export.export(step, inputs, dynamic_shapes=derived)
check_against_eager(ep, step, [(torch.randn(3, 1, 4), torch.randn(3, 6, 4), torch.ones(3, 7))])

# %%
# A mask of the wrong length gets an assertion of the graph:

try:
    ep.module()(torch.randn(3, 1, 4), torch.randn(3, 6, 4), torch.ones(3, 8))
    raise AssertionError("the program now accepts a mask of the wrong length: update this recipe")
except RuntimeError as e:
    message = str(e)
    print(without_numbers(message))
assert re.match(r"Runtime assertion failed for expression Eq\(u\d+, u\d+ \+ u\d+\)", message), message

# %%
# The ``ValueError`` of the model is not in the program: the relation the spec states replaces
# it, as an assertion of the graph, and a wrong mask gets a ``RuntimeError`` that names the
# expression instead of the model's sentence.
#
# An assumption: ``batch % 2 == 0``
# ---------------------------------
#
# A relation that is not a size goes in ``assumptions``. The model below takes a batch of pairs
# and checks it:


class Pairs(torch.nn.Module):
    def forward(self, x):
        if x.shape[0] % 2 != 0:
            raise ValueError("the batch must hold pairs")
        return x.reshape(x.shape[0] // 2, 2 * x.shape[1]).sum(1)


pairs = Pairs()
batch = ShapeVar("batch", min=2, max=64)
try:
    with contextlib.redirect_stderr(io.StringIO()):  # the traced graph, as above
        torch.export.export(pairs, (torch.randn(4, 3),), dynamic_shapes=ShapesSpec({"x": TensorSpec([batch, 3])}))
    raise AssertionError("the parity check now exports without an assumption: update this recipe")
except torch.fx.experimental.symbolic_shapes.GuardOnDataDependentSymNode as e:
    message = str(e)
    print(message.splitlines()[0])
assert re.match(r"Could not guard on data-dependent expression Ne\(Mod\(u\d+, 2\), 0\)", message), message

ep = torch.export.export(
    pairs, (torch.randn(4, 3),), dynamic_shapes=ShapesSpec({"x": TensorSpec([batch, 3])}, assumptions=[batch % 2 == 0])
)
print(ep.range_constraints)
check_against_eager(ep, pairs, [(torch.randn(6, 3),), (torch.randn(64, 3),)])

# %%
# The assumption is an assertion of the graph:

assert any(re.fullmatch(r"Runtime assertion failed for expression Eq\(Mod\(u\d+, 2\), 0\) on node '\w+'", m)
           for m in runtime_asserts(ep)), runtime_asserts(ep)

# %%
# and an odd batch gets it:

try:
    ep.module()(torch.randn(5, 3))
    raise AssertionError("the program now accepts an odd batch: update this recipe")
except RuntimeError as e:
    message = str(e)
    print(without_numbers(message))
assert message.startswith("Runtime assertion failed for expression Eq(Mod("), message

# %%
# What export validates
# ---------------------
#
# Export checks that the program is valid for every size the spec and its assumptions allow:
# that is why it stops on the ``if`` above. It does not check the example against them: an odd
# example exports the same program, with the same assertions, so the program refuses its own
# example.

from_odd = torch.export.export(pairs, (torch.randn(5, 3),), dynamic_shapes=ShapesSpec({"x": TensorSpec([batch, 3])}, assumptions=[batch % 2 == 0]))
assert without_numbers(" | ".join(runtime_asserts(from_odd))) == without_numbers(" | ".join(runtime_asserts(ep)))
assert [str(r) for r in from_odd.range_constraints.values()] == [str(r) for r in ep.range_constraints.values()]

# %%
# An assumption must be an expression of the spec's own symbols (a ``SymBool``); a plain bool is
# refused when the spec is built:

try:
    ShapesSpec({"x": TensorSpec([batch, 3])}, assumptions=[True])
    raise AssertionError("ShapesSpec now accepts a bool assumption: update this recipe")
except TypeError as e:
    print(e)
    assert str(e) == "ShapesSpec.assumptions[0]: expected SymBool, got bool: True", e

# %%
# With ``Dim``, derived sizes are derived ``Dim`` s (``2 * batch``, ``past + 1``): see
# :ref:`recipe-derived-dims`.
