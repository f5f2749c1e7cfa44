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
are dynamic, gets the names back by passing the spec again, and shows what happens to a
program that was exported without dynamic shapes.

The model and its ``ExportedProgram``
-------------------------------------
"""

import warnings

import numpy as np
import onnxruntime
import torch

# torch 2.13's ONNX exporter warns "isinstance(treespec, LeafSpec) is deprecated" from its own code on
# every export; the warning says nothing about your model, so this recipe hides that one.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)

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


def run_onnx(onnx_program, x, mask):
    session = onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (out,) = session.run(None, {"x": x.numpy(), "mask": mask.numpy()})
    return out


def check_against_eager(onnx_program, shapes):
    for b, s in shapes:
        new_x, new_mask = torch.randn(b, s, 8), (torch.rand(b, s) > 0.5).float()
        expected = model(new_x, new_mask).detach().numpy()
        np.testing.assert_allclose(run_onnx(onnx_program, new_x, new_mask), expected, rtol=1e-5, atol=1e-6)
    print(f"onnxruntime matches eager on (batch, seq) = {shapes}")


new_shapes = [(5, 3), (1, 7), (4, 11)]

# %%
# ``batch`` and ``seq`` are the symbols ``s31`` and ``s27`` of the program, with the ranges of
# the two ``Dim`` objects.
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
check_against_eager(onnx_program, new_shapes)

# %%
# The batch and sequence dimensions are ``dim_param`` (names), so they are dynamic, and
# onnxruntime agrees with eager PyTorch on new shapes. The names are the program's symbols:
# the ``Dim`` names stayed in the Python spec, the program only knows ``s31`` and ``s27``.
# (The ranges do not reach ONNX either.)
#
# Getting the names back: pass the spec again
# -------------------------------------------
#
# With a program, ``torch.onnx.export`` does not trace anything, and uses ``dynamic_shapes``
# only to name the dimensions. The same spec (or strings at the same places) names them:

named_program = torch.onnx.export(ep, dynamo=True, verbose=False, output_names=["out"], dynamic_shapes=spec)
named_dims = onnx_dims(named_program.model_proto)
print(named_dims)
assert named_dims == {
    "x": ["batch", "seq", 8],
    "mask": ["batch", "seq"],
    "out": ["batch", "seq", 4],
}, named_dims
check_against_eager(named_program, new_shapes)

# %%
# ``named_program.rename_axes({...})`` after export does the same (see
# :ref:`recipe-onnx-dimension-names`).
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
    run_onnx(static_program, torch.randn(5, 3, 8), torch.ones(5, 3))
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
