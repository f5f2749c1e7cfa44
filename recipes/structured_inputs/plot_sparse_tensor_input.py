"""
.. _recipe-sparse-tensor-input:

A sparse tensor input with a dynamic dimension: ``UnsupportedOperatorException: aten._sparse_addmm.default``
============================================================================================================

A model built like a graph network takes the adjacency matrix of ``n`` nodes as a sparse COO
tensor and the node features as a dense ``(n, 4)`` tensor, with ``n`` dynamic. Reports of this
kind quote a ``ConstraintViolationError`` for the sparse input's dimension declared dynamic.
With the pinned PyTorch, declaring it dynamic works and a model
that densifies the input exports. Sparse operations on it (``torch.sparse.mm``, ``@``) still fail,
with ``UnsupportedOperatorException``: export cannot run them on a sparse tensor of symbolic size.

This recipe shows both, and the fix that avoids sparse inputs altogether: pass the indices and
the values as two dense tensors and do the sparse product with ``index_add``, checked against
eager on new graphs (other numbers of nodes and of edges).

Public reports of this kind: pytorch/pytorch#169488.

A dynamic dimension on a sparse input
-------------------------------------
"""

import warnings

import torch
from torch._subclasses.fake_tensor import UnsupportedFakeTensorException, UnsupportedOperatorException

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def random_graph(n, seed):
    """A random sparse COO adjacency matrix of ``n`` nodes and its ``(n, 4)`` node features."""
    generator = torch.Generator().manual_seed(seed)
    adjacency = (torch.rand(n, n, generator=generator) > 0.6).float() * torch.rand(n, n, generator=generator)
    return adjacency.to_sparse_coo().coalesce(), torch.randn(n, 4, generator=generator)


class DenseAggregate(torch.nn.Module):
    """Sums each node's neighbours' features, weighted by the edges (the adjacency densified)."""

    def forward(self, adjacency, features):
        return adjacency.to_dense() @ features


# Building a sparse tensor warns once that its invariants are not checked: not this page's topic.
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
adjacency, features = random_graph(5, seed=0)
nodes = Dim("nodes")
spec = ({0: nodes, 1: nodes}, {0: nodes})
new_graphs = [random_graph(3, seed=1), random_graph(8, seed=2)]
print("layout:", adjacency.layout, "edges:", adjacency._nnz(), "then", [g[0]._nnz() for g in new_graphs])
dense_ep = torch.export.export(DenseAggregate(), (adjacency, features), dynamic_shapes=spec)
print(dense_ep.graph_module.code)
placeholders = {node.name: node.meta["val"] for node in dense_ep.graph.find_nodes(op="placeholder")}
print({name: (val.layout, tuple(val.shape)) for name, val in placeholders.items()})
sparse_rows, sparse_cols = placeholders["adjacency"].shape
assert placeholders["adjacency"].layout == torch.sparse_coo
assert isinstance(sparse_rows, torch.SymInt) and str(sparse_rows) == str(sparse_cols) == str(placeholders["features"].shape[0])
check_against_eager(dense_ep, DenseAggregate(), new_graphs)

# %%
# The sparse input keeps a dynamic number of nodes, the same symbol as the features' rows, and
# no ``ConstraintViolationError``: the program takes graphs of 3 and 8 nodes
# (with other numbers of edges) and matches eager. The graph densifies the input first
# (``aten.to_dense``): the product itself is dense, ``n * n`` values, which is what a sparse
# input was meant to avoid.
#
# Sparse operations: ``UnsupportedOperatorException``
# ---------------------------------------------------
#
# The same model with the sparse product, written with ``torch.sparse.mm`` or with ``@``:


class SparseAggregate(torch.nn.Module):
    def forward(self, adjacency, features):
        return torch.sparse.mm(adjacency, features)


class MatmulAggregate(torch.nn.Module):
    def forward(self, adjacency, features):
        return adjacency @ features


sparse_model = SparseAggregate()
for product, operator in [(sparse_model, "aten._sparse_addmm.default"), (MatmulAggregate(), "aten.mm.default")]:
    try:
        torch.export.export(product, (adjacency, features), dynamic_shapes=spec)
        raise AssertionError(f"{type(product).__name__} on a dynamic sparse input now exports: update this recipe")
    except UnsupportedOperatorException as e:
        print(f"{type(product).__name__}: UnsupportedOperatorException: {str(e).splitlines()[0]}")
        assert str(e).startswith(operator), e
static_ep = torch.export.export(sparse_model, (adjacency, features))
static_ops = [str(node.target) for node in static_ep.graph.nodes if node.op == "call_function"]
print("without dynamic_shapes:", static_ops)
assert static_ops == ["aten._sparse_mm.default"], static_ops

# %%
# How to read it: ``UnsupportedOperatorException`` (from ``torch._subclasses.fake_tensor``, a
# ``RuntimeError``) names an ATen operator that export could not run on its *fake* tensors, the
# tensors without data that it traces with: ``torch.sparse.mm`` calls ``aten._sparse_addmm``,
# ``@`` calls ``aten.mm``, and neither runs on a sparse fake tensor of symbolic size. Without
# ``dynamic_shapes`` the same model exports (its graph holds ``aten._sparse_mm``). So the sparse
# op, not the input, is what a dynamic size cannot go through.
#
# The fix: indices and values as dense inputs
# -------------------------------------------
#
# A COO tensor is two dense tensors: the indices of its entries (``2 x edges``) and their
# values. Pass those, and write the product with dense operations: each edge ``(row, col)`` adds
# ``value * features[col]`` to ``row``. Both the number of nodes and the number of edges are
# dynamic, and no ``n x n`` tensor is built:


class EdgeListAggregate(torch.nn.Module):
    def forward(self, indices, values, features):
        rows, cols = indices
        return torch.zeros_like(features).index_add(0, rows, values[:, None] * features[cols])


def edge_list(adjacency, features):
    """The inputs of ``EdgeListAggregate`` for a sparse adjacency matrix."""
    return adjacency.indices().clone(), adjacency.values().clone(), features


edges = Dim("edges")
edge_model = EdgeListAggregate()
edge_ep = torch.export.export(
    edge_model, edge_list(adjacency, features), dynamic_shapes=({1: edges}, {0: edges}, {0: nodes})
)
print(edge_ep.graph_module.code)
assert "sparse" not in edge_ep.graph_module.code
check_against_eager(edge_ep, edge_model, [edge_list(*graph) for graph in new_graphs])
for graph in new_graphs:
    torch.testing.assert_close(edge_ep.module()(*edge_list(*graph)), sparse_model(*graph))
print("and it gives what torch.sparse.mm gives in eager mode")

# %%
# The program matches eager and the sparse product of the original model on the new graphs.
# ``edge_list`` clones the indices and the values: as ``indices()`` and ``values()`` return them,
# they share the sparse tensor's data, and export refuses them:

try:
    torch.export.export(edge_model, (adjacency.indices(), adjacency.values(), features))
    raise AssertionError("export now takes indices() of a sparse tensor as an input: update this recipe")
except UnsupportedFakeTensorException as e:
    print(f"UnsupportedFakeTensorException: {e}")
    assert str(e) == "meta converter nyi", e
#
# Summary
# -------
#
# 1. A dynamic dimension on a sparse COO input works with the pinned PyTorch, as long as the model
#    densifies it (``to_dense()``) before using it.
# 2. Sparse operators (``torch.sparse.mm``, ``@`` on a sparse tensor) fail on dynamic sizes with
#    ``UnsupportedOperatorException``, and work only with static sizes.
# 3. For dynamic graphs, pass the indices and the values and aggregate with ``index_add``: dense
#    tensors, dynamic numbers of nodes and edges, no ``n x n`` matrix.
