"""
.. _recipe-run-decompositions-dynamic-dims:

Dynamic shapes disappear after run_decompositions: checking a decomposed program
================================================================================

``ExportedProgram.run_decompositions()`` rewrites the graph into smaller operators (the Core ATen
set by default); backends and exporters decompose programs before converting them. PyTorch issue
`#148687 <https://github.com/pytorch/pytorch/issues/148687>`_ (opened in March 2025) reports an
ONNX model of a spectrogram, built on ``torch.stft``, that only accepts the example's batch size.
This recipe checks what the pinned PyTorch does with such a spectrogram through decomposition
(it keeps its dynamic batch and length), writes the check that tells, for any program, whether
decomposition kept every dynamic dimension, and shows the case that still loses them: a
decomposition of your own that turns a size into a Python ``int``. It makes the program static without any error, and leaves the original program
unable to decompose dynamically again.

A spectrogram, before and after decomposition
---------------------------------------------
"""

import copy
import io

import torch
import torch.nn.functional as F

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class Spectrogram(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("window", torch.hann_window(64))

    def forward(self, audio):
        spec = torch.stft(audio, n_fft=64, hop_length=32, window=self.window, return_complex=True)
        return 10 * torch.log10((spec.abs() ** 2).clamp(min=1e-10))


spectrogram = Spectrogram()
audio = torch.randn(2, 640)
spec_ep = torch.export.export(
    spectrogram, (audio,), dynamic_shapes=({0: Dim("batch"), 1: Dim("samples", min=64)},)
)
decomposed_ep = spec_ep.run_decompositions()


def operators(ep):
    return {node.target for node in ep.graph.nodes if node.op == "call_function"}


print(sorted(str(op) for op in operators(decomposed_ep) - operators(spec_ep)))
assert torch.ops.aten.stft.default in operators(spec_ep)
assert torch.ops.aten.stft.default not in operators(decomposed_ep)
assert {torch.ops.aten.unfold.default, torch.ops.aten._fft_r2c.default} <= operators(decomposed_ep)

# %%
# ``stft`` is gone: the decomposed graph frames the signal with ``unfold`` and calls
# ``_fft_r2c``. What matters here is the shapes.
#
# The check: which dimensions are dynamic, before and after
# ---------------------------------------------------------
#
# A dimension is dynamic when its size in the graph is a symbol or an expression (``s27``,
# ``((s96//32)) + 1``), static when it is a number. The function below lists the shapes of the
# inputs and outputs of a program; comparing the lists before and after decomposition, with the
# range constraints, is the check.


def io_shapes(ep):
    """{'audio': ['s5', 's96'], 'output 0': ['s5', '33', '((s96//32)) + 1']}: sizes as text."""
    user_inputs = set(ep.graph_signature.user_inputs)
    shapes = {
        node.name: [str(d) for d in node.meta["val"].shape]
        for node in ep.graph.nodes
        if node.op == "placeholder" and node.name in user_inputs
    }
    for i, node in enumerate(ep.graph.find_nodes(op="output")[0].args[0]):
        shapes[f"output {i}"] = [str(d) for d in node.meta["val"].shape]
    return shapes


def lost_dimensions(old, after):
    """The (name, index) of every dimension dynamic in ``old`` (an ``io_shapes`` result, taken
    before decomposing) and static in the program ``after``."""
    new = io_shapes(after)
    return [
        (name, i)
        for name, sizes in old.items()
        for i, size in enumerate(sizes)
        if not size.isdigit() and new[name][i].isdigit()
    ]


spec_shapes = io_shapes(spec_ep)
print(spec_shapes)
print(io_shapes(decomposed_ep))
print(decomposed_ep.range_constraints)
assert io_shapes(decomposed_ep) == spec_shapes
assert lost_dimensions(spec_shapes, decomposed_ep) == []
assert [str(r) for r in decomposed_ep.range_constraints.values()] == ["VR[0, int_oo]", "VR[64, int_oo]"]
check_against_eager(decomposed_ep, spectrogram, [(torch.randn(3, 1000),), (torch.randn(1, 96),)])

# %%
# Same shapes, same ranges: the batch and the number of samples stay dynamic, and the output has
# ``samples // 32 + 1`` frames. The decomposed program matches eager on a batch of 3 signals of
# 1000 samples and a single signal of 96.
#
# What still loses dimensions: a decomposition that reads a size
# --------------------------------------------------------------
#
# ``run_decompositions`` accepts your own table: a backend without ``pixel_shuffle`` can map it to
# a reshape and a permute. ``run_decompositions`` *retraces* the program with that function, on
# symbolic sizes, so the function is under the same rules as ``forward``: turning a size into a
# Python ``int`` fixes it to the example's value.


class Upsample(torch.nn.Module):
    def forward(self, x):
        return F.pixel_shuffle(x, 2)


def pixel_shuffle_with_ints(x, r):
    b, c, h, w = (int(size) for size in x.shape)
    y = x.reshape(b, c // (r * r), r, r, h, w).permute(0, 1, 4, 2, 5, 3)
    return y.reshape(b, c // (r * r), h * r, w * r)


upsample = Upsample()
image = torch.randn(2, 8, 3, 5)
upsample_ep = torch.export.export(
    upsample, (image,), dynamic_shapes=({0: Dim("batch"), 2: Dim("height"), 3: Dim("width")},)
)
upsample_shapes = io_shapes(upsample_ep)
print(upsample_shapes)
# Two backups taken before decomposing, used further down.
backup_copy = copy.deepcopy(upsample_ep)
backup_file = io.BytesIO()
torch.export.save(upsample_ep, backup_file)

table = torch.export.default_decompositions()
table[torch.ops.aten.pixel_shuffle.default] = pixel_shuffle_with_ints
static_ep = upsample_ep.run_decompositions(table)
print(io_shapes(static_ep))
print(static_ep.range_constraints)
lost = lost_dimensions(upsample_shapes, static_ep)
print(lost)
if not lost:
    raise AssertionError("int() in a decomposition no longer makes the program static: update this recipe")
assert lost == [("x", 0), ("x", 2), ("x", 3), ("output 0", 0), ("output 0", 2), ("output 0", 3)], lost
assert static_ep.range_constraints == {}, static_ep.range_constraints

# %%
# Every dynamic dimension is gone and the range constraints are empty, and nothing said so: the
# ``Dim`` objects were named, yet ``run_decompositions`` raised no "Constraints violated" (as
# ``torch.export.export`` would have). The first call with another shape fails on the guards of
# the new program:

try:
    static_ep.module()(torch.randn(3, 8, 4, 6))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed"), e
else:
    raise AssertionError("the decomposed program now accepts new shapes: update this recipe")

# %%
# The program you started from is not the same afterwards either. It still runs on new shapes,
# and its range constraints are unchanged, but its graph now shows the example's sizes, and
# decomposing it again, with the default table this time, gives a static program. So does the
# ``copy.deepcopy`` taken *before* the bad decomposition: the copy shares the symbolic state that
# the ``int()`` fixed. This is why ``io_shapes`` of the original is taken before decomposing.

check_against_eager(upsample_ep, upsample, [(torch.randn(3, 8, 4, 6),)])
print(upsample_ep.range_constraints)
print(io_shapes(upsample_ep))
assert len(upsample_ep.range_constraints) == 3, upsample_ep.range_constraints
if io_shapes(upsample_ep) == upsample_shapes:
    raise AssertionError("a bad decomposition no longer changes the original program: update this recipe")
lost_again = lost_dimensions(upsample_shapes, upsample_ep.run_decompositions())
lost_in_copy = lost_dimensions(upsample_shapes, backup_copy.run_decompositions())
print(lost_again)
assert lost_again == lost and lost_in_copy == lost, (lost_again, lost_in_copy)

# %%
# The file saved with ``torch.export.save`` before the bad decomposition loads as a program with
# fresh symbols (a new ``torch.export.export`` would too), and that one decomposes dynamically:

backup_file.seek(0)
loaded_ep = torch.export.load(backup_file)
assert io_shapes(loaded_ep) == upsample_shapes
assert lost_dimensions(upsample_shapes, loaded_ep.run_decompositions()) == []
print("the loaded program keeps its dynamic dimensions through run_decompositions()")

# %%
# The fix: symbolic sizes in the decomposition
# --------------------------------------------
#
# The same function without ``int()`` keeps the sizes symbolic. On the loaded program:


def pixel_shuffle_symbolic(x, r):
    b, c, h, w = x.shape
    y = x.reshape(b, c // (r * r), r, r, h, w).permute(0, 1, 4, 2, 5, 3)
    return y.reshape(b, c // (r * r), h * r, w * r)


table[torch.ops.aten.pixel_shuffle.default] = pixel_shuffle_symbolic
fixed_ep = loaded_ep.run_decompositions(table)
print(io_shapes(fixed_ep))
assert lost_dimensions(upsample_shapes, fixed_ep) == []
assert torch.ops.aten.pixel_shuffle.default not in operators(fixed_ep)
check_against_eager(fixed_ep, upsample, [(torch.randn(3, 8, 4, 6),), (torch.randn(1, 8, 7, 2),)])

# %%
# In short: after ``run_decompositions`` (yours, or one a backend runs), compare ``io_shapes``
# and ``range_constraints`` with the program you started from, and run the decomposed program on
# new shapes. If dimensions are lost, look for a decomposition that reads a size as a number,
# fix it, and decompose a freshly exported or loaded program, not the one that went through the
# bad table.
