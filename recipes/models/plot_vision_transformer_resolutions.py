"""
.. _recipe-vision-transformer-resolutions:

A vision transformer at several resolutions: image sizes as multiples of the patch size
=======================================================================================

A vision transformer cuts the image into square patches and learns one position embedding per
patch of the resolution it was trained at. To run it on other image sizes, the position
embeddings are interpolated to the new grid of patches, as ``interpolate_pos_encoding`` does in
common implementations. People export such a model once and want it to accept any height and
width the patch size divides, for any batch.

This recipe builds a small vision transformer in plain PyTorch (a strided convolution as patch
embedding, a class token, position embeddings interpolated to the patch grid, two encoder
blocks), shows the error a plain ``Dim`` for the height and width gives, exports with the height
and width written as multiples of the patch size (derived dimensions), shows what happens when a
size is not a multiple, and checks the exported program and the ONNX model against eager.

The model
---------

Patches of 4 by 4 pixels, position embeddings learned for a grid of 8 by 8 patches (32 by 32
pixels), interpolated with ``F.interpolate(..., mode="bicubic")`` to the grid of the image.
"""

import time

import numpy as np
import onnxruntime
import torch
import torch.nn.functional as F

Dim = torch.export.Dim
PATCH, HIDDEN, HEADS, BASE_GRID, CLASSES = 4, 32, 2, 8, 10


class EncoderBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.attention_norm = torch.nn.LayerNorm(HIDDEN)
        self.qkv = torch.nn.Linear(HIDDEN, 3 * HIDDEN)
        self.attention_out = torch.nn.Linear(HIDDEN, HIDDEN)
        self.mlp_norm = torch.nn.LayerNorm(HIDDEN)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(HIDDEN, 4 * HIDDEN), torch.nn.GELU(), torch.nn.Linear(4 * HIDDEN, HIDDEN)
        )

    def forward(self, x):
        batch, tokens, _ = x.shape
        qkv = self.qkv(self.attention_norm(x)).view(batch, tokens, 3, HEADS, HIDDEN // HEADS)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v)
        x = x + self.attention_out(attended.transpose(1, 2).reshape(batch, tokens, HIDDEN))
        return x + self.mlp(self.mlp_norm(x))


class TinyViT(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embedding = torch.nn.Conv2d(3, HIDDEN, kernel_size=PATCH, stride=PATCH)
        self.class_token = torch.nn.Parameter(0.02 * torch.randn(1, 1, HIDDEN))
        self.position_embedding = torch.nn.Parameter(0.02 * torch.randn(1, 1 + BASE_GRID**2, HIDDEN))
        self.blocks = torch.nn.Sequential(EncoderBlock(), EncoderBlock())
        self.norm = torch.nn.LayerNorm(HIDDEN)
        self.head = torch.nn.Linear(HIDDEN, CLASSES)

    def interpolate_pos_encoding(self, grid_height, grid_width):
        class_position, patch_positions = self.position_embedding[:, :1], self.position_embedding[:, 1:]
        patch_positions = patch_positions.reshape(1, BASE_GRID, BASE_GRID, HIDDEN).permute(0, 3, 1, 2)
        patch_positions = F.interpolate(patch_positions, size=(grid_height, grid_width), mode="bicubic")
        return torch.cat([class_position, patch_positions.flatten(2).transpose(1, 2)], dim=1)

    def forward(self, images):
        patches = self.patch_embedding(images)  # (batch, hidden, height / 4, width / 4)
        batch, _, grid_height, grid_width = patches.shape
        tokens = torch.cat([self.class_token.expand(batch, -1, -1), patches.flatten(2).transpose(1, 2)], dim=1)
        tokens = tokens + self.interpolate_pos_encoding(grid_height, grid_width)
        return self.head(self.norm(self.blocks(tokens))[:, 0])


torch.manual_seed(0)
model = TinyViT().eval()
example = (torch.randn(2, 3, 24, 40),)
print({size: tuple(model(torch.randn(2, 3, *size)).shape) for size in [(32, 32), (24, 40), (64, 16)]})

# %%
# The model classifies images of any size: 32 by 32 pixels is the grid it was "trained" at, the
# other sizes use interpolated position embeddings. The example for export is 24 by 40 pixels, a
# grid of 6 by 10 patches: not square, and not the training grid, so that nothing in it is a
# special value.
#
# Helpers: the checks against eager, the ONNX dimensions, and a timer
# -------------------------------------------------------------------


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


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


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


def single_thread_session(onnx_program):
    """An onnxruntime session on the CPU that computes on one thread, for timings."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def onnxruntime_call(session):
    """``session`` called like the model: torch tensors in, a tuple of torch tensors out."""
    names = [node.name for node in session.get_inputs()]

    def call(*inputs):
        outputs = session.run(None, {name: tensor.numpy() for name, tensor in zip(names, inputs, strict=True)})
        return tuple(torch.from_numpy(output) for output in outputs)

    return call


def print_timings(runtimes, cases, repeat=10):
    """The fastest of ``repeat`` calls of each runtime on each case's inputs, in ms, torch on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        print(f"{'':<30}" + "".join(f"{name:>18}" for name in runtimes))
        with torch.no_grad():
            for label, inputs in cases.items():
                row = []
                for function in runtimes.values():
                    function(*inputs)  # warm up
                    times = []
                    for _ in range(repeat):
                        start = time.perf_counter()
                        function(*inputs)
                        times.append(time.perf_counter() - start)
                    row.append(1000 * min(times))
                print(f"{label:<30}" + "".join(f"{milliseconds:>15.2f} ms" for milliseconds in row))
    finally:
        torch.set_num_threads(threads)


# %%
# A plain ``Dim`` for the height and width
# ----------------------------------------
#
# The first spec people write gives the height and the width a ``Dim`` each:

plain_spec = {"images": {0: Dim("batch"), 2: Dim("height"), 3: Dim("width")}}
try:
    torch.export.export(model, example, dynamic_shapes=plain_spec)
    raise AssertionError("a plain Dim from 0 now exports the ViT: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    message = str(e)

assert message.startswith("Constraints violated (height, width)!"), message
assert "height = Dim('height', min=8)" in message and "width = Dim('width', min=8)" in message, message

# %%
# ``torch._dynamo.exc.UserError`` is the (private) class export raises; ``RuntimeError``, its
# base class, catches it too. A ``Dim`` starts at 0, and export assumed while tracing that the
# grid has at least 2 patches each way: a grid of 0 or 1 is special to it (see
# :ref:`sphx_glr_auto_recipes_constraints_plot_zero_one_specialization.py`), and 2 patches need
# 8 pixels. The suggestion, ``min=8``, settles the range (see
# :ref:`sphx_glr_auto_recipes_constraints_plot_suggested_fixes.py` for acting on such
# suggestions), but the spec would still say nothing about the patches: the grid would only be
# an expression of the height and width, not a dimension of its own with its own bounds.
#
# Height and width as multiples of the patch size
# -----------------------------------------------
#
# Give the ``Dim`` to the grid, and write the image sizes from it: ``4 * grid_h`` is a derived
# dimension (see :ref:`sphx_glr_auto_recipes_constraints_plot_derived_dims.py`). The bounds are
# the grid's: from 2 patches (8 pixels) to 32 patches (128 pixels) each way.

grid_h, grid_w = Dim("grid_h", min=2, max=32), Dim("grid_w", min=2, max=32)
spec = {"images": {0: Dim("batch"), 2: PATCH * grid_h, 3: PATCH * grid_w}}
print(spec)
ep = torch.export.export(model, example, dynamic_shapes=spec)
print(dict(sorted(ep.range_constraints.items(), key=lambda item: str(item[0]))))  # a stable order
ranges = sorted(str(r) for r in ep.range_constraints.values())
assert ranges == ["VR[0, int_oo]", "VR[2, 32]", "VR[2, 32]", "VR[8, 128]", "VR[8, 128]"], ep.range_constraints

# %%
# The batch, the two grid sizes and the two image sizes, which are 4 times the grid sizes: 8 to
# 128 pixels. Inside the program, the patch embedding's output has the grid symbols themselves as
# its sizes, and the image sizes are 4 times them:

images_shape = ep.graph.find_nodes(op="placeholder")[-1].meta["val"].shape
conv = next(node for node in ep.graph.nodes if node.target == torch.ops.aten.conv2d.default)
patches_shape = conv.meta["val"].shape
print(f"images {list(images_shape)} -> patches {list(patches_shape)}")
assert images_shape[2].node.expr == PATCH * patches_shape[2].node.expr, (images_shape, patches_shape)
assert images_shape[3].node.expr == PATCH * patches_shape[3].node.expr, (images_shape, patches_shape)

new_input_sets = [
    (torch.randn(1, 3, 32, 32),),
    (torch.randn(3, 3, 16, 48),),
    (torch.randn(2, 3, 128, 8),),
    (torch.randn(1, 3, 8, 8),),
]
check_against_eager(ep, model, new_input_sets)

# %%
# The training resolution, wide and tall images, and the smallest grid all match eager.
#
# A size that is not a multiple of the patch size
# -----------------------------------------------
#
# As an *example*, an image of 30 pixels does not fit the spec, and export refuses it with a
# message that names the form the size must have:

try:
    torch.export.export(model, (torch.randn(2, 3, 30, 40),), dynamic_shapes=spec)
    raise AssertionError("an example that is not a multiple now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert "Expected shape[2] = 30 of input Tensor to be of the form 4*grid_h" in str(e), e

# %%
# At *run time* the program does not check that the sizes are multiples of 4. It checks the
# ranges, and a 30-pixel image is inside them, so the program runs it; like eager, the strided
# convolution ignores the last 2 rows of pixels, which fit no patch:

module = ep.module()
odd = torch.randn(1, 3, 30, 32)
odd_result = module(odd)
torch.testing.assert_close(odd_result, model(odd))
torch.testing.assert_close(odd_result, model(odd[:, :, :28]))
print("30 x 32 pixels: runs, and gives what eager gives on the first 28 rows")

# %%
# A grid below the range, one row of patches (4 pixels), is refused by the program's checks,
# while eager would run it:

try:
    module(torch.randn(1, 3, 4, 32))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed"), e
else:
    raise AssertionError("the program now accepts a grid of one row: update this recipe")

# %%
# If images that are not multiples of the patch size must be refused, do it before calling the
# model (crop or pad in the preprocessing): the spec only tells export which sizes to trace for.
#
# The same spec for ONNX
# ----------------------
#
# ``torch.onnx.export`` takes the model, the example and the same ``dynamic_shapes``; the image
# sizes are named after the derived dimensions:

onnx_program = torch.onnx.export(
    model, example, dynamic_shapes=spec, dynamo=True, verbose=False, output_names=["logits"]
)
dims = onnx_dims(onnx_program.model_proto)
print(dims)
assert dims == {"images": ["batch", 3, "4*grid_h", "4*grid_w"], "logits": ["batch", CLASSES]}, dims
check_onnx_against_eager(onnx_program, model, [*new_input_sets, (odd,), (torch.randn(1, 3, 4, 32),)])

# %%
# The names ``4*grid_h`` and ``4*grid_w`` are labels: onnxruntime checks neither the multiple
# nor the range, so it runs the 30-pixel image and the one row of patches like eager (see
# :ref:`sphx_glr_auto_recipes_onnx_plot_onnx_lenient_export_unchecked_shapes.py` for the checks
# that do not reach the ONNX model). ``F.interpolate(..., mode="bicubic")`` became an ONNX
# ``Resize``:

resize = [node for node in onnx_program.model_proto.graph.node if node.op_type == "Resize"]
modes = [attribute.s.decode() for node in resize for attribute in node.attribute if attribute.name == "mode"]
print(modes)
assert modes == ["cubic"], modes

# %%
# How long each runtime takes
# ---------------------------
#
# The fastest of 10 calls, for a batch of 2 images at two resolutions, on one CPU
# thread (``torch.set_num_threads(1)``, and ``intra_op_num_threads = 1`` for onnxruntime),
# so that the numbers compare the runtimes rather than their thread pools. They come from the
# machine that built this page and change from run to run; they are printed, not checked.

runtimes = {
    "eager": model,
    "exported program": module,
    "onnxruntime": onnxruntime_call(single_thread_session(onnx_program)),
}
print_timings(runtimes, {
    "32 x 32 pixels, 64 patches": (torch.randn(2, 3, 32, 32),),
    "64 x 64 pixels, 256 patches": (torch.randn(2, 3, 64, 64),),
})

# %%
# In short: give the ``Dim`` to the grid of patches and write the image sizes as
# ``patch * grid``, with bounds on the grid (2 patches at least). The example must be a multiple
# of the patch size; at run time, neither the exported program nor onnxruntime checks that the
# sizes are, so make sure of it where the images are prepared.

# %%
# The real model
# --------------
#
# This vision transformer is built by hand. The real ``ViTModel`` of Hugging Face transformers,
# run from a tiny configuration with ``interpolate_pos_encoding=True``, is in the transformers
# section: :ref:`recipe-transformers-vit-resolutions`.
