"""
.. _recipe-make-fx-graph-constant:

"your code specialized it to be a constant (6)": exporting a graph that ``make_fx`` traced with real shapes
===========================================================================================================

A pipeline built like those of interatomic potentials first traces its model into an FX graph
with ``make_fx`` (from ``torch.fx.experimental.proxy_tensor``), transforms that graph, and then
exports it with a dynamic number of neighbors. Export fails with "You marked neighbors as dynamic
but your code specialized it to be a constant" (a report from an older release words it
"neighbors was inferred to be a constant (1792)"), although the model's code has no ``int()``, no
``if`` and no loop on that size.

This recipe answers the reports of that kind: it shows where the constant is (in the graph,
written by ``make_fx`` with its default ``tracing_mode="real"``), and gives two fixes checked
against eager on new numbers of neighbors: export the model itself, or trace with
``tracing_mode="symbolic"``.

The failure
-----------
"""

import torch
from torch.fx.experimental.proxy_tensor import make_fx

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class EdgeFeatures(torch.nn.Module):
    """For each neighbor pair: the displacement scaled by its length."""

    def forward(self, positions, neighbor_positions):
        displacement = positions - neighbor_positions
        length = displacement.norm(dim=-1).view(positions.shape[0], 1)
        return length * displacement


model = EdgeFeatures()
positions, neighbor_positions = torch.randn(6, 3), torch.randn(6, 3)
graph_module = make_fx(model)(positions, neighbor_positions)
print(graph_module.code)

neighbors = Dim("neighbors")
spec = ({0: neighbors}, {0: neighbors})
try:
    torch.export.export(graph_module, (positions, neighbor_positions), dynamic_shapes=spec)
    raise AssertionError("a graph traced with real shapes now exports with a dynamic size: update this recipe")
except torch._dynamo.exc.UserError as e:
    # Each "You marked" line ends with advice about mark_dynamic and Dim.DYNAMIC: cut here.
    print("\n".join(line.split(" If you're using")[0] for line in str(e).splitlines()[:5]))
    assert str(e).startswith("Constraints violated (neighbors)!"), e
    assert "You marked neighbors as dynamic but your code specialized it to be a constant (6)" in str(e), e
    assert "Suggested fixes:\n  neighbors = 6" in str(e), e

# %%
# How to read it
# --------------
#
# There is one line per input whose first dimension is ``neighbors`` (both are specialized).
# "Your code" is the code export traced, and here that is not the model: it is the graph that
# ``make_fx`` wrote. Its ``view`` reads ``[6, 1]``: ``make_fx`` traces with real tensors by
# default (``tracing_mode="real"``), so ``positions.shape[0]`` was the Python number 6 while it
# traced, and the graph keeps it. Export then meets a ``view`` to 6 rows whatever the input, and
# the only way for ``neighbors`` to satisfy it is to be 6. The suggested fix, ``neighbors = 6``,
# would make that official: never apply it to a dimension you need dynamic.

(view,) = graph_module.graph.find_nodes(op="call_function", target=torch.ops.aten.view.default)
print(view.format_node())
assert view.args[1] == [6, 1], view.args

# %%
# Fix 1: export the model, not the traced graph
# ---------------------------------------------
#
# ``torch.export`` does the tracing itself, with symbolic sizes. If the transformation that
# needed ``make_fx`` can be applied to the exported program instead (``ep.graph_module`` is an
# FX graph too, see :ref:`recipe-run-decompositions-dynamic-dims`), export the model:

ep = torch.export.export(model, (positions, neighbor_positions), dynamic_shapes=spec)
print(ep.range_constraints)
new_inputs = [(torch.randn(n, 3), torch.randn(n, 3)) for n in (2, 9, 40)]
check_against_eager(ep, model, new_inputs)

# %%
# Fix 2: ``make_fx(..., tracing_mode="symbolic")``
# ------------------------------------------------
#
# When the graph must come from ``make_fx`` (a pipeline you do not control), ask it for symbolic
# sizes. The graph then reads the size from the input (``sym_size``) instead of writing 6, and
# export accepts the dynamic dimension. ``make_fx`` lives in an experimental module: prefer
# fix 1 when you can.

symbolic_graph = make_fx(model, tracing_mode="symbolic")(positions, neighbor_positions)
(symbolic_view,) = symbolic_graph.graph.find_nodes(op="call_function", target=torch.ops.aten.view.default)
print(symbolic_view.format_node())
assert isinstance(symbolic_view.args[1][0], torch.fx.Node), symbolic_view.args
symbolic_ep = torch.export.export(symbolic_graph, (positions, neighbor_positions), dynamic_shapes=spec)
print(symbolic_ep.range_constraints)
check_against_eager(symbolic_ep, model, new_inputs)

# %%
# Both programs keep ``neighbors`` dynamic and match eager on 2, 9 and 40 neighbors.
