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
ONNX ``If`` node, even with branches whose outputs have different shapes. Each model is run with
onnxruntime on inputs that give each size or take each branch.

Helpers
-------
"""

import contextlib
import io
import re

import numpy as np
import onnxruntime
import torch


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


def onnx_session(onnx_program):
    """An onnxruntime session on the CPU for an ``ONNXProgram``."""
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def check_onnx_against_eager(onnx_program, model, input_sets):
    """onnxruntime, running the ONNX model, gives what eager gives on each tuple of new inputs."""
    session = onnx_session(onnx_program)
    names = [node.name for node in session.get_inputs()]
    for inputs in input_sets:
        expected = model(*inputs)
        expected = expected if isinstance(expected, (tuple, list)) else [expected]
        feeds = {name: tensor.numpy() for name, tensor in zip(names, inputs, strict=True)}
        for got, wanted in zip(session.run(None, feeds), expected, strict=True):
            np.testing.assert_allclose(got, wanted.detach().numpy(), rtol=1e-4, atol=1e-5)
    print(f"onnxruntime matches eager on {len(input_sets)} new input sets")


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
count = nonzero_dims["indices"][0]
assert re.fullmatch(r"u\d+", count), nonzero_dims
assert nonzero_dims == {"x": ["rows", "cols"], "indices": [count, 2]}, nonzero_dims
ops = [node.op_type for node in nonzero_program.model_proto.graph.node]
print(ops)
assert ops == ["Greater", "NonZero", "Transpose"], ops

# %%
# The number of positive elements is not a function of the input shape, so ``torch.export``
# gives it an *unbacked* symbol, ``u0`` (``s``-symbols come from input sizes, ``u``-symbols from
# data), and the exporter writes it as the ``dim_param`` of the output. The second dimension is
# 2, the rank of ``x``. ``Greater``, ``NonZero`` and ``Transpose`` compute it in ONNX
# (``NonZero`` returns one row per dimension, so the exporter transposes it).
#
# onnxruntime gives a different number of rows for each input, including none at all:

new_inputs = [(torch.arange(20.0).reshape(4, 5) - 10,), (-torch.ones(3, 2),), (torch.ones(2, 7),)]
check_onnx_against_eager(nonzero_program, positions, new_inputs)
print("rows of indices:", [len(positions(*inputs)) for inputs in new_inputs])

# %%
# ``u0`` is not a name for users of the model. ``ONNXProgram.rename_axes`` renames it
# everywhere in the graph; the key is taken from the graph (``onnx_program.model`` is the
# in-memory ONNX IR model), so the code does not depend on the number PyTorch picked:

nonzero_program.rename_axes({nonzero_program.model.graph.outputs[0].shape[0]: "num_positive"})
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


progress = io.StringIO()  # the exporter's progress lines, printed below
partial_graphs = io.StringIO()  # what torch.export prints on stderr before it raises (see below)
try:
    with contextlib.redirect_stdout(progress), contextlib.redirect_stderr(partial_graphs):
        torch.onnx.export(Branch().eval(), (x,), dynamo=True, dynamic_shapes={"x": {0: "rows", 1: "cols"}})
    raise AssertionError("a Python if on a tensor now exports to ONNX: update this recipe")
except torch.onnx.OnnxExporterError as e:
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # the message is colored for terminals
    print(message.splitlines()[0])
    summary = [line for line in message.splitlines() if "Could not guard on data-dependent" in line]
    print(summary[0])
    assert message.startswith("Failed to export the model with torch.export."), message
    GuardOnDataDependentSymNode = torch.fx.experimental.symbolic_shapes.GuardOnDataDependentSymNode
    assert isinstance(e.__cause__, GuardOnDataDependentSymNode), e.__cause__
    assert re.search(r"Could not guard on data-dependent expression Eq\(u\d+, 1\)", summary[0]), summary

# %%
# ``torch.onnx.OnnxExporterError`` is the exporter's error. Its first line (above) says that
# step 1 of 3, ``torch.export``, failed; the second line printed is its summary of the cause,
# ``torch.export``'s own error, ``GuardOnDataDependentSymNode``. While tracing,
# ``x.sum() > 0`` is a tensor without a value; Python's ``if`` needs a ``bool``, and
# ``torch.export`` cannot choose one for every input (``u0`` here is that boolean as an
# unknown integer). The exporter also tried strict mode, which failed too: its progress lines,
# printed when ``verbose`` is left to its default (the other calls here pass ``verbose=False``),
# show both attempts:

attempts = [line for line in progress.getvalue().splitlines() if "Obtain model graph" in line]
print("\n".join(attempts))
assert any("strict=False" in line and line.endswith("❌") for line in attempts), attempts
assert any("strict=True" in line and line.endswith("❌") for line in attempts), attempts
assert "def forward(" in partial_graphs.getvalue(), partial_graphs.getvalue()

# %%
# Each failed attempt also printed on stderr the graph traced up to the failure; the recipe keeps
# them off the page (``contextlib.redirect_stderr``): the summary line says what failed.
#
# ``torch.cond`` exports to an ONNX ``If``
# ----------------------------------------
#
# ``torch.cond(predicate, true_fn, false_fn, operands)`` traces both branches and keeps the
# choice in the graph. The branches must not return their inputs unchanged, and, per its
# documentation, must return tensors of the same type and shape (here, the shape of ``x``; the
# end of this recipe shows what the pinned PyTorch does with different shapes):


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

branch_inputs = [torch.ones(4, 5), -torch.ones(3, 2), torch.arange(6.0).reshape(6, 1), -torch.arange(3.0).reshape(1, 3)]
check_onnx_against_eager(cond_program, cond, [(new_x,) for new_x in branch_inputs])
print("branches taken:", ["x * 2" if new_x.sum() > 0 else "x - 1" for new_x in branch_inputs])

# %%
# Branches with outputs of different shapes
# -----------------------------------------
#
# The documentation of ``torch.cond`` says the outputs of the two branches "have to be the same
# type and shape". The pinned PyTorch exports branches of different shapes anyway (see
# :ref:`recipe-cond-on-tensor-value`): the output gets an unbacked size, and the ONNX ``If``
# carries it. ``KeepRows`` keeps 2 rows of ``x`` when its sum is positive, 3 otherwise:


class KeepRows(torch.nn.Module):
    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda t: t[:2] * 2, lambda t: t[:3] - 1, (x,))


assert "the outputs have to be the same type and shape" in " ".join(torch.cond.__doc__.split())
keep_rows = KeepRows().eval()
rows_program = torch.onnx.export(
    keep_rows, (torch.randn(4, 3),), dynamo=True, verbose=False, dynamic_shapes={"x": {0: "rows"}}, output_names=["out"]
)
rows_dims = onnx_dims(rows_program.model_proto)
print(rows_dims)
assert rows_dims["x"] == ["rows", 3] and re.fullmatch(r"u\d+", rows_dims["out"][0]), rows_dims
check_onnx_against_eager(rows_program, keep_rows, [(torch.ones(5, 3),), (-torch.ones(6, 3),)])
print("rows out:", [len(keep_rows(x)) for x in (torch.ones(5, 3), -torch.ones(6, 3))])

# %%
# The output's first dimension is an unbacked ``u`` symbol, and onnxruntime returns 2 rows or 3,
# as eager does. This goes beyond the documented contract of ``torch.cond``; prefer branches of
# the same shape when you can.
