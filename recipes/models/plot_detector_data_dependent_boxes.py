"""
.. _recipe-detector-data-dependent-boxes:

A detector whose number of boxes depends on the image: exporting thresholds, top-k and gathers
==============================================================================================

An object detector returns as many boxes as it finds: none on an empty image, one per object,
at most some maximum on a crowded one. Its post-processing keeps the scores above a threshold
(``nonzero``), keeps the best of them (``topk``) and gathers their boxes and labels. The number
of boxes is known only once the image has been seen, so no ``Dim`` can describe it. People
export such a model with the image size dynamic and need the program, and the ONNX model, to
return 0, 1 or many boxes.

This recipe builds a small one-stage detector in plain PyTorch (a convolutional backbone of
stride 4, a classification head and a box head on every cell of the feature map, and a
post-processing built like a one-stage detector's: threshold, top-k, gather), exports it with
the height and width dynamic, shows how export writes the number of boxes, and checks the
exported program and onnxruntime on images that give 0, 1, 3 and 10 boxes. It has no non-maximum suppression (NMS), the step that
real detectors run after these to remove overlapping boxes: this recipe does not cover it.

The model
---------

The model takes one image (3, height, width): each image has its own number of boxes, so a batch
would need padding. The weights are random; the classification head starts from a bias that
gives every class a probability of 0.01, so that a blank image gives no box.
"""

import math
import time

import numpy as np
import onnxruntime
import torch

Dim = torch.export.Dim
CLASSES, STRIDE, SCORE_THRESHOLD, MAX_DETECTIONS = 3, 4, 0.5, 10


class TinyDetector(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, kernel_size=3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1),
            torch.nn.ReLU(),
        )
        self.classifier = torch.nn.Conv2d(16, CLASSES, kernel_size=3, padding=1)
        self.box_regressor = torch.nn.Conv2d(16, 4, kernel_size=3, padding=1)
        for layer in self.backbone[::2]:
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            torch.nn.init.zeros_(layer.bias)
        torch.nn.init.normal_(self.classifier.weight, std=0.1)
        torch.nn.init.constant_(self.classifier.bias, -math.log((1 - 0.01) / 0.01))

    def forward(self, image):
        features = self.backbone(image[None])  # (1, 16, height / 4, width / 4)
        logits = self.classifier(features)[0].flatten(1).T  # (cells, classes)
        distances = self.box_regressor(features)[0].flatten(1).T.exp() * STRIDE  # (cells, 4)
        ys, xs = torch.meshgrid(torch.arange(features.shape[2]), torch.arange(features.shape[3]), indexing="ij")
        centers = (torch.stack([xs.flatten(), ys.flatten()], dim=1) + 0.5) * STRIDE
        boxes = torch.cat([centers - distances[:, :2], centers + distances[:, 2:]], dim=1)  # x1, y1, x2, y2

        scores, labels = logits.sigmoid().max(dim=1)
        candidates = torch.nonzero(scores > SCORE_THRESHOLD).squeeze(1)  # how many: depends on the values
        num_boxes = min(MAX_DETECTIONS, candidates.shape[0])
        top_scores, order = scores[candidates].topk(num_boxes)
        kept = candidates[order]
        return boxes[kept], top_scores, labels[kept]


torch.manual_seed(0)
model = TinyDetector().eval()
OBJECT_COLOR = torch.tensor([6.0, -1.9, -3.3])  # normalized pixel values the random head scores high


def image_with_objects(height, width, corners):
    """A blank image with an 8 x 8 square "object" at each corner, each of a slightly different contrast."""
    image = torch.zeros(3, height, width)
    for i, (y, x) in enumerate(corners):
        image[:, y : y + 8, x : x + 8] = (1 + 0.04 * i) * OBJECT_COLOR[:, None, None]
    return image


images = {
    "blank": image_with_objects(32, 48, []),
    "one object": image_with_objects(32, 48, [(12, 20)]),
    "three objects": image_with_objects(48, 64, [(12, 4), (28, 36), (12, 52)]),
    "twelve objects": image_with_objects(
        64, 96, [(12 + 16 * row, 4 + 16 * column) for row in range(3) for column in range(4)]
    ),
}
with torch.no_grad():
    for name, image in images.items():
        boxes, scores, labels = model(image)
        rounded = [round(score, 3) for score in scores.tolist()]
        print(f"{name:>14} {tuple(image.shape)}: {len(scores)} box(es), scores {rounded}")
counts = [len(model(image)[1]) for image in images.values()]
assert counts == [0, 1, 3, 10], counts
with torch.no_grad():
    crowded_scores = model.classifier(model.backbone(images["twelve objects"][None])).sigmoid().amax(dim=1)
assert int((crowded_scores > SCORE_THRESHOLD).sum()) == 12

# %%
# The twelve objects give twelve candidates above the threshold, and the top-k keeps the 10 best.
# The squares have slightly different contrasts so that no two scores are equal, and the order of
# the boxes is set by their scores alone.
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
# Export with the image size dynamic
# ----------------------------------
#
# Only the height and the width are inputs' dimensions. Their lower bound keeps the feature map at
# 2 cells or more each way (sizes 0 and 1 are special to export, see
# :ref:`sphx_glr_auto_recipes_constraints_plot_zero_one_specialization.py`). The example is the
# image with three objects.

spec = {"image": {1: Dim("height", min=8, max=1024), 2: Dim("width", min=8, max=1024)}}
print(spec)
ep = torch.export.export(model, (images["three objects"],), dynamic_shapes=spec)
print(ep.range_constraints)
ranges = sorted(str(r) for r in ep.range_constraints.values())
assert ranges == ["VR[0, 65536]", "VR[8, 1024]", "VR[8, 1024]"], ep.range_constraints

# %%
# Three ranges, for two input dimensions: the third symbol is the number of candidates that
# ``nonzero`` returns. Its symbol is *unbacked* (it comes from the values, see
# :ref:`sphx_glr_auto_recipes_data_dependent_plot_boolean_mask_nonzero_unique.py`); its upper
# bound, 65536, is the number of cells of the feature map of the largest image (256 by 256).
#
# The outputs' first dimension is written from that symbol and the maximum number of boxes:

image_dims = ep.graph.find_nodes(op="placeholder")[-1].meta["val"].shape[1:]
output_shapes = [node.meta["val"].shape for node in ep.graph.output_node().args[0]]
num_boxes = output_shapes[0][0]
print(f"boxes {list(output_shapes[0])}, scores {list(output_shapes[1])}, labels {list(output_shapes[2])}")
assert all(str(shape[0]) == str(num_boxes) for shape in output_shapes), output_shapes
assert str(num_boxes).startswith(f"Min({MAX_DETECTIONS}, "), num_boxes
input_symbols = {symbol for dim in image_dims for symbol in dim.node.expr.free_symbols}
assert not num_boxes.node.expr.free_symbols & input_symbols, (num_boxes, image_dims)
assert "torch.sym_min(" in ep.graph_module.code

# %%
# ``Min(10, ...)`` of the unbacked symbol, and no input size in it. Python's two-argument
# ``min(MAX_DETECTIONS, candidates.shape[0])`` is traced as ``torch.sym_min``, which keeps the
# choice symbolic (see :ref:`sphx_glr_auto_recipes_constraints_plot_max_min_on_sizes.py`);
# ``topk`` accepts that number of elements, and the gathers that follow have the same size.
#
# The program on images with 0, 1, 3 and 10 boxes
# -----------------------------------------------

new_input_sets = [(image,) for image in images.values()]
new_input_sets.append((image_with_objects(40, 24, [(16, 8)]),))
check_against_eager(ep, model, new_input_sets)
exported_counts = [len(ep.module()(*inputs)[1]) for inputs in new_input_sets]
print(exported_counts)
assert exported_counts == [0, 1, 3, 10, 1], exported_counts

# %%
# The four images, and a fifth one of another size with one object, give 0, 1, 3, 10 and 1
# boxes, as in eager; for the blank image, the boxes are a tensor of shape (0, 4).
#
# The same spec for ONNX
# ----------------------
#
# ``torch.onnx.export`` takes the model, the example and the same ``dynamic_shapes``:

onnx_program = torch.onnx.export(
    model,
    (images["three objects"],),
    dynamic_shapes=spec,
    dynamo=True,
    verbose=False,
    output_names=["boxes", "scores", "labels"],
)
dims = onnx_dims(onnx_program.model_proto)
print(dims)
onnx_num_boxes = dims["boxes"][0]
assert onnx_num_boxes.startswith(f"Min({MAX_DETECTIONS}, "), dims
assert dims == {
    "image": [3, "height", "width"],
    "boxes": [onnx_num_boxes, 4],
    "scores": [onnx_num_boxes],
    "labels": [onnx_num_boxes],
}, dims
ops = {node.op_type for node in onnx_program.model_proto.graph.node}
assert {"NonZero", "Min", "TopK", "GatherND"} <= ops, ops

# %%
# The number of boxes keeps its expression as its name. ``NonZero``, ``Min``, ``TopK`` and
# ``GatherND`` compute it in the graph. ``ONNXProgram.rename_axes`` gives it a name for the users
# of the model (see :ref:`sphx_glr_auto_recipes_onnx_plot_onnx_data_dependent_nonzero_cond.py`);
# the key is the dimension taken from the graph, so the code does not depend on the symbol's name:

onnx_program.rename_axes({onnx_program.model.graph.outputs[0].shape[0]: "num_boxes"})
dims = onnx_dims(onnx_program.model_proto)
print(dims)
assert dims == {
    "image": [3, "height", "width"],
    "boxes": ["num_boxes", 4],
    "scores": ["num_boxes"],
    "labels": ["num_boxes"],
}, dims
check_onnx_against_eager(onnx_program, model, new_input_sets)

# %%
# onnxruntime returns 0, 1, 3, 10 and 1 boxes, the same as eager, including the empty outputs of
# the blank image.
#
# How long each runtime takes
# ---------------------------
#
# The fastest of 10 calls, for a small and a larger image, on one CPU
# thread (``torch.set_num_threads(1)``, and ``intra_op_num_threads = 1`` for onnxruntime),
# so that the numbers compare the runtimes rather than their thread pools. They come from the
# machine that built this page and change from run to run; they are printed, not checked.

runtimes = {
    "eager": model,
    "exported program": ep.module(),
    "onnxruntime": onnxruntime_call(single_thread_session(onnx_program)),
}
corners = [(12 + 16 * row, 4 + 16 * column) for row in range(15) for column in range(23)]
print_timings(runtimes, {
    "64 x 96, 12 objects": (images["twelve objects"],),
    "256 x 384, 345 objects": (image_with_objects(256, 384, corners),),
})

# %%
# In short: a data-dependent number of boxes needs nothing in the spec. Export gives the count
# of ``nonzero`` a symbol of its own, with a range, and writes the number of boxes from it
# (``min`` of two sizes included); the exported program and the ONNX model return any number of
# boxes, none included. Mark the image sizes dynamic, and rename the output dimension for the
# users of the ONNX model.
