"""
.. _recipe-shapes-spec-migration:

Migrating ``dynamic_shapes`` from ``Dim`` to ``ShapesSpec``, form by form
=========================================================================

You have working exports written with ``Dim``, and ``torch.export.export``'s docstring now calls
``ShapesSpec`` "the recommended way to specify dynamic shapes for export going forward". This
page translates each way of writing ``dynamic_shapes`` today (a named ``Dim``, ``Dim.AUTO``,
``Dim.DYNAMIC``, ``Dim.STATIC`` or ``None``, a derived ``Dim``, ``ShapesCollection``,
``AdditionalInputs``) into its ``ShapesSpec`` form, says what changes, and links to the recipe
that shows it. It ends with what has no ``ShapesSpec`` form on torch 2.15: ``draft_export``,
the helpers that build ``dynamic_shapes`` for you, and the ONNX exporter's own call.

Every translation below is run and compared. ``ShapesSpec`` lives in
``torch.fx.experimental.dynamic_spec``: it is **experimental** in torch 2.15, and each behaviour
below is pinned.
"""

import re

import torch
from torch.fx.experimental.dynamic_spec import STATIC, ShapesSpec, ShapeVar, TensorSpec

Dim = torch.export.Dim


class Pair(torch.nn.Module):
    """``x`` of (batch, 8) and ``y`` of (2 * batch, 8)."""

    def forward(self, x, y):
        return torch.cat([x, x], 0) + y


def ranges(ep):
    """The program's ranges, sorted, each with its symbol's letter (``s`` or ``u``, no number)."""
    return sorted(re.sub(r"\b([su])\d+", r"\1", f"{symbol}: {value_range}") for symbol, value_range in ep.range_constraints.items())


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


model = Pair()
example = (torch.randn(4, 8), torch.randn(8, 8))
new_inputs = [(torch.randn(3, 8), torch.randn(6, 8)), (torch.randn(1, 8), torch.randn(2, 8))]

# %%
# A named ``Dim``, and a derived one
# ----------------------------------
#
# ``Dim("batch")`` becomes ``ShapeVar("batch")`` (``min`` and ``max`` carry over), and
# ``2 * batch`` is the same expression of the ``ShapeVar``. The spec is keyed by the parameter
# names of ``forward``; there is no tuple form. What changes: ``u`` symbols instead of ``s``, one
# per input dimension, tied by assertions of the graph.

batch_dim = Dim("batch", max=64)
with_dim = torch.export.export(model, example, dynamic_shapes=({0: batch_dim}, {0: 2 * batch_dim}))
batch = ShapeVar("batch", max=64)
with_spec = torch.export.export(model, example, dynamic_shapes=ShapesSpec({"x": TensorSpec([batch, 8]), "y": TensorSpec([2 * batch, 8])}))
print(ranges(with_dim))
print(ranges(with_spec))
assert ranges(with_dim) == ["2*s: VR[0, 128]", "s: VR[0, 64]"], ranges(with_dim)
assert ranges(with_spec) == ["u: VR[0, 128]", "u: VR[0, 64]"], ranges(with_spec)
for ep in (with_dim, with_spec):
    check_against_eager(ep, model, new_inputs)

# %%
# ``Dim.AUTO`` and ``Dim.DYNAMIC``
# --------------------------------
#
# Both become a ``ShapeVar`` per dynamic dimension, and the relation that ``Dim.AUTO`` found by
# itself (``y`` has twice the rows) must be written (``2 * batch``), or the program asserts it
# between two independent symbols. What changes: no inferred range starting at 2, no 0/1
# specialization (:ref:`recipe-shapes-spec-size-one`), and no silent narrowing
# (:ref:`recipe-shapes-spec-side-by-side`).

auto = torch.export.export(model, example, dynamic_shapes=({0: Dim.AUTO}, {0: Dim.AUTO}))
print(ranges(auto))
assert ranges(auto) == ["2*s: VR[4, int_oo]", "s: VR[2, int_oo]"], ranges(auto)
independent = ShapesSpec({"x": TensorSpec([ShapeVar("rows_x"), 8]), "y": TensorSpec([ShapeVar("rows_y"), 8])})
ep = torch.export.export(model, example, dynamic_shapes=independent)
check_against_eager(ep, model, new_inputs)

# %%
# With two independent ``ShapeVar`` s, the relation is an assertion of the program:

try:
    ep.module()(torch.randn(3, 8), torch.randn(5, 8))
    raise AssertionError("the program now takes 5 rows for 2 * 3: update this recipe")
except RuntimeError as e:
    print(re.sub(r"\bu\d+", "u", str(e)))
    assert str(e).startswith("Runtime assertion failed for expression Eq("), e

# %%
# ``Dim.STATIC`` or ``None``
# --------------------------
#
# ``STATIC`` (an alias of ``None``) or the size itself. An int is checked against the example
# at export:

assert STATIC is None
static = ShapesSpec({"x": TensorSpec([STATIC, 8]), "y": TensorSpec([8, STATIC])})
ep = torch.export.export(model, example, dynamic_shapes=static)
assert ep.range_constraints == {}, ep.range_constraints
try:
    torch.export.export(model, example, dynamic_shapes=ShapesSpec({"x": TensorSpec([5, 8]), "y": TensorSpec([8, 8])}))
    raise AssertionError("a static size different from the example is now accepted: update this recipe")
except ValueError as e:
    print(e)
    assert str(e) == "shapes_spec declares dim 0 as static with value 5, but got 4", e

# %%
# An input the spec does not name is static too ("Anything not expressed in ``ParamsSpec`` is
# STATIC", says its docstring):

ep = torch.export.export(model, example, dynamic_shapes=ShapesSpec({}))
assert ep.range_constraints == {}, ep.range_constraints

# %%
# ``ShapesCollection`` and ``AdditionalInputs``
# ---------------------------------------------
#
# These helpers build ``dynamic_shapes`` from tensors (:ref:`recipe-shapes-collection`) or from
# several example inputs (:ref:`recipe-additional-inputs`). On torch 2.15 they produce the
# ``Dim`` form only, so a ``ShapesSpec`` is written by hand:

x, y = example
collection = torch.export.ShapesCollection()
collection[x] = {0: batch_dim}
collection[y] = {0: 2 * batch_dim}
built = collection.dynamic_shapes(model, example)
print(built)
assert isinstance(built, dict) and isinstance(built["x"][0], torch.export.Dim), built

additional = torch.export.AdditionalInputs()
additional.add(example)
additional.add((torch.randn(3, 8), torch.randn(6, 8)))
built = additional.dynamic_shapes(model, example)
print(built)
assert built == {"x": (Dim.DYNAMIC, None), "y": (Dim.DYNAMIC, None)}, built

# %%
# ``AdditionalInputs`` also has a ``verify`` method, which checks a program on the inputs it was
# given (its recipe shows it); with a ``ShapesSpec``, check the program yourself on such inputs,
# as ``check_against_eager`` does here.

assert callable(additional.verify)

# %%
# What has no ``ShapesSpec`` form on torch 2.15
# ---------------------------------------------
#
# ``torch.export.draft_export`` (:ref:`recipe-draft-export-report`) refuses it:

spec = ShapesSpec({"x": TensorSpec([batch, 8]), "y": TensorSpec([2 * batch, 8])})
try:
    torch.export.draft_export(model, example, dynamic_shapes=spec)
    raise AssertionError("draft_export now takes a ShapesSpec: update this recipe")
except NotImplementedError as e:
    print(e)
    assert str(e).startswith("draft_export does not support the new dynamic shapes API (ShapesSpec)"), e

# %%
# ``torch.onnx.export`` refuses it too: export first, then convert the program
# (:ref:`recipe-shapes-spec-onnx`). The option ``prefer_deferred_runtime_asserts_over_guards``
# is refused with it:

try:
    torch.export.export(model, example, dynamic_shapes=spec, prefer_deferred_runtime_asserts_over_guards=True)
    raise AssertionError("export now takes the option with a ShapesSpec: update this recipe")
except ValueError as e:
    print(e)
    assert "cannot be combined with `dynamic_shapes=ShapesSpec(...)`" in str(e), e

# %%
# ``strict=True`` works (:ref:`recipe-strict-vs-non-strict` compares the two tracers), because
# strict export goes through the new tracer by default in 2.15. The old tracer, still selectable
# by a private flag, refuses a ``ShapesSpec``:

ep = torch.export.export(model, example, dynamic_shapes=spec, strict=True)
assert ranges(ep) == ["u: VR[0, 128]", "u: VR[0, 64]"], ranges(ep)
check_against_eager(ep, model, new_inputs)

# %%
# ``torch._export.config`` is private; its default in 2.15 selects the new tracer:

assert torch._export.config.use_new_tracer_experimental is True
try:
    with torch._export.config.patch(use_new_tracer_experimental=False):
        torch.export.export(model, example, dynamic_shapes=spec, strict=True)
    raise AssertionError("the legacy strict tracer now takes a ShapesSpec: update this recipe")
except NotImplementedError as e:
    print(e)
    assert str(e).startswith("ShapesSpec is not supported on the legacy v1 `torch._dynamo.export` path"), e

# %%
# The translations
# ----------------
#
# =============================  ===========================================  =========================================
# ``Dim`` form                   ``ShapesSpec`` form                          what changes
# =============================  ===========================================  =========================================
# ``{0: Dim("b", max=64)}``      ``TensorSpec([ShapeVar("b", max=64), 8])``   ``u`` symbols; no 0/1 specialization;
#                                                                             a branch on the size fails at export
# ``{0: 2 * b}``                 ``TensorSpec([2 * b, 8])``                   the relation is asserted when it runs
# ``Dim.AUTO``, ``Dim.DYNAMIC``  a ``ShapeVar`` per dimension                 relations and bounds are yours to write;
#                                                                             nothing narrows silently
# ``Dim.STATIC``, ``None``       ``STATIC``, ``None`` or the int              an int is checked against the example
# ``ShapesCollection``           written by hand                              the helper builds the ``Dim`` form only
# ``AdditionalInputs``           written by hand, check the program yourself  the helper builds the ``Dim`` form only
# (``draft_export``)             none                                         ``NotImplementedError``
# (``torch.onnx.export``)        export first, then convert                   the ONNX model drops the assertions
# =============================  ===========================================  =========================================
#
# For ints, dicts, lists and cache objects see :ref:`recipe-shapes-spec-nested`; for
# ``assumptions`` (``batch % 2 == 0``), which have no ``Dim`` form here, see
# :ref:`recipe-shapes-spec-derived-assumptions`; for ``torch.compile`` and ``mark_dynamic``, see
# :ref:`recipe-shapes-spec-compile-mark-dynamic`.
