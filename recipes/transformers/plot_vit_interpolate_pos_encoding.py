"""
.. _recipe-transformers-vit-resolutions:

Guard failed at the model's own resolution: a ViT exported for several resolutions with ``interpolate_pos_encoding``
====================================================================================================================

A vision transformer cuts the image into patches and adds a learned position embedding to each,
one per patch of the resolution it was trained at. transformers' ``ViTModel`` takes other
resolutions with ``interpolate_pos_encoding=True``: it resizes the grid of position embeddings
to the new grid of patches. Exported with the height and the width dynamic, the program runs at
new resolutions and refuses the model's own. This recipe runs the real ``ViTModel``, built from a
tiny configuration (32x32 images, patches of 8: a 4x4 grid; random weights, nothing
downloaded), finds why, fixes it, and checks the ONNX model in onnxruntime.
"""

import types

import numpy as np
import onnxruntime
import torch
from transformers import ViTConfig, ViTModel

Dim = torch.export.Dim

torch.manual_seed(0)
config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                   intermediate_size=64)
model = ViTModel(config, add_pooling_layer=False).eval()
PATCH = config.patch_size


def images(batch, height, width):
    return torch.randn(batch, config.num_channels, height, width)


def onnx_session(onnx_program):
    """An onnxruntime session on the CPU for an ``ONNXProgram``."""
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


# %%
# Other resolutions need ``interpolate_pos_encoding=True``
# --------------------------------------------------------

try:
    model(images(1, 48, 40))
    raise AssertionError("ViT now takes other resolutions by default: update this recipe")
except ValueError as e:
    print(e)
    assert str(e) == "Input image size (48*40) doesn't match model (32*32).", e
with torch.no_grad():
    print(tuple(model(images(1, 48, 40), interpolate_pos_encoding=True).last_hidden_state.shape))

# %%
# With it, a 48x40 image gives 6x5 = 30 patch vectors and the class token's.
#
# Height and width as multiples of the patch
# ------------------------------------------
#
# The patch embedding is a convolution of stride 8, so the spec makes the height and the width
# multiples of 8, ``8 * ph`` and ``8 * pw`` (derived dims, see
# :ref:`sphx_glr_auto_recipes_constraints_plot_derived_dims.py`); ``interpolate_pos_encoding`` is
# a Python ``bool``, whose spec is ``None``. The example is 48x40:

batch, ph, pw = Dim("batch"), Dim("ph", max=16), Dim("pw", max=16)
spec = {"pixel_values": {0: batch, 2: PATCH * ph, 3: PATCH * pw}, "interpolate_pos_encoding": None}
example = {"pixel_values": images(2, 48, 40), "interpolate_pos_encoding": True}
ep = torch.export.export(model, (), kwargs=example, dynamic_shapes=spec)
with torch.no_grad():
    for height, width in [(64, 24), (16, 16), (128, 56)]:
        pixels = images(1, height, width)
        torch.testing.assert_close(ep.module()(pixel_values=pixels, interpolate_pos_encoding=True),
                                   model(pixels, interpolate_pos_encoding=True))
print("the exported program matches eager at 64x24, 16x16 and 128x56")

# %%
# And at the model's own resolution, 32x32, the program refuses the image:

try:
    ep.module()(pixel_values=images(1, 32, 32), interpolate_pos_encoding=True)
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed:") and str(e).endswith(" != 16"), e
else:
    raise AssertionError("the program now takes the model's own resolution: update this recipe")

# %%
# How to read it: the guard is about the number of patches, ``(height // 8) * (width // 8)``,
# which must not be 16, the number of position embeddings. ``ViTEmbeddings.interpolate_pos_encoding``
# starts with a shortcut: when the image has as many patches as there are position embeddings and
# is square, and ``torch.jit.is_tracing()`` is false, it returns the position embeddings as they
# are. Its comment says "always interpolate when tracing"; but ``torch.jit.is_tracing()`` is
# false under ``torch.export``, which checks the ``if`` on the example (30 patches, not 16) and
# keeps that branch with a guard:


class Probe(torch.nn.Module):
    def forward(self, x):
        assert not torch.jit.is_tracing()  # evaluated while export traces
        return x + 1


torch.export.export(Probe(), (torch.ones(2),))
print("torch.jit.is_tracing() is False under torch.export")

# %%
# The fix: always interpolate
# ---------------------------
#
# Interpolating the grid of position embeddings to its own size (bicubic, ``align_corners=False``)
# gives it back unchanged, so the method without its shortcut gives the same output at every
# resolution. The recipe replaces the method of this model's ``embeddings`` (the rest of
# transformers is untouched) with the same computation, minus the shortcut:


def always_interpolate(self, embeddings, height, width):
    """``ViTEmbeddings.interpolate_pos_encoding`` without its shortcut."""
    class_position, patch_positions = self.position_embeddings[:, :1], self.position_embeddings[:, 1:]
    side, dim = int(patch_positions.shape[1] ** 0.5), embeddings.shape[-1]
    grid = patch_positions.reshape(1, side, side, dim).permute(0, 3, 1, 2)
    grid = torch.nn.functional.interpolate(
        grid, size=(height // self.patch_size, width // self.patch_size), mode="bicubic", align_corners=False
    )
    return torch.cat([class_position, grid.permute(0, 2, 3, 1).reshape(1, -1, dim)], dim=1)


native = images(2, 32, 32)
with torch.no_grad():
    before = model(native).last_hidden_state
    model.embeddings.interpolate_pos_encoding = types.MethodType(always_interpolate, model.embeddings)
    torch.testing.assert_close(model(native, interpolate_pos_encoding=True).last_hidden_state, before, rtol=0, atol=1e-6)
print("at 32x32, interpolating to the same grid gives the model's own output")

ep = torch.export.export(model, (), kwargs=example, dynamic_shapes=spec)
new_sizes = [(32, 32), (64, 24), (16, 16), (128, 56)]
with torch.no_grad():
    for height, width in new_sizes:
        pixels = images(3, height, width)
        torch.testing.assert_close(ep.module()(pixel_values=pixels, interpolate_pos_encoding=True),
                                   model(pixels, interpolate_pos_encoding=True))
print(f"the exported program matches eager at {', '.join(f'{h}x{w}' for h, w in new_sizes)}")

# %%
# The model's own resolution passes now. A height or width of one patch does not: the ranges
# of ``ph`` and ``pw`` start at 2, not at the 0 of a named ``Dim``:

# In the order of their names (export lists the two sizes in either order from run to run).
print(dict(sorted(ep.range_constraints.items(), key=lambda item: str(item[0]))))
assert sorted(str(r) for r in ep.range_constraints.values()).count("VR[2, 16]") == 2, ep.range_constraints
try:
    ep.module()(pixel_values=images(1, 16, 8), interpolate_pos_encoding=True)
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed: pixel_values.size()[3] // 8 != 1"), e
else:
    raise AssertionError("the program now takes a width of one patch: update this recipe")

# %%
# To ONNX
# -------
#
# The ONNX model is made from the exported program; its dimensions are export's symbols until
# ``rename_axes`` names them from the program's own (the batch, and the patches ``ph``, ``pw``):

onnx_program = torch.onnx.export(ep, dynamo=True, verbose=False, output_names=["last_hidden_state"])
placeholder = next(n for n in ep.graph.find_nodes(op="placeholder") if n.name == "pixel_values").meta["val"].shape
batch_symbol, (ph_symbol, pw_symbol) = str(placeholder[0]), (str(s.node.expr.free_symbols.pop()) for s in placeholder[2:])
onnx_program.rename_axes({batch_symbol: "batch", ph_symbol: "ph", pw_symbol: "pw"})
dims = onnx_dims(onnx_program.model_proto)
print(dims)
session = onnx_session(onnx_program)
for height, width in new_sizes:
    pixels = images(2, height, width)
    (got,) = session.run(None, {"pixel_values": pixels.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(got, model(pixels, interpolate_pos_encoding=True).last_hidden_state.numpy(),
                                   rtol=1e-4, atol=1e-5)
print(f"onnxruntime matches eager at {len(new_sizes)} new resolutions")
assert dims["pixel_values"] == ["batch", config.num_channels, "8*ph", "8*pw"], dims
