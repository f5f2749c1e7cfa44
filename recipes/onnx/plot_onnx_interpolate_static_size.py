"""
.. _recipe-onnx-interpolate-static-size:

``F.interpolate`` in ONNX returns the example's size: ``int(h * 1.5)`` as an output size
========================================================================================

A model resizes its feature map by 1.5 with ``F.interpolate(x, size=(int(h * 1.5), int(w *
1.5)))``. Exported to ONNX with dynamic height and width, the model loads, its input says
``['h', 'w']``, and onnxruntime returns a map of 9 x 12 for every input: the size computed for
the example. No error, no warning; only the output shape is wrong.

This recipe shows it, lets ``torch.export`` explain it (``int()`` on a symbolic size), shows
what sizes rebuilt from tensors become, and fixes the model with integer arithmetic on the
sizes, checked with onnxruntime against eager on new heights and widths. It ends with an output
size read from an input tensor (``size.tolist()``), which exports with the pinned release.

Public reports of this kind: pytorch/pytorch#149826 (a size read from an input tensor).

The model and the helpers
-------------------------
"""

import contextlib
import io
import math

import numpy as np
import onnxruntime
import torch
import torch.nn.functional as F
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

Dim = torch.export.Dim


class Upsample(torch.nn.Module):
    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        return F.interpolate(x, size=(int(h * 1.5), int(w * 1.5)), mode="bilinear")


torch.manual_seed(0)
model = Upsample().eval()
x = torch.randn(1, 2, 6, 8)
spec = ({2: "h", 3: "w"},)
new_inputs = [(torch.randn(1, 2, 10, 13),), (torch.randn(1, 2, 7, 5),)]


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
# The ONNX model: dynamic input, fixed output
# -------------------------------------------

onnx_program = torch.onnx.export(model, (x,), dynamo=True, verbose=False, dynamic_shapes=spec, output_names=["out"])
fixed_dims = onnx_dims(onnx_program.model_proto)
print(fixed_dims)
assert fixed_dims == {"x": [1, 2, "h", "w"], "out": [1, 2, 9, 12]}, fixed_dims

session = onnx_session(onnx_program)
for (new_x,) in new_inputs:
    (got,) = session.run(None, {"x": new_x.numpy()})
    print(f"input {tuple(new_x.shape)}: onnxruntime {got.shape}, eager {tuple(model(new_x).shape)}")
    assert got.shape == (1, 2, 9, 12) and model(new_x).shape != got.shape, got.shape

# %%
# The input is dynamic, but the output is 9 x 12 (6 x 1.5 and 8 x 1.5) whatever the input:
# onnxruntime resizes a 10 x 13 map to 9 x 12 where eager PyTorch gives 15 x 19. The values are
# an interpolation, so nothing looks broken until a shape is checked.
#
# A test that compares the model with eager PyTorch is where it shows:
# ``torch.testing.assert_close`` fails on the shape before it compares any value.

try:
    torch.testing.assert_close(torch.from_numpy(got), model(new_x))
except AssertionError as e:
    print(e)
    assert str(e).startswith("The values for attribute 'shape' do not match: torch.Size([1, 2, 9, 12]) != "), e
else:
    raise AssertionError("the ONNX model now follows the input's size: update this recipe")

# %%
# Why: ``int()`` needs a number
# -----------------------------
#
# ``torch.export`` with named ``Dim`` objects, which must stay dynamic, says what happened:

try:
    torch.export.export(model, (x,), dynamic_shapes=({2: Dim("h"), 3: Dim("w")},))
    raise AssertionError("int(h * 1.5) now stays symbolic: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert str(e).startswith("Constraints violated (h, w)!"), e
    assert "generated guard math.trunc(1.5*torch.sym_float(L['x'].size()[2])) == 9" in str(e), e

# %%
# (``torch._dynamo.exc.UserError`` is private; code you keep can catch ``RuntimeError``, its base
# class.) While tracing, ``h`` is a symbol and ``h * 1.5`` a symbolic float. ``int()`` must
# return a Python ``int``, so export evaluated it at the example, 9, and recorded the condition
# ``trunc(1.5 * h) == 9`` as a guard. The input stays dynamic; the output size is a constant.
# ``torch.export`` refuses because that guard contradicts a dynamic ``h``. The ONNX exporter is
# lenient (see :ref:`recipe-onnx-lenient-export-unchecked-shapes`): it exported, and the guard,
# which would have rejected a 10 x 13 input, is not in the ONNX model.
#
# Sizes rebuilt from tensors
# --------------------------
#
# Computing the sizes with tensor operations does not help. ``int()`` on a tensor element is a
# data-dependent value, which export cannot turn into a number either:


class TensorSizes(torch.nn.Module):
    def forward(self, x):
        size = torch.tensor(x.shape[2:]) * 1.5
        return F.interpolate(x, size=(int(size[0]), int(size[1])), mode="bilinear")


export_stderr = io.StringIO()  # what export prints before it raises (see below)
try:
    with contextlib.redirect_stderr(export_stderr):
        torch.export.export(TensorSizes(), (x,), dynamic_shapes=({2: Dim("h"), 3: Dim("w")},))
    raise AssertionError("int() on a tensor of sizes now stays symbolic: update this recipe")
except GuardOnDataDependentSymNode as e:
    print(str(e).splitlines()[0])
    assert str(e).startswith("Could not guard on data-dependent expression"), e
partial_graph = export_stderr.getvalue()
assert "def forward(" in partial_graph and "aten.item" in partial_graph.rstrip().splitlines()[-1], partial_graph

# %%
# ``GuardOnDataDependentSymNode`` (from ``torch.fx.experimental.symbolic_shapes``) is the error of
# :ref:`recipe-item-could-not-guard`: the sizes went through a tensor, so export sees values, not
# sizes, and reading one (``size[0]``, a float here, hence a ``zuf`` symbol) gives an unknown with
# no example value to fall back on. Before raising, export also prints on stderr the graph it
# traced up to the failure, whose last node is that read (``aten.item``); the recipe keeps it off
# the page (``contextlib.redirect_stderr``), since the message already says what failed. With ``.tolist()`` instead of ``int()`` the export succeeds,
# but the output sizes are new data-dependent symbols, no longer a function of ``h`` and ``w``:


class TolistSizes(torch.nn.Module):
    def forward(self, x):
        return F.interpolate(x, size=(torch.tensor(x.shape[2:]) * 3 // 2).tolist(), mode="bilinear")


tolist_ep = torch.export.export(TolistSizes(), (x,), dynamic_shapes=({2: Dim("h"), 3: Dim("w")},))
out_shape = tolist_ep.graph.find_nodes(op="output")[0].args[0][0].meta["val"].shape
print(out_shape)
assert all(str(s).startswith("u") for s in out_shape[2:]), out_shape
unbacked_ranges = [str(tolist_ep.range_constraints[s.node.expr]) for s in out_shape[2:]]
print(unbacked_ranges)
assert unbacked_ranges == ["VR[0, int_oo]", "VR[0, int_oo]"], unbacked_ranges

# %%
# Such ``u`` symbols come with no range but ``[0, int_oo]`` and no relation to the input, which
# is what the rest of a model usually needs (adding a skip connection of the same size, for
# instance).
#
# The fix: integer arithmetic on the sizes
# ----------------------------------------
#
# ``x.shape[2] * 3 // 2`` is ``int(h * 1.5)`` for every size, and stays a symbolic integer: ``*``
# and ``//`` on symbols give symbols, no Python number is needed.


class UpsampleFixed(torch.nn.Module):
    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        return F.interpolate(x, size=(h * 3 // 2, w * 3 // 2), mode="bilinear")


fixed_program = torch.onnx.export(
    UpsampleFixed().eval(), (x,), dynamo=True, verbose=False, dynamic_shapes=spec, output_names=["out"]
)
dims = onnx_dims(fixed_program.model_proto)
print(dims)
assert dims == {"x": [1, 2, "h", "w"], "out": [1, 2, "((3*h)//2)", "((3*w)//2)"]}, dims
check_onnx_against_eager(fixed_program, model, new_inputs)

# %%
# The output dims are now expressions of ``h`` and ``w``, and onnxruntime gives what the original
# model gives in eager mode on 10 x 13 and 7 x 5 inputs.
#
# ``math.floor``, ``math.ceil`` and ``round`` keep the size symbolic
# ------------------------------------------------------------------
#
# Only ``int()`` needs a Python number. ``math.floor``, ``math.ceil`` and ``round`` on a
# symbolic float give symbolic integers (``FloorToInt(1.5*ToFloat(h))``), so these export with
# dynamic output sizes and match eager on new shapes (``math.floor(h * 1.5)`` is ``int(h * 1.5)``
# for a positive size):


def rounded_upsample(rounding):
    class Rounded(torch.nn.Module):
        def forward(self, x):
            h, w = x.shape[2], x.shape[3]
            return F.interpolate(x, size=(rounding(h * 1.5), rounding(w * 1.5)), mode="bilinear")

    return Rounded().eval()


for rounding in (math.floor, math.ceil, round):
    rounded = rounded_upsample(rounding)
    rounded_ep = torch.export.export(rounded, (x,), dynamic_shapes=({2: Dim("h"), 3: Dim("w")},))
    rounded_shape = rounded_ep.graph.find_nodes(op="output")[0].args[0][0].meta["val"].shape
    print(f"{rounding.__name__}: {rounded_shape}")
    assert all(isinstance(s, torch.SymInt) for s in rounded_shape[2:]), rounded_shape
    for (new_x,) in new_inputs:
        torch.testing.assert_close(rounded_ep.module()(new_x), rounded(new_x))

floor_program = torch.onnx.export(
    rounded_upsample(math.floor), (x,), dynamo=True, verbose=False, dynamic_shapes=spec, output_names=["out"]
)
floor_dims = onnx_dims(floor_program.model_proto)
print(floor_dims)
assert all(isinstance(d, str) for d in floor_dims["out"][2:]), floor_dims
check_onnx_against_eager(floor_program, model, new_inputs)

# %%
# In ONNX, ``math.floor(h * 1.5)`` became a named output dimension, and onnxruntime gives what the
# original model gives on new inputs: this is a fix too, when the code wants a float factor.
#
# What about ``scale_factor=1.5``?
# --------------------------------
#
# ``scale_factor`` keeps the sizes symbolic as well (export computes ``trunc(1.5 * h)`` as a
# symbolic expression). But by default it also changes the values: bilinear interpolation then
# maps coordinates with the factor 1.5, not with the ratio of the sizes.
# ``recompute_scale_factor=True`` gives exactly the results of the ``size=`` version:


def upsample_scale(x, recompute):
    return F.interpolate(x, scale_factor=1.5, mode="bilinear", recompute_scale_factor=recompute)


(probe,) = new_inputs[0]
print(f"largest difference, scale_factor alone: {float((upsample_scale(probe, None) - model(probe)).abs().max()):.3f}")
assert not torch.allclose(upsample_scale(probe, None), model(probe))
assert torch.equal(upsample_scale(probe, True), model(probe))


class UpsampleScale(torch.nn.Module):
    def forward(self, x):
        return upsample_scale(x, True)


scale_ep = torch.export.export(UpsampleScale(), (x,), dynamic_shapes=({2: Dim("h"), 3: Dim("w")},))
scale_shape = scale_ep.graph.find_nodes(op="output")[0].args[0][0].meta["val"].shape
print(scale_shape)
assert all(isinstance(s, torch.SymInt) for s in scale_shape[2:]), scale_shape
for (new_x,) in new_inputs:
    torch.testing.assert_close(scale_ep.module()(new_x), model(new_x))
print("the scale_factor program matches eager on the new inputs")

scale_program = torch.onnx.export(
    UpsampleScale().eval(), (x,), dynamo=True, verbose=False, dynamic_shapes=spec, output_names=["out"]
)
check_onnx_against_eager(scale_program, model, new_inputs)

# %%
# The ONNX model of the ``scale_factor`` version gives, in onnxruntime, what the original model
# gives in eager mode on the new inputs too.
#
# Each of these works: integer arithmetic on ``x.shape``, ``math.floor`` (or ``ceil``, ``round``)
# of a float size, or ``scale_factor`` with ``recompute_scale_factor=True``. What breaks a
# dynamic size on this page is ``int()`` on a float, and a detour through a tensor.

# %%
# A size read from an input tensor
# --------------------------------
#
# Some models receive the output size as data: a 1-D integer tensor passed with the image, read
# with ``.tolist()``. Reports of this kind (pytorch/pytorch#149826) quote a ``RuntimeError`` from
# the decomposition of ``upsample_nearest2d``: "SymIntArrayRef expected to contain only concrete
# integers". With the pinned PyTorch, a model built like the one reported exports to ONNX, with
# the image's height and width dynamic too:


class ResizeTo(torch.nn.Module):
    def forward(self, x, size):
        return F.interpolate(x, size=size.tolist())


resize_to = ResizeTo().eval()
target = torch.tensor([9, 12], dtype=torch.int32)
resize_program = torch.onnx.export(
    resize_to, (x, target), dynamo=True, verbose=False, dynamic_shapes=(spec[0], None), output_names=["out"]
)
resize_dims = onnx_dims(resize_program.model_proto)
print(resize_dims)
assert resize_dims["x"] == [1, 2, "h", "w"] and resize_dims["size"] == [2], resize_dims
assert all(isinstance(d, str) for d in resize_dims["out"][2:]), resize_dims
sizes = [torch.tensor(s, dtype=torch.int32) for s in ([15, 19], [4, 30])]
check_onnx_against_eager(resize_program, resize_to, [(new_x, s) for (new_x,), s in zip(new_inputs, sizes, strict=True)])

# %%
# The output's height and width are named dimensions (data-dependent ones, read from ``size``),
# and onnxruntime gives what eager gives for new images resized to new sizes, 15 x 19 and 4 x 30:
# the size is read at run time, not frozen at the example's 9 x 12. When the size is a function
# of the input's shape, prefer computing it from ``x.shape`` as above: the output's dims then stay
# related to the input's.
