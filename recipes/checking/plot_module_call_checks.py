"""
.. _recipe-module-call-checks:

Guard failed: what does ``ep.module()`` check when it is called?
=================================================================

Export traces a model under assumptions about its input shapes: the ranges of the dynamic
dimensions, the sizes that must be equal, and relations found while tracing (no broadcasting
here, this width is half that one). The graph is only correct when they hold, so the module
returned by ``ep.module()`` checks them on every call and raises ``AssertionError: Guard
failed: ...`` when one does not. This recipe shows which checks run, what they do not cover,
what is left with ``ep.module(check_guards=False)``, and how
``prefer_deferred_runtime_asserts_over_guards=True`` moves the checks into the graph itself as
``_assert_scalar`` nodes.

A program with a range and a relation
-------------------------------------

The model adds ``x`` to every second column of ``y``: the width of ``x`` must be
``(width of y + 1) // 2``, a relation that cannot be written as a ``Dim`` expression. The
batch gets a named ``Dim`` with a maximum, the widths ``Dim.AUTO``.
"""

import torch

Dim = torch.export.Dim


class Model(torch.nn.Module):
    def forward(self, x, y):
        return x + y[:, ::2]


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def new_shapes():
    """Two new sets of inputs that respect the relation: (3, 6) with (3, 11), (64, 2) with (64, 3)."""
    return [(torch.randn(b, width), torch.randn(b, 2 * width - 1)) for b, width in [(3, 6), (64, 2)]]


model = Model()
batch = Dim("batch", max=64)
spec = {"x": {0: batch, 1: Dim.AUTO}, "y": {0: batch, 1: Dim.AUTO}}
ep = torch.export.export(model, (torch.randn(4, 5), torch.randn(4, 10)), dynamic_shapes=spec)
print(ep.range_constraints)
print(ep._guards_code)
assert len(ep._guards_code) == 3, ep._guards_code

check_against_eager(ep, model, new_shapes())

# %%
# ``range_constraints`` holds the ranges: ``batch`` up to 64, both widths from 2. The
# relations are in ``ep._guards_code`` (a private attribute, shown here because no public one
# lists them): the sliced width is not 1, it equals the width of ``x``, and both batches are
# equal. ``ep.module()`` turns these and the ranges into a ``_guards_fn`` submodule that its
# graph calls right after the inputs:

module = ep.module()
print(module.code)

# %%
# Guards and their messages
# -------------------------
#
# A ``y`` one column too wide breaks the relation:

try:
    module(torch.randn(4, 5), torch.randn(4, 12))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[1] == (1 + y.size()[1]) // 2", e
else:
    raise AssertionError("the module no longer checks the relation: update this recipe")

# %%
# The message is the guard itself, written with the names of the inputs. A batch above the
# maximum of the ``Dim``:

try:
    module(torch.randn(65, 5), torch.randn(65, 10))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] <= 64", e
else:
    raise AssertionError("the module no longer checks the maximum: update this recipe")

# %%
# A ``y`` of width 2 gives one column after slicing, which would *broadcast* to every column of
# ``x``: another computation than the one export traced. The guard that export added when it
# assumed "no broadcasting" catches it:

try:
    module(torch.randn(4, 5), torch.randn(4, 2))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: (1 + y.size()[1]) // 2 != 1", e
else:
    raise AssertionError("the module no longer checks the broadcast: update this recipe")

# %%
# What the guards do not check
# ----------------------------
#
# Guards are about sizes, and only the sizes they name. A ``float64`` input runs and returns
# ``float64``, and, in the pinned PyTorch, an input with one more dimension runs too:

out64 = module(torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 10, dtype=torch.float64))
out3d = module(torch.randn(4, 5, 1), torch.randn(4, 10, 1))
print(out64.dtype, tuple(out3d.shape))
assert out64.dtype == torch.float64 and out3d.shape == (4, 5, 1)

# %%
# The number of dimensions is not checked either. An input with one dimension fewer fails while
# a guard reads a size it does not have, with a bare ``IndexError``; one more dimension on ``y``
# alone reaches the addition and fails there, as in eager mode:

try:
    module(torch.randn(4), torch.randn(4))
    raise AssertionError("the guards now check the number of dimensions: update this recipe")
except IndexError as e:
    print(f"IndexError: {e}")
    assert str(e) == "tuple index out of range", e

try:
    module(torch.randn(4, 5), torch.randn(4, 10, 1))
    raise AssertionError("the guards now check the number of dimensions of y: update this recipe")
except RuntimeError as e:
    print(e)
    assert "must match the size of tensor b" in str(e), e

# %%
# ``check_guards=False``
# ----------------------
#
# ``ep.module(check_guards=False)`` builds the module without ``_guards_fn``. A forward
# pre-hook then checks what the input placeholders say: the number of dimensions, the ranges,
# and which sizes are equal. (With the guards on, the same pre-hook only checks the structure
# of the inputs, which is why the rank went unchecked above.) Its messages are different, and
# it raises ``RuntimeError``. The number of dimensions, for each input:

unchecked = ep.module(check_guards=False)
for bad in [(torch.randn(4, 5, 1), torch.randn(4, 10, 1)), (torch.randn(4), torch.randn(4))]:
    try:
        unchecked(*bad)
        raise AssertionError("check_guards=False no longer checks the rank: update this recipe")
    except RuntimeError as e:
        print(e)
        assert str(e).startswith("Unexpected number of dimensions in input at *args[0].shape"), e
try:
    unchecked(torch.randn(4, 5), torch.randn(4, 10, 1))
    raise AssertionError("check_guards=False no longer checks the rank of y: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e).startswith("Unexpected number of dimensions in input at *args[1].shape"), e

# %%
# The ranges and the equal sizes:

try:
    unchecked(torch.randn(65, 5), torch.randn(65, 10))
except RuntimeError as e:
    print(e)
    assert str(e) == "Expected input at *args[0].shape[0] to be <= 64, but got 65", e
else:
    raise AssertionError("the pre-hook no longer checks the range: update this recipe")

try:
    unchecked(torch.randn(4, 5), torch.randn(3, 10))
except RuntimeError as e:
    print(e)
    assert str(e) == "Expected input at *args[1].shape[0] to be equal to 4, but got 3", e
else:
    raise AssertionError("the pre-hook no longer checks equal sizes: update this recipe")

# %%
# The dtype is not checked in this mode either:

assert unchecked(torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 10, dtype=torch.float64)).dtype == torch.float64

# %%
# The relation is not checked any more. The bad call reaches the addition and fails there, as
# it would in eager mode:

try:
    unchecked(torch.randn(4, 5), torch.randn(4, 12))
    raise AssertionError("check_guards=False now checks the relation: update this recipe")
except RuntimeError as e:
    print(e)
    assert "must match the size of tensor b (6) at non-singleton dimension 1" in str(e), e

# %%
# And the broadcasting input is not an error at all: it returns a result of the usual shape,
# computed by broadcasting one column, which the exported program was never meant to do.

silent = unchecked(torch.randn(4, 5), torch.randn(4, 2))
print(tuple(silent.shape))
assert silent.shape == (4, 5)

# %%
# ``prefer_deferred_runtime_asserts_over_guards=True``
# ----------------------------------------------------
#
# This ``export`` option keeps the relations in the graph, as ``torch.ops.aten._assert_scalar``
# nodes, instead of guards. They are part of the computation, so they run whenever the graph
# runs, with or without ``check_guards``:

asserted_ep = torch.export.export(
    model,
    (torch.randn(4, 5), torch.randn(4, 10)),
    dynamic_shapes=spec,
    prefer_deferred_runtime_asserts_over_guards=True,
)
asserts = [node for node in asserted_ep.graph.nodes if node.target is torch.ops.aten._assert_scalar.default]
for node in asserts:
    print(node.args[1])
assert len(asserts) == 3 and asserted_ep._guards_code == [], (asserts, asserted_ep._guards_code)

# %%
# Three asserts, one per guard of the default program, and no guard left in
# ``_guards_code``. The messages use the symbols of the graph (``s27``, ``s94`` in this run),
# not the input names. The bad call now fails inside the graph, with a ``RuntimeError``:

x_width, y_width = (node.meta["val"].shape[1] for node in asserted_ep.graph.find_nodes(op="placeholder"))
try:
    asserted_ep.module(check_guards=False)(torch.randn(4, 5), torch.randn(4, 12))
except RuntimeError as e:
    print(e)
    relation = f"Eq({x_width}, (({y_width} + 1)//2))"
    assert str(e).startswith(f"Runtime assertion failed for expression {relation}"), (e, relation)
else:
    raise AssertionError("the assert no longer fires: update this recipe")

check_against_eager(asserted_ep, model, new_shapes())

# %%
# Which to use? Keep the default guards when you run ``ep.module()``: their messages name the
# inputs. Prefer the in-graph asserts when the graph runs without the module's wrapper (after
# ``check_guards=False``, or in a tool that takes ``ep.graph_module``), since the guards live
# in the wrapper and the asserts in the graph. Never rely on ``check_guards=False`` alone: it
# may return a result for an input the program was not exported for.
