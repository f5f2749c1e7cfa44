"""
.. _recipe-onnx-from-exported-program:

Exporting an ``ExportedProgram`` to ONNX: do the dimensions stay dynamic?
=========================================================================

You already have an ``ExportedProgram`` from ``torch.export.export``, with dynamic shapes, and
you want the ONNX model without tracing the model again. ``torch.onnx.export`` accepts the
program in place of the module. The dimensions stay dynamic, but they lose their names: the
ONNX graph shows ``s31`` and ``s27`` where the spec said ``batch`` and ``seq``. And passing
``dynamic_shapes`` to make a static program dynamic does nothing.

This recipe exports a program with dynamic shapes, checks with onnxruntime that its dimensions
are dynamic, looks at the program the exporter actually converts (it runs decompositions on
yours), gets the names back by passing the spec again, and shows what happens to a program that
was exported without dynamic shapes.

The model and its ``ExportedProgram``
-------------------------------------
"""

import numpy as np
import onnxruntime
import torch

Dim = torch.export.Dim


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x, mask):
        return self.linear(x) * mask.unsqueeze(-1)


torch.manual_seed(0)
model = Model().eval()
x, mask = torch.randn(2, 3, 8), torch.ones(2, 3)

batch, seq = Dim("batch", max=64), Dim("seq", max=512)
spec = {"x": {0: batch, 1: seq}, "mask": {0: batch, 1: seq}}
ep = torch.export.export(model, (x, mask), dynamic_shapes=spec)
print(ep.range_constraints)


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


new_inputs = [(torch.randn(b, s, 8), (torch.rand(b, s) > 0.5).float()) for b, s in [(5, 3), (1, 7), (4, 11)]]

# %%
# ``batch`` and ``seq`` are two symbols of the program (``s31`` and ``s27`` in this run), with
# the ranges of the two ``Dim`` objects.
#
# ``torch.onnx.export(ep)``: dynamic, with the symbols as names
# -------------------------------------------------------------
#
# Pass the program where the module would go. There are no example inputs to give: the program
# already holds the graph and its shapes.

onnx_program = torch.onnx.export(ep, dynamo=True, verbose=False, output_names=["out"])
ep_dims = onnx_dims(onnx_program.model_proto)
print(ep_dims)

batch_name, seq_name = ep_dims["x"][:2]
assert [str(s) for s in ep.range_constraints] == [batch_name, seq_name], (ep.range_constraints, ep_dims)
assert ep_dims == {
    "x": [batch_name, seq_name, 8],
    "mask": [batch_name, seq_name],
    "out": [batch_name, seq_name, 4],
}, ep_dims
check_onnx_against_eager(onnx_program, model, new_inputs)

# %%
# The batch and sequence dimensions are ``dim_param`` (names), so they are dynamic, and
# onnxruntime agrees with eager PyTorch on new shapes. The names are the program's symbols:
# the ``Dim`` names stayed in the Python spec, the program only knows its symbols. (The ranges
# do not reach ONNX either.)
#
# What the exporter does with the program
# ---------------------------------------
#
# Given a program, ``torch.onnx.export`` does not trace the model again, but it does not convert
# your program as it is either: it first runs ``ExportedProgram.run_decompositions`` on it (with
# the ONNX exporter's own decomposition table), which traces the *program* again. The program it
# converted is ``onnx_program.exported_program``:

converted = onnx_program.exported_program


def input_shapes(program):
    """The shape of each user input of a program, as strings."""
    user_inputs = set(program.graph_signature.user_inputs)
    return {n.name: [str(d) for d in n.meta["val"].shape] for n in program.graph.nodes if n.name in user_inputs}


print(converted is ep, input_shapes(converted), converted.range_constraints)
assert converted is not ep
assert input_shapes(converted) == input_shapes(ep), (input_shapes(converted), input_shapes(ep))
assert {str(k): str(v) for k, v in converted.range_constraints.items()} == {
    str(k): str(v) for k, v in ep.range_constraints.items()
}, converted.range_constraints

# %%
# A new ``ExportedProgram``, whose dynamic dimensions are the same symbols with the same ranges
# as in yours: the retrace did not change them here. When a dimension of an ONNX model is not
# what you expected, compare ``onnx_program.exported_program`` with the program you gave: that
# is the one the ONNX graph was built from.
#
# Getting the names back: pass the spec again
# -------------------------------------------
#
# With a program, ``torch.onnx.export`` uses ``dynamic_shapes`` only to name the dimensions. The
# same spec (or strings at the same places) names them:

named_program = torch.onnx.export(ep, dynamo=True, verbose=False, output_names=["out"], dynamic_shapes=spec)
named_dims = onnx_dims(named_program.model_proto)
print(named_dims)
assert named_dims == {
    "x": ["batch", "seq", 8],
    "mask": ["batch", "seq"],
    "out": ["batch", "seq", 4],
}, named_dims
check_onnx_against_eager(named_program, model, new_inputs)

# %%
# ``named_program.rename_axes({...})`` after export does the same (see
# :ref:`recipe-onnx-dimension-names`).
#
# (The ``UserWarning`` lines printed above, "The axis name: batch will not be used" and the
# same for ``seq``, are harmless: two inputs share each name, and
# :ref:`recipe-onnx-dimension-names` explains them.)
#
# A static program stays static
# -----------------------------
#
# Since ``dynamic_shapes`` only renames, it cannot make a program dynamic. A program exported
# without ``dynamic_shapes`` has fixed sizes, and the ONNX model too, without any warning:

static_ep = torch.export.export(model, (x, mask))
static_program = torch.onnx.export(
    static_ep, dynamo=True, verbose=False, output_names=["out"], dynamic_shapes=spec
)
static_dims = onnx_dims(static_program.model_proto)
print(static_dims)
assert static_dims == {"x": [2, 3, 8], "mask": [2, 3], "out": [2, 3, 4]}, static_dims

try:
    onnx_session(static_program).run(None, {"x": torch.randn(5, 3, 8).numpy(), "mask": torch.ones(5, 3).numpy()})
    raise AssertionError("the ONNX model of a static program now accepts new shapes: update this recipe")
except onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument as e:
    print(e)
    assert "Got invalid dimensions for input: x" in str(e), e

# %%
# The dimensions of the ONNX model are decided when ``torch.export.export`` runs. To change
# them, export the program again with the right ``dynamic_shapes`` (or export the module
# directly with ``torch.onnx.export(model, args, dynamic_shapes=...)``).
#
# Exporting the program yourself is useful when you want to look at it or test it first
# (``ep.module()`` checks the shapes of its inputs, which the ONNX model does not), or when the
# ONNX exporter's own capture does something else than ``torch.export.export`` (it is more
# lenient with specs, see :ref:`recipe-onnx-lenient-export-unchecked-shapes`).
