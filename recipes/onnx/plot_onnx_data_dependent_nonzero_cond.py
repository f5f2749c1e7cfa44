"""
.. _recipe-onnx-data-dependent-nonzero-cond:

Data-dependent shapes and branches in ONNX: ``nonzero`` and ``torch.cond``
==========================================================================

Some sizes are known only once the data is there: ``torch.nonzero`` returns one row per
non-zero element. Some models also choose a computation from the data, with a Python ``if`` on a
tensor. Can such models be exported to ONNX with dynamic shapes, and what does the ONNX graph
look like?

This recipe exports ``nonzero``, whose output size becomes a dimension named ``u0`` in the ONNX
graph (and shows how to rename it), then shows that a Python ``if`` on a tensor value fails to
export ("Could not guard on data-dependent expression") and that ``torch.cond`` exports to an
ONNX ``If`` node. Each model is run with onnxruntime on inputs that give each size or take each
branch.

Helpers
-------
"""

import re
import warnings

import numpy as np
import onnxruntime
import torch

# torch 2.13's ONNX exporter warns "isinstance(treespec, LeafSpec) is deprecated" from its own code on
# every export; the warning says nothing about your model, so this recipe hides that one.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


def session_for(onnx_program):
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )


# %%
# ``nonzero``: an output size that depends on the values
# -------------------------------------------------------


class Positions(torch.nn.Module):
    def forward(self, x):
        return torch.nonzero(x > 0)


positions = Positions().eval()
x = torch.tensor([[1.0, -1.0, 2.0], [0.0, 3.0, -2.0]])
print(positions(x))

nonzero_program = torch.onnx.export(
    positions,
    (x,),
    dynamo=True,
    verbose=False,
    dynamic_shapes={"x": {0: "rows", 1: "cols"}},
    output_names=["indices"],
)
nonzero_dims = onnx_dims(nonzero_program.model_proto)
print(nonzero_dims)
assert nonzero_dims == {"x": ["rows", "cols"], "indices": ["u0", 2]}, nonzero_dims
print([node.op_type for node in nonzero_program.model_proto.graph.node])

# %%
# The number of positive elements is not a function of the input shape, so ``torch.export``
# gives it an *unbacked* symbol, ``u0`` (``s``-symbols come from input sizes, ``u``-symbols from
# data), and the exporter writes it as the ``dim_param`` of the output. The second dimension is
# 2, the rank of ``x``. ``Greater``, ``NonZero`` and ``Transpose`` compute it in ONNX
# (``NonZero`` returns one row per dimension, so the exporter transposes it).
#
# onnxruntime gives a different number of rows for each input, including none at all:

nonzero_session = session_for(nonzero_program)
for new_x in (torch.arange(20.0).reshape(4, 5) - 10, -torch.ones(3, 2), torch.ones(2, 7)):
    (got,) = nonzero_session.run(None, {"x": new_x.numpy()})
    np.testing.assert_array_equal(got, positions(new_x).numpy())
    print(f"x of shape {tuple(new_x.shape)}: indices of shape {got.shape}")

# %%
# ``u0`` is not a name for users of the model. ``ONNXProgram.rename_axes`` renames it
# everywhere in the graph:

nonzero_program.rename_axes({"u0": "num_positive"})
renamed_dims = onnx_dims(nonzero_program.model_proto)
print(renamed_dims)
assert renamed_dims == {"x": ["rows", "cols"], "indices": ["num_positive", 2]}, renamed_dims

# %%
# A Python ``if`` on a tensor value does not export
# -------------------------------------------------
#
# The second model doubles its input when the sum is positive and subtracts 1 otherwise:


class Branch(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x - 1


try:
    torch.onnx.export(
        Branch().eval(), (x,), dynamo=True, verbose=False, dynamic_shapes={"x": {0: "rows", 1: "cols"}}
    )
    raise AssertionError("a Python if on a tensor now exports to ONNX: update this recipe")
except torch.onnx.OnnxExporterError as e:
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # the message is colored for terminals
    print(message.splitlines()[0])
    summary = [line for line in message.splitlines() if "Could not guard on data-dependent" in line]
    print(summary[0])
    assert message.startswith("Failed to export the model with torch.export."), message
    GuardOnDataDependentSymNode = torch.fx.experimental.symbolic_shapes.GuardOnDataDependentSymNode
    assert isinstance(e.__cause__, GuardOnDataDependentSymNode), e.__cause__
    assert "Could not guard on data-dependent expression Eq(u0, 1)" in summary[0], summary

# %%
# ``torch.onnx.OnnxExporterError`` is the exporter's error. Its first line (above) says that
# step 1 of 3, ``torch.export``, failed; the second line printed is its summary of the cause,
# ``torch.export``'s own error, ``GuardOnDataDependentSymNode``. While tracing,
# ``x.sum() > 0`` is a tensor without a value; Python's ``if`` needs a ``bool``, and
# ``torch.export`` cannot choose one for every input (``u0`` here is that boolean as an
# unknown integer). The exporter also tried strict mode, which failed too.
#
# ``torch.cond`` exports to an ONNX ``If``
# ----------------------------------------
#
# ``torch.cond(predicate, true_fn, false_fn, operands)`` traces both branches and keeps the
# choice in the graph. The branches must return tensors of the same kind (here, the shape of
# ``x``) and must not return their inputs unchanged:


class Cond(torch.nn.Module):
    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda t: t * 2, lambda t: t - 1, (x,))


cond = Cond().eval()
cond_program = torch.onnx.export(
    cond, (x,), dynamo=True, verbose=False, dynamic_shapes={"x": {0: "rows", 1: "cols"}}, output_names=["out"]
)
cond_dims = onnx_dims(cond_program.model_proto)
print(cond_dims)
assert cond_dims == {"x": ["rows", "cols"], "out": ["rows", "cols"]}, cond_dims

ops = [node.op_type for node in cond_program.model_proto.graph.node]
print(ops)
assert ops == ["ReduceSum", "Greater", "If"], ops

# %%
# The predicate is computed by ``ReduceSum`` and ``Greater``, and the ``If`` node holds the two
# branches as subgraphs. onnxruntime takes the branch the data asks for, at any shape:

cond_session = session_for(cond_program)
branch_inputs = [torch.ones(4, 5), -torch.ones(3, 2), torch.arange(6.0).reshape(6, 1), -torch.arange(3.0).reshape(1, 3)]
for new_x in branch_inputs:
    (got,) = cond_session.run(None, {"x": new_x.numpy()})
    np.testing.assert_allclose(got, cond(new_x).numpy())
    branch = "x * 2" if new_x.sum() > 0 else "x - 1"
    print(f"x of shape {tuple(new_x.shape)}: took the branch {branch}")
