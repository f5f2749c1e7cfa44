"""
.. _recipe-guard-with-no-line-of-your-code:

"Could not guard on data-dependent expression Eq(u0 - 1, 1)" and no line of your model
======================================================================================

The error names a question about a size computed from data, ``Eq(u0 - 1, 1)`` or
``Ne(u0, 589824)``, and nothing else you recognize: its "Caused by" points into PyTorch's own
files, the traceback you pasted shows only frames of ``torch/export``, or all you kept are log
lines such as ``failed during evaluate_expr(Ne(u0, 589824), ...)``. Before any fix, you need the
line of *your* model that led there.

This recipe exports a small model built like those reports (a count of kept frames, minus one,
reaches a normalization that asks whether it is 1), and finds the model's line in five places:
the rest of the message, the traceback's frames, the message of ``strict=True`` export, the
``TORCH_LOGS="+dynamic"`` records, and the report of ``torch.export.draft_export``. It then asks
eager mode what the question means and fixes it with ``torch._check`` on the count, checked
against eager. The last part does the same for a count compared with a fixed size.

Public reports of this kind: pytorch/executorch#8988 (``Eq(u77 - 1, 1)``, only export's own
frames pasted), pytorch/pytorch#147096 (a count compared with 589824, only log lines pasted).

The error
---------
"""

import contextlib
import io
import logging
import re
import traceback

import torch
import torch.fx.experimental._config as shape_config
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class KeptFramePairs(torch.nn.Module):
    """Keeps the frames a voice-activity mask selects, mixes each pair of consecutive kept frames
    (a convolution of width 2: one output fewer than its input), and normalizes them."""

    def __init__(self):
        super().__init__()
        self.pair = torch.nn.Conv1d(4, 4, kernel_size=2)
        self.norm = torch.nn.InstanceNorm1d(4)

    def forward(self, frames, voiced):
        kept = frames[voiced]
        pairs = self.pair(kept.T.unsqueeze(0))
        return self.norm(pairs)


torch.manual_seed(0)
model = KeptFramePairs().eval()
frames, voiced = torch.randn(8, 4), torch.tensor([1, 0, 1, 1, 0, 1, 1, 0], dtype=torch.bool)
export_stderr = io.StringIO()  # the graph export traced before the failure (see below)
try:
    with contextlib.redirect_stderr(export_stderr):
        torch.export.export(model, (frames, voiced))
    raise AssertionError("InstanceNorm1d on a data-dependent length now exports: update this recipe")
except GuardOnDataDependentSymNode as e:
    error = e
lines = str(error).splitlines()
caused_by = next(line for line in lines if line.startswith("Caused by:"))
call = lines.index("The following call raised this error:")
fixes = lines.index("To fix the error, insert one of the following checks before this call:")
print(lines[0])
print(re.sub(r":\d+ in", ":NNN in", caused_by))
print("...")
# The path of this file depends on where it runs: keep its name only.
print(lines[call], '  File ".../' + lines[call + 1].rsplit("/", 1)[-1], lines[call + 2], sep="\n")
print("\n".join(lines[fixes : fixes + 3]))
assert re.match(r"Could not guard on data-dependent expression Eq\(u\d+ - 1, 1\)", lines[0]), lines[0]
assert re.fullmatch(r"Caused by: \(nn/functional\.py:\d+ in _verify_spatial_size\)", caused_by), caused_by
assert lines[call + 2].strip() == "return self.norm(pairs)", lines[call + 2]
assert lines[fixes + 2].strip() == "2. torch._check(((-1) + kept.shape[0]) != 1)", lines[fixes + 2]
assert "For C++ stack trace, run with TORCHDYNAMO_EXTENDED_DEBUG_CPP=1" in lines

# %%
# The first two lines are all that a title or a short paste keeps. ``u0`` is the number of kept
# frames (a size read from the mask's values, see :ref:`recipe-boolean-mask-nonzero-unique`),
# ``u0 - 1`` the length after the convolution of width 2, and ``Eq(u0 - 1, 1)`` asks "is that
# length 1?". "Caused by" names the last line before the question, here a function of PyTorch
# (``torch/nn/functional.py``, ``_verify_spatial_size``), not of the model: the question was asked
# inside an op that the model called. (Before raising, export also prints on stderr the graph it
# traced up to the failure; the recipe keeps it off the page.)
#
# 1. The rest of the message
# --------------------------
#
# Non-strict export (the default) adds the model's line further down, after the links (the lines
# printed after "..." above), with the checks it suggests.
#
# ``self.norm(pairs)`` is the call, ``kept.shape[0]`` the model's own name for ``u0``. The message
# also offers ``TORCHDYNAMO_EXTENDED_DEBUG_CPP=1``, a C++ stack: it helps when "Caused by" is
# ``_ops.py ... in __call__``, a question asked in C++ (see :ref:`recipe-guard-inside-pytorch-op`);
# here the question is in Python and the line above is enough.
#
# 2. The traceback's frames
# -------------------------
#
# The Python traceback of the exception holds every frame, PyTorch's and yours. Keep the frames of
# the model's file (``Model.forward.__code__.co_filename`` names it):

model_file = KeptFramePairs.forward.__code__.co_filename
user_frames = [(f.name, f.line) for f in traceback.extract_tb(error.__traceback__) if f.filename == model_file]
print(*user_frames, sep="\n")
assert user_frames[-1] == ("forward", "return self.norm(pairs)"), user_frames

# %%
# The last frame of your file is the line that called the op. In a pasted traceback, look for the
# last ``File`` line that is not under ``site-packages/torch``: the excerpt of
# pytorch/executorch#8988 stops before it.
#
# 3. ``strict=True``: "from user code"
# ------------------------------------
#
# Strict export (``torch.export.export(..., strict=True)``; the traceback of
# pytorch/executorch#8988 goes through ``_strict_export_lower_to_aten_ir``, so that export was
# strict) traces the model's bytecode with TorchDynamo. The same question
# then comes as ``torch._dynamo.exc.UserError`` (private; it is a ``RuntimeError``), and the Python
# traceback has no frame of the model at all. The message says where instead, under
# "from user code:":

try:
    with contextlib.redirect_stderr(io.StringIO()):
        torch.export.export(model, (frames, voiced), strict=True)
    raise AssertionError("strict export now goes through this model: update this recipe")
except torch._dynamo.exc.UserError as e:
    strict_error = e
strict_lines = str(strict_error).splitlines()
start = strict_lines.index("from user code:")
end = next(i for i in range(start + 1, len(strict_lines)) if not strict_lines[i].strip())
user_code = strict_lines[start + 1 : end]
# The frames of the model's file other than its top level (which made the call to export).
strict_frames = [(f.name, f.line) for f in traceback.extract_tb(strict_error.__traceback__)
                 if f.filename == model_file and f.name != "<module>"]
strict_caused_by = next(line for line in strict_lines if line.startswith("Caused by:"))
print(f"{type(strict_error).__module__}.{type(strict_error).__name__}: {strict_lines[0]}")
print(re.sub(r":\d+ in", ":NNN in", strict_caused_by))
print(strict_lines[start])
# Paths shortened to a file name, and the lines of ~~~^^^ under each call left out.
print("\n".join(re.sub(r'^\s*File ".*/', '  File ".../', line) for line in user_code if set(line.strip()) - set("~^")))
assert re.match(r"Could not guard on data-dependent expression Eq\(u\d+ - 1, 1\)", strict_lines[0]), strict_lines[0]
assert "return self.norm(pairs)" in [line.strip() for line in user_code], user_code
assert isinstance(strict_error, RuntimeError)
assert strict_frames == [], strict_frames
assert re.fullmatch(
    r"Caused by: return F\.instance_norm\(  # nn/modules/instancenorm\.py:\d+ in _apply_instance_norm "
    r"\(nn/functional\.py:\d+ in _verify_spatial_size\)",
    strict_caused_by,
), strict_caused_by

# %%
# The frames read from the top: export's own wrapper, the model's ``forward``, then
# ``InstanceNorm1d``'s code. The traceback only had the ``export`` call of this script. Strict
# mode also writes the call of the op into "Caused by": ``return F.instance_norm(``, in
# ``nn/modules/instancenorm.py``, a file of PyTorch again.
#
# 4. Only log lines: ``TORCH_LOGS="+dynamic"``
# --------------------------------------------
#
# pytorch/pytorch#147096 pasted two log lines, ``W... symbolic_shapes.py] failed during
# evaluate_expr(Ne(u0, 589824), ...)`` and ``E... recording.py] failed while running
# evaluate_expr(...)``. The release of that report printed them while the exception went up the
# stack: they come *before* the traceback, and the exception after them holds everything above.
# The pinned release prints neither for this error:

assert "evaluate_expr" not in export_stderr.getvalue()
assert "def forward(" in export_stderr.getvalue()

# %%
# When the exception itself is lost (a wrapper caught it, a job kept only the warnings), run again
# with ``TORCH_LOGS="+dynamic"``, or, inside the script, collect the same records with the handler
# below (as in :ref:`recipe-find-specializing-line-logs`). With it, PyTorch logs where each
# data-dependent symbol was made, with the whole stack:


@contextlib.contextmanager
def shape_logs():
    """Collects the records of the ``dynamic`` logs at DEBUG level, and prints nothing."""
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)

    torch._logging.set_logs(dynamic=logging.DEBUG)
    logger = logging.getLogger("torch.fx.experimental.symbolic_shapes")
    saved_handlers = logger.handlers[:]
    logger.handlers = [Collect()]
    try:
        yield records
    finally:
        logger.handlers = saved_handlers
        torch._logging.set_logs()  # back to the defaults


with shape_logs() as records, contextlib.redirect_stderr(io.StringIO()):
    with contextlib.suppress(GuardOnDataDependentSymNode):
        torch.export.export(model, (frames, voiced))

messages = [record.getMessage() for record in records]
allocated = [m for m in messages if re.match(r"Data dependent variable 'u\d+' allocated at:", m)]
assert len(allocated) == 1, len(allocated)
stack = allocated[0].splitlines()
made_at = [stack[i + 1].strip() for i, line in enumerate(stack) if line.strip().startswith(f'File "{model_file}"')]
print(stack[0], "(the lines of this file in its stack)")
print(*made_at, sep="\n")
assert made_at[-1] == "kept = frames[voiced]", made_at
created = next(m for m in messages if m.startswith("create_unbacked_symint"))
print(re.sub(r":\d+ in", ":NNN in", created))
assert created.endswith(" in nonzero)"), created

# %%
# ``u0`` was made by ``kept = frames[voiced]`` (a boolean index runs ``nonzero``, named by
# ``create_unbacked_symint``): the count the question is about. The message also names
# ``TORCHDYNAMO_EXTENDED_DEBUG_CREATE_SYMBOL="u0"``: set beside ``TORCH_LOGS="+dynamic"``, it
# attaches the Python stack to that ``create_unbacked_symint`` record as well. PyTorch reads the
# variable when it is imported, into the private ``torch.fx.experimental._config``; inside a
# running script, patch that config instead:

symbol = re.match(r"create_unbacked_symint (u\d+) ", created).group(1)
with shape_logs() as records, shape_config.patch(extended_debug_create_symbol=symbol):
    with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(GuardOnDataDependentSymNode):
        torch.export.export(model, (frames, voiced))
stacks = [r.stack_info for r in records if r.getMessage().startswith("create_unbacked_symint") and r.stack_info]
assert len(stacks) == 1 and f'File "{model_file}"' in stacks[0], stacks

# %%
# Either way, this names where the count comes from, not the op that asked: for that, 1 to 3
# above, or:
#
# 5. ``torch.export.draft_export``
# --------------------------------
#
# The message's last sentence names it. ``draft_export`` does not stop at the question: it
# answers it with the example's values, goes on, and lists each question with the model's stack
# (see :ref:`recipe-draft-export-report`). The report is the private attribute ``ep._report``:

with contextlib.redirect_stderr(io.StringIO()):  # draft_export logs its banner there
    draft = torch.export.draft_export(model, (frames, voiced))
(failure,) = draft._report.failures
print(failure.failure_type, failure.data["expr"])
print("your line:", failure.data["user_stack"][-1]["loc"])
print("the op's line:", failure.data["stack"][-1]["loc"])
assert str(failure.failure_type) == "DATA_DEPENDENT_ERROR", failure.failure_type
assert re.fullmatch(r"Eq\(u\d+ - 1, 1\)", failure.data["expr"]), failure.data["expr"]
assert failure.data["user_stack"][-1]["loc"] == "return self.norm(pairs)", failure.data["user_stack"]
assert failure.data["stack"][-1]["loc"] == "if size_prods == 1:", failure.data["stack"]

# %%
# Is the question yours or PyTorch's?
# -----------------------------------
#
# Ask eager mode both answers. With 2 kept frames the length after the convolution is 1, and
# ``InstanceNorm1d`` refuses it; with 1, the convolution itself refuses:

two_kept = torch.tensor([1, 1, 0, 0, 0, 0, 0, 0], dtype=torch.bool)
try:
    model(frames, two_kept)
    raise AssertionError("InstanceNorm1d now accepts a length of 1: update this recipe")
except ValueError as e:
    print(e)
    assert str(e).startswith("Expected more than 1 spatial element when training"), e
try:
    model(frames, two_kept & torch.arange(8).eq(0))
    raise AssertionError("Conv1d of width 2 now accepts one frame: update this recipe")
except RuntimeError as e:
    print(e)
    assert "Kernel size can't be greater than actual input size" in str(e), e

# %%
# The question is a real condition of the model: it needs at least 3 kept frames. (When both
# answers work in eager mode, the question is PyTorch's business; see
# :ref:`recipe-guard-inside-pytorch-op`.)
#
# The fix: ``torch._check`` on the count, before the op
# -----------------------------------------------------
#
# State the condition on the count where the count is made, with the model's own names.
# ``kept.shape[0] >= 3`` implies the suggested ``kept.shape[0] - 1 != 1`` and also settles the
# convolution's own question. Export then knows the answer, and the check becomes a runtime
# assertion of the program:


class CheckedFramePairs(KeptFramePairs):
    def forward(self, frames, voiced):
        kept = frames[voiced]
        torch._check(kept.shape[0] >= 3)
        pairs = self.pair(kept.T.unsqueeze(0))
        return self.norm(pairs)


checked = CheckedFramePairs()
checked.load_state_dict(model.state_dict())
checked.eval()
time = Dim("time")
ep = torch.export.export(checked, (frames, voiced), dynamic_shapes=({0: time}, {0: time}))


def voiced_inputs(length, kept):
    mask = torch.zeros(length, dtype=torch.bool)
    mask[torch.randperm(length)[:kept]] = True
    return torch.randn(length, 4), mask


new_inputs = [voiced_inputs(length, kept) for length, kept in ((5, 3), (12, 7), (30, 30))]
check_against_eager(ep, model, new_inputs)
try:
    ep.module()(frames, two_kept)
    raise AssertionError("the checked program now accepts 2 kept frames: update this recipe")
except RuntimeError as e:
    print(e)
    assert re.match(r"Runtime assertion failed for expression u\d+ >= 3", str(e)), e

# %%
# The program (with a dynamic number of frames) matches eager on 5, 12 and 30 frames with 3, 7
# and 30 of them kept, and refuses 2 kept frames with an assertion where eager raised
# ``ValueError``.
#
# A count compared with a fixed size
# ----------------------------------
#
# The other form of the same report: ``Ne(u0, 589824)``, a count from the data against a number
# the model fixes. A model built like a vision-language model places image features at the
# positions of an image token, and first checks that the numbers match:

IMAGE_TOKEN = 9


class MergeImageFeatures(torch.nn.Module):
    def forward(self, token_ids, embeds, image_features):
        slots = (token_ids == IMAGE_TOKEN).unsqueeze(-1).expand_as(embeds)
        if embeds[slots].numel() != image_features.numel():
            raise ValueError("the image tokens and the image features do not match")
        return embeds.masked_scatter(slots, image_features)


def merge_inputs(length, image_at):
    token_ids = torch.randint(0, IMAGE_TOKEN, (1, length))
    token_ids[0, image_at : image_at + 4] = IMAGE_TOKEN
    return token_ids, torch.randn(1, length, 8), torch.randn(1, 4, 8)


merge = MergeImageFeatures()
merge_example = merge_inputs(10, 2)
try:
    with contextlib.redirect_stderr(io.StringIO()):  # the partial graph, as above
        torch.export.export(merge, merge_example)
    raise AssertionError("comparing a count with a fixed size now exports: update this recipe")
except GuardOnDataDependentSymNode as e:
    merge_error = e
merge_lines = str(merge_error).splitlines()
merge_caused_by = next(line for line in merge_lines if line.startswith("Caused by:"))
merge_file = MergeImageFeatures.forward.__code__.co_filename
(merge_frame,) = [f for f in traceback.extract_tb(merge_error.__traceback__) if f.name == "forward" and f.filename == merge_file]
print(merge_lines[0])
print("Caused by: (...", merge_caused_by.rsplit("/", 1)[-1])
print("the last frame of this file:", merge_frame.line)
assert merge_frame.line == "if embeds[slots].numel() != image_features.numel():", merge_frame.line
assert re.match(r"Could not guard on data-dependent expression Ne\(u\d+, 32\)", merge_lines[0]), merge_lines[0]
assert merge_caused_by.endswith(" in forward)"), merge_caused_by

# %%
# Here the question is the model's own ``if`` (4 image tokens times 8 features: 32), and "Caused
# by" names its file and line: with the whole message, this one is found at once. The fix is the
# same: say that the numbers match with ``torch._check``, in place of the ``if`` and its ``raise``
# (a check before the ``if`` would not do: each ``embeds[slots]`` makes a new count). Export then
# keeps the condition, and checks it when the program runs:


class CheckedMerge(MergeImageFeatures):
    def forward(self, token_ids, embeds, image_features):
        slots = (token_ids == IMAGE_TOKEN).unsqueeze(-1).expand_as(embeds)
        torch._check(
            embeds[slots].numel() == image_features.numel(),
            lambda: "the image tokens and the image features do not match",
        )
        return embeds.masked_scatter(slots, image_features)


seq = Dim("seq")
merge_ep = torch.export.export(CheckedMerge(), merge_example, dynamic_shapes=({1: seq}, {1: seq}, None))
count_ranges = sorted(str(r) for r in merge_ep.range_constraints.values())
print(count_ranges)
assert count_ranges == ["VR[0, int_oo]", "VR[32, 32]"], count_ranges
check_against_eager(merge_ep, merge, [merge_inputs(7, 0), merge_inputs(16, 11)])
try:
    merge_ep.module()(*merge_inputs(10, 8))  # only 2 image tokens fit: 16 values for 32
    raise AssertionError("the checked program now accepts too few image tokens: update this recipe")
except RuntimeError as e:
    print(e)
    assert re.match(r"Runtime assertion failed for expression u\d+ >= 32", str(e)), e

# %%
# The count has the range ``VR[32, 32]``: exactly the 32 values of the image features (the other
# range is the sequence's). The program matches eager at new sequence lengths and new image
# positions, and an input with too few image tokens fails the assertion where eager raised
# ``ValueError``.
#
# Summary
# -------
#
# 1. "Caused by" names the last line before the question; when it is a PyTorch file, your line
#    is under "The following call raised this error" (non-strict) or "from user code" (strict),
#    and in the traceback as the last frame of your file.
# 2. With only log lines, rerun: ``TORCH_LOGS="+dynamic"`` names where the count was made,
#    ``draft_export`` lists each question with your line.
# 3. Ask eager both answers, then write the answer that holds with ``torch._check`` on the count,
#    before it reaches the op.
