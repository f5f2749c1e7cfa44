"""
.. _recipe-loop-over-dynamic-dim:

A Python loop over ``x.shape[0]``: "specialized it to be a constant"
====================================================================

A model processes its input row by row with ``for i in range(x.shape[0])``. Exported with a
dynamic batch, it fails with "You marked batch as dynamic but your code specialized it to be a
constant"; with ``Dim.AUTO`` it exports, but the batch silently becomes static and the loop is
unrolled.

This recipe explains why, rewrites the loop as one vectorized operation (the usual fix), and, for
a true recurrence that cannot be vectorized, shows ``torch.while_loop``, which keeps the loop in
the graph with a dynamic number of iterations.

The loop and its error
----------------------
"""

import inspect

import torch

Dim = torch.export.Dim


class RowNormalize(torch.nn.Module):
    def forward(self, x):
        rows = []
        for i in range(x.shape[0]):
            rows.append(x[i] / x[i].norm())
        return torch.stack(rows)


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


model = RowNormalize()
x = torch.randn(4, 3)

try:
    torch.export.export(model, (x,), dynamic_shapes=({0: Dim("batch")},))
    raise AssertionError("a Python loop over a dynamic dim now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith("Constraints violated (batch)!"), message
assert "your code specialized it to be a constant (4)" in message, message
assert "Suggested fixes:\n  batch = 4" in message, message

# %%
# ``torch._dynamo.exc.UserError`` is the class export raises for specs it cannot honour (a private
# class, a subclass of ``RuntimeError``: see :ref:`recipe-bounded-dim-min-max`). While tracing,
# ``x.shape[0]`` is a symbol (``s77`` in this run), with the example's value 4 as a hint. ``range()`` needs a real ``int``, so Python asks
# the symbol for one: export answers 4 and records the guard ``s77 == 4``. The batch is now
# specialized, which contradicts ``Dim("batch")``; the "suggested fix" (``batch = 4``) just accepts
# the specialization.
#
# ``Dim.AUTO``: static and unrolled
# ---------------------------------
#
# ``Dim.AUTO`` does not raise: it keeps a dimension dynamic only when the code allows it.

auto_ep = torch.export.export(model, (x,), dynamic_shapes=({0: Dim.AUTO},))
print(auto_ep.graph_module.code)
print(auto_ep.range_constraints)
assert len(auto_ep.range_constraints) == 0, auto_ep.range_constraints
assert str(auto_ep.graph.find_nodes(op="placeholder")[0].meta["val"].shape) == "torch.Size([4, 3])"

# %%
# The graph repeats the loop body 4 times (``select`` with index 0, 1, 2, 3) and no symbol is
# left: the input is ``[4, 3]``. The program accepts nothing else:

try:
    auto_ep.module()(torch.randn(5, 3))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] == 4", e
else:
    raise AssertionError("the AUTO program now accepts another batch size: update this recipe")

# %%
# The fix: one operation on the whole tensor
# ------------------------------------------
#
# The loop computes the same thing for every row, so one call over the batch does the job: the
# norm of each row, kept as a column so that it broadcasts.


class RowNormalizeVectorized(torch.nn.Module):
    def forward(self, x):
        return x / x.norm(dim=1, keepdim=True)


vectorized = RowNormalizeVectorized()
ep = torch.export.export(vectorized, (x,), dynamic_shapes=({0: Dim("batch")},))
print(ep.graph_module.code)
print(ep.range_constraints)
batch_symbol = ep.graph.find_nodes(op="placeholder")[0].meta["val"].shape[0]
assert {str(k): str(v) for k, v in ep.range_constraints.items()} == {str(batch_symbol): "VR[0, int_oo]"}
check_against_eager(ep, model, [(torch.randn(2, 3),), (torch.randn(9, 3),)])

# %%
# The graph has no loop and the batch is a symbol in ``VR[0, int_oo]``. The results equal those
# of the original loop (``model``) at two new batch sizes. Most loops over a batch or a sequence are of this
# kind: per-row work written as a loop (``torch.stack`` of per-item results, per-item indexing,
# accumulation with ``+=``) maps to one batched op, ``cumsum`` / ``cumprod``, ``scatter`` or
# ``gather``.
#
# A true recurrence: ``torch.while_loop``
# ---------------------------------------
#
# Some loops cannot be vectorized: each step needs the previous one, as in this tiny recurrent
# cell, ``h = tanh(h @ W + x[i])``.


class Recurrence(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(3, 3) * 0.5)

    def forward(self, x):
        h = torch.zeros(x.shape[1])
        for i in range(x.shape[0]):
            h = torch.tanh(h @ self.weight + x[i])
        return h


# %%
# ``torch.while_loop(cond_fn, body_fn, carried_inputs)`` runs ``body_fn`` on the carried values
# while ``cond_fn`` returns ``True``, and export keeps it as one node with two subgraphs. It is a
# public name of the pinned PyTorch, documented as a *prototype* feature with "limited support
# for input and output types":

while_loop_doc = " ".join(torch.while_loop.__doc__.split())
assert "prototype feature" in while_loop_doc and "limited support for input and output types" in while_loop_doc

# %%
# The carried values are
# tensors: a 0-d counter ``i`` and the state ``h``. The body picks row ``i`` with
# ``index_select``, which takes a tensor index. The functions may read ``x`` and the module's
# weight from the enclosing scope.


class RecurrenceWhileLoop(Recurrence):
    def forward(self, x):
        def cond_fn(i, h):
            return i < x.shape[0]

        def body_fn(i, h):
            row = x.index_select(0, i.reshape(1)).squeeze(0)
            return i + 1, (h @ self.weight + row).tanh()

        _, h = torch.while_loop(cond_fn, body_fn, (torch.tensor(0), torch.zeros(x.shape[1])))
        return h


torch.manual_seed(0)
loop_model = Recurrence()
while_model = RecurrenceWhileLoop()
while_model.load_state_dict(loop_model.state_dict())

while_ep = torch.export.export(while_model, (x,), dynamic_shapes=({0: Dim("seq")},))
print(while_ep.graph_module.code)
print(while_ep.graph_module.while_loop_cond_graph_0.code)
assert "torch.ops.higher_order.while_loop" in while_ep.graph_module.code
length_symbol, features = while_ep.graph.find_nodes(op="placeholder")[-1].meta["val"].shape
assert isinstance(length_symbol, torch.SymInt) and str(length_symbol) in map(str, while_ep.range_constraints)
assert features == 3
check_against_eager(while_ep, loop_model, [(torch.randn(2, 3),), (torch.randn(7, 3),)])

# %%
# The graph holds one ``while_loop`` node; its condition subgraph compares the counter with the
# symbolic length (``sym_size_int``), so the number of iterations is read from the input at run
# time, and sequences of 2 and 7 steps give the results of the Python loop (``loop_model``).
#
# What about ``scan``? A scan (a loop that stacks one output per step) would fit this recurrence,
# but the pinned PyTorch only has it as ``torch._higher_order_ops.scan``, a private module, with
# no public ``torch.scan``. This recipe uses it only in its last section, about a reported error
# (:ref:`recipe-onnx-scan-while-loop` exports it to ONNX).

import torch._higher_order_ops  # noqa: E402  (private: pinned here, used in the last section)

assert not hasattr(torch, "scan"), "torch.scan is now public: consider it in this recipe"
assert callable(torch._higher_order_ops.scan), "the private scan moved: update this recipe"

# %%
# ``scan`` called through ``torch.ops.higher_order.scan``: "improper combine_fn"
# ------------------------------------------------------------------------------
#
# Code can also call the operator itself, ``torch.ops.higher_order.scan``, with a
# plain function. Here is a loop over ``x.shape[0]`` computing the distances from each row of
# ``x`` to every row of ``y``, written that way: the carry is ``y`` (unchanged), each step gets
# one row of ``x`` and outputs its distances.


def distances_step(y, row):
    diff = y - row.reshape(1, -1)
    return y.clone(), (diff * diff).sum(dim=1).sqrt()


class DistancesOperatorScan(torch.nn.Module):
    def forward(self, x, y):
        return torch.ops.higher_order.scan(distances_step, [y], [x], [])[1]


class DistancesScan(torch.nn.Module):
    def forward(self, x, y):
        return torch._higher_order_ops.scan(distances_step, y, x)[1]


xy = (torch.randn(3, 4), torch.randn(5, 4))
xy_spec = ({0: Dim("x_rows"), 1: Dim("dim")}, {0: Dim("y_rows"), 1: Dim("dim")})
new_xy = [(torch.randn(6, 2), torch.randn(2, 2)), (torch.randn(1, 7), torch.randn(4, 7))]
torch.testing.assert_close(DistancesOperatorScan()(*xy), torch.cdist(*xy))

try:
    torch.export.export(DistancesOperatorScan(), xy, dynamic_shapes=xy_spec, strict=True)
    raise AssertionError("strict export now accepts a plain function in the scan operator: update this recipe")
except torch._dynamo.exc.UncapturedHigherOrderOpError as e:
    message = str(e)
    print("\n".join(message.splitlines()[:5]))

assert "torch.scan: improper combine_fn" in message, message
assert "Expected combine_fn to be wrapped as functools.partial in scan user-facing api" in message, message

# %%
# In strict mode, export traces ``forward`` with Dynamo, which expects the function given to the
# operator to come from the user-facing ``scan`` (that wraps it in a ``functools.partial``) and
# stops at a plain function. Public reports of this kind: pytorch/pytorch#148980 (a nightly of
# March 2025 raised ``InternalTorchDynamoError: AttributeError: 'UserFunctionVariable' object has
# no attribute 'keywords'`` on this pattern, where the model of this section raises the message
# above on the pinned PyTorch). The
# default mode of ``torch.export.export`` in the pinned PyTorch is not strict, and there the same
# model exports and matches eager (``torch.cdist``) on new sizes:

assert inspect.signature(torch.export.export).parameters["strict"].default is False
operator_ep = torch.export.export(DistancesOperatorScan(), xy, dynamic_shapes=xy_spec)
for new_x, new_y in new_xy:
    torch.testing.assert_close(operator_ep.module()(new_x, new_y), torch.cdist(new_x, new_y))
print(f"the non-strict program matches torch.cdist on {len(new_xy)} new input sets")

# %%
# The fix that works in both modes is the user-facing function,
# ``torch._higher_order_ops.scan(combine_fn, init, xs)`` (private, as pinned above), with the
# same step function:

scan_ep = torch.export.export(DistancesScan(), xy, dynamic_shapes=xy_spec, strict=True)
assert "torch.ops.higher_order.scan" in scan_ep.graph_module.code
assert len(scan_ep.range_constraints) == 3, scan_ep.range_constraints
for new_x, new_y in new_xy:
    torch.testing.assert_close(scan_ep.module()(new_x, new_y), torch.cdist(new_x, new_y))
print(f"the strict program with the user-facing scan matches torch.cdist on {len(new_xy)} new input sets")

# %%
# Three symbols (the rows of ``x``, the rows of ``y``, the shared feature size), one ``scan``
# node, and the distances of ``torch.cdist`` for 6 rows against 2 and 1 row against 4. Call
# ``torch.ops.higher_order.scan`` yourself only if you must: the maintainers of the operator
# advise the user-facing function (pytorch/pytorch#148980, 2025-03).
