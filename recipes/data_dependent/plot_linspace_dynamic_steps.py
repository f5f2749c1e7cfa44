"""
.. _recipe-linspace-dynamic-steps:

"Could not extract specialized integer from data-dependent expression u0" in ``torch.linspace``: position embeddings resampled to a dynamic grid
================================================================================================================================================

A model built like a vision encoder that accepts images of any size learns its position
embeddings on a fixed grid of 4 x 4 cells and resamples them, bilinearly, to the grid of patches
of each image: ``torch.linspace(0, 3, h)`` gives the ``h`` row coordinates on the table's grid,
``torch.linspace(0, 3, w)`` the column ones. The grid size ``(h, w)`` comes with the input as a
small tensor. Export stops on the ``linspace`` line with "Could not extract specialized integer
from data-dependent expression u0", and the checks the message suggests change nothing. With
``h`` and ``w`` read from a dynamic dimension instead, the same line gives "You marked h as dynamic
but your code specialized it to be a constant".

This recipe raises both, reads them, shows why no ``torch._check`` helps (the pinned PyTorch
declares the number of steps of ``linspace`` a plain ``int``), and replaces ``linspace`` by the
same values computed from ``torch.arange``, which keeps the number of steps symbolic. Both fixed
programs are checked against the original model in eager mode on new grids, 1 x 1 included.

Public reports of this kind: llvm/torch-mlir#4436 (``torch.linspace`` with a number of steps read
from a tensor of grid sizes).

The model and its error
-----------------------
"""

import contextlib
import io
import math
import re

import torch
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

Dim = torch.export.Dim
GRID, CHANNELS = 4, 8


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class ResampledPositions(torch.nn.Module):
    """Adds position embeddings learned on a GRID x GRID grid, resampled to the patches' grid."""

    def __init__(self):
        super().__init__()
        self.table = torch.nn.Parameter(torch.randn(GRID, GRID, CHANNELS))

    def coordinates(self, steps):
        """``steps`` evenly spaced coordinates from the first to the last cell of the table."""
        return torch.linspace(0, GRID - 1, steps)

    def resample(self, h, w):
        """The table bilinearly interpolated to an ``h`` x ``w`` grid: (h, w, CHANNELS)."""
        rows, cols = self.coordinates(h), self.coordinates(w)
        top, left = rows.floor().long(), cols.floor().long()
        bottom, right = (top + 1).clamp(max=GRID - 1), (left + 1).clamp(max=GRID - 1)
        dy, dx = (rows - top)[:, None, None], (cols - left)[None, :, None]
        upper = self.table[top][:, left] * (1 - dx) + self.table[top][:, right] * dx
        lower = self.table[bottom][:, left] * (1 - dx) + self.table[bottom][:, right] * dx
        return upper * (1 - dy) + lower * dy

    def forward(self, patches, grid):
        """``patches``: the (h * w, CHANNELS) patches of one image, row by row; ``grid``: [h, w]."""
        h, w = grid.tolist()
        return patches + self.resample(h, w).reshape(h * w, CHANNELS)


torch.manual_seed(0)
model = ResampledPositions()
patches, grid = torch.randn(6 * 5, CHANNELS), torch.tensor([6, 5])
spec = ({0: Dim("patches")}, None)
try:
    # Export prints the graph it traced on stderr before it raises: kept off the page.
    with contextlib.redirect_stderr(io.StringIO()):
        torch.export.export(model, (patches, grid), dynamic_shapes=spec)
    raise AssertionError("linspace with a data-dependent number of steps now exports: update this recipe")
except GuardOnDataDependentSymNode as e:
    message = str(e)
lines = message.splitlines()
call = lines.index("The following call raised this error:")
fixes = lines.index("To fix the error, insert one of the following checks before this call:")
print(lines[0])
# The path of this file depends on where it runs: keep its name only.
print(lines[call], '  File ".../' + lines[call + 1].rsplit("/", 1)[-1], lines[call + 2], sep="\n")
print("\n".join(lines[fixes : fixes + 3]))
assert re.fullmatch(r"Could not extract specialized integer from data-dependent expression u\d+ "
                    r"\(unhinted: u\d+\)\.  \(Size-like symbols: none\)", lines[0]), lines[0]
assert lines[call + 1].endswith("in coordinates"), lines[call + 1]
assert lines[call + 2].strip() == "return torch.linspace(0, GRID - 1, steps)", lines[call + 2]
assert lines[fixes + 1].strip() == "1. torch._check(steps)", lines[fixes + 1]

# %%
# How to read it
# --------------
#
# * ``u0`` is ``h``, the first value that ``grid.tolist()`` read: an *unbacked* symbol, a number
#   export has no example value for (see :ref:`recipe-boolean-mask-nonzero-unique`).
# * "extract specialized integer" means that something needed the number itself, a Python
#   ``int``, which an unbacked symbol cannot give (:ref:`recipe-extract-specialized-integer`).
# * "The following call raised this error" names the line: ``torch.linspace(0, GRID - 1,
#   steps)``. Nothing in it converts ``steps`` to an ``int``: the conversion happens when the op
#   receives its arguments.
#
# The pinned PyTorch declares the number of steps of ``linspace`` as an ``int``, where
# ``new_zeros``, like the ops that take a size, declares a ``SymInt`` (a symbolic integer is
# accepted as it is). pytorch/pytorch#184939, a pull request opened on 2026-05-22 and closed as
# of 2026-12-04, proposed a ``SymInt`` for ``steps``; the assertion below will tell when a release
# has it.

print(torch.ops.aten.linspace.default._schema)
print(torch.ops.aten.new_zeros.default._schema)
assert "int steps" in str(torch.ops.aten.linspace.default._schema)
assert "SymInt[] size" in str(torch.ops.aten.new_zeros.default._schema)

# %%
# An ``int`` argument needs a number, and a ``torch._check`` cannot give one: checks state facts
# about ``u0`` (a range, an equality with another size), not its value. The two suggested checks
# are only ``u0`` and its negation, written with the model's name for it, as the message says.
# The same model with the checks that a grid size does satisfy fails with the same message:


class CheckedGrid(ResampledPositions):
    def forward(self, patches, grid):
        h, w = grid.tolist()
        torch._check(h >= 1)
        torch._check(w >= 1)
        torch._check(patches.shape[0] == h * w)
        return patches + self.resample(h, w).reshape(h * w, CHANNELS)


try:
    with contextlib.redirect_stderr(io.StringIO()):  # the traced graph, as above
        torch.export.export(CheckedGrid(), (patches, grid), dynamic_shapes=spec)
    raise AssertionError("the checks now let linspace export: update this recipe")
except GuardOnDataDependentSymNode as e:
    print(str(e).splitlines()[0])
    assert str(e).startswith("Could not extract specialized integer from data-dependent expression u"), e
assert re.search(r"derived by replacing `u\d+` with steps in u\d+ and its negation", message), message

# %%
# The same line with a dynamic dimension
# --------------------------------------
#
# When the grid size is a dimension of the input, ``h`` is a *backed* symbol: export has its
# example value (6 here), so it can produce the ``int`` ``linspace`` asks for, by specializing:
# the example's value replaces ``h`` in the whole program. The dimension was declared dynamic, so
# export refuses the result:


class PatchGrid(ResampledPositions):
    def forward(self, patches):
        """``patches``: (batch, h, w, CHANNELS), the patches of a batch of images of one size."""
        _, h, w, _ = patches.shape
        return patches + self.resample(h, w)


shape_model = PatchGrid()
shape_model.load_state_dict(model.state_dict())
images = torch.randn(2, 6, 5, CHANNELS)
shape_spec = ({0: Dim("batch"), 1: Dim("h"), 2: Dim("w")},)
try:
    torch.export.export(shape_model, (images,), dynamic_shapes=shape_spec)
    raise AssertionError("linspace with a dynamic number of steps now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    print("\n".join(str(e).splitlines()[:3]))
    assert "You marked h as dynamic but your code specialized it to be a constant (6)" in str(e), e
    assert "You marked w as dynamic but your code specialized it to be a constant (5)" in str(e), e

# %%
# The class is ``torch._dynamo.exc.UserError`` (a private module: it is the class export raises).
# Both dimensions were turned into the example's 6 and 5 by the two ``linspace`` calls, the same
# cause as above. The advice at the end of each line, about ``mark_dynamic`` and ``Dim.DYNAMIC``,
# is for other ways of declaring a dimension: with a named ``Dim``, the line of the model has to
# change. Finding such a line when the message names none is the subject of
# :ref:`recipe-find-specializing-line-logs`.
#
# The fix: the same coordinates from ``torch.arange``
# ---------------------------------------------------
#
# ``torch.arange`` takes its end as a number that may be symbolic, and ``sym_max`` keeps the
# spacing symbolic too (it avoids a division by zero for one step, where ``linspace`` returns the
# start alone). The values are those of ``linspace`` up to rounding:


def linspace_from_arange(start, end, steps):
    """``torch.linspace(start, end, steps)`` for a number of steps that may be symbolic."""
    spacing = (end - start) / torch.sym_max(steps - 1, 1)
    return start + torch.arange(steps, dtype=torch.float32) * spacing


assert "Scalar end" in str(torch.ops.aten.arange.default._schema)
for steps in (1, 2, 5, 17):
    torch.testing.assert_close(linspace_from_arange(0, GRID - 1, steps), torch.linspace(0, GRID - 1, steps))
print("linspace_from_arange gives linspace's values for 1, 2, 5 and 17 steps")

# %%
# Only ``coordinates`` changes. Both models export, with the grid read from the tensor and with
# the grid as dynamic dimensions:


class ArangeCoordinates:
    def coordinates(self, steps):
        return linspace_from_arange(0, GRID - 1, steps)


class FixedGrid(ArangeCoordinates, ResampledPositions):
    pass


class FixedPatchGrid(ArangeCoordinates, PatchGrid):
    pass


fixed = FixedGrid()
fixed.load_state_dict(model.state_dict())
fixed_ep = torch.export.export(fixed, (patches, grid), dynamic_shapes=spec)
print(fixed_ep.range_constraints)
assert any(str(symbol).startswith("u") for symbol in fixed_ep.range_constraints)
assert not fixed_ep.graph.find_nodes(op="call_function", target=torch.ops.aten.linspace.default)
grids = [(1, 1), (2, 7), (9, 3), (4, 4)]
check_against_eager(fixed_ep, model, [(torch.randn(h * w, CHANNELS), torch.tensor([h, w])) for h, w in grids])

# %%
# The grid sizes are unbacked symbols of the program (the ``u`` entries), no ``linspace`` is
# left in the graph, and the program gives what the original model gives in eager mode on a
# 1 x 1, 2 x 7, 9 x 3 and 4 x 4 grid (the example was 6 x 5).
#
# The same change keeps the dimensions of the second model dynamic:

fixed_shape = FixedPatchGrid()
fixed_shape.load_state_dict(model.state_dict())
fixed_shape_ep = torch.export.export(fixed_shape, (images,), dynamic_shapes=shape_spec)
print(fixed_shape_ep.range_constraints)
placeholder = fixed_shape_ep.graph.find_nodes(op="placeholder")[-1]
assert all(isinstance(size, torch.SymInt) for size in placeholder.meta["val"].shape[:3])
check_against_eager(fixed_shape_ep, shape_model, [(torch.randn(b, h, w, CHANNELS),) for b, (h, w) in zip((1, 3, 2, 1), grids)])

# %%
# Batch, ``h`` and ``w`` are symbols of the program, and it matches the original model on new
# batch sizes and grids.
#
# Other ops that build a tensor of a given length may declare it ``int`` too. In the pinned
# release ``torch.logspace`` declares its ``steps`` so, and the window functions their
# ``window_length``; a Hann window as long as a dynamic dimension specializes it the same way:


class WindowedFrames(torch.nn.Module):
    def forward(self, frames):
        return frames * torch.hann_window(frames.shape[-1])


print(torch.ops.aten.hann_window.default._schema)
assert "int steps" in str(torch.ops.aten.logspace.default._schema)
for window in ("hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"):
    assert "int window_length" in str(getattr(torch.ops.aten, window).default._schema), window
try:
    torch.export.export(WindowedFrames(), (torch.randn(3, 16),), dynamic_shapes=({1: Dim("length")},))
    raise AssertionError("hann_window with a dynamic length now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).splitlines()[1].strip())
    assert "You marked length as dynamic but your code specialized it to be a constant (16)" in str(e), e

# %%
# The periodic Hann window that ``torch.hann_window`` returns by default is a cosine of
# ``torch.arange``; written so, its length stays the dynamic dimension:


class WindowedFramesFixed(torch.nn.Module):
    def forward(self, frames):
        n = frames.shape[-1]
        window = 0.5 - 0.5 * torch.cos(2 * math.pi * torch.arange(n, dtype=torch.float32) / n)
        return frames * window


window_ep = torch.export.export(WindowedFramesFixed(), (torch.randn(3, 16),), dynamic_shapes=({1: Dim("length")},))
print(window_ep.range_constraints)
check_against_eager(window_ep, WindowedFrames(), [(torch.randn(3, n),) for n in (2, 9, 400)])

# %%
# The program matches ``torch.hann_window`` in eager mode on 2, 9 and 400 samples (the example
# had 16). Before exporting a model with dynamic shapes, look for such calls whose length comes
# from a size (``linspace``, ``logspace``, window functions) and compute them from
# ``torch.arange``.
