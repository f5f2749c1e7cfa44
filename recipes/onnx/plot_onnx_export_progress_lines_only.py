"""
.. _recipe-onnx-export-progress-lines-only:

"[torch.onnx] Obtain model graph for ... ❌": where the ONNX exporter's real error is
=====================================================================================

``torch.onnx.export(..., dynamo=True, dynamic_shapes=...)`` prints a line per step while it
works. When the export fails at its first step, the lines read::

    [torch.onnx] Obtain model graph for `EmbeddingHead([...]` with `torch.export.export(..., strict=False)`...
    [torch.onnx] Obtain model graph for `EmbeddingHead([...]` with `torch.export.export(..., strict=False)`... ❌
    [torch.onnx] Obtain model graph for `EmbeddingHead([...]` with `torch.export.export(..., strict=True)`...
    [torch.onnx] Obtain model graph for `EmbeddingHead([...]` with `torch.export.export(..., strict=True)`... ❌

and say nothing about why. They are not the error: they are the exporter's progress, one pair
per attempt. This recipe reads them, finds the error in the three places that hold it (the
exception's text after the lines, its chained cause, the report of ``report=True``), runs
``torch.export.export`` alone to get the same error with its own advice, and ends with the fixed
model, checked with onnxruntime against eager on new shapes.

Public reports of this kind: pytorch/pytorch#149275 (only the progress lines pasted, a model with
dynamic shapes for which every capture strategy failed).

The model and the helpers
-------------------------
"""

import contextlib
import io
import pathlib
import re
import tempfile
import warnings

import numpy as np
import onnxruntime
import torch

Dim = torch.export.Dim


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


class EmbeddingHead(torch.nn.Module):
    """Adds a learned position to each token, projects, and averages the tokens the attention
    mask keeps. Its table of positions has one row per token of the example: 6."""

    def __init__(self, positions=6):
        super().__init__()
        self.positions = torch.nn.Parameter(torch.randn(positions, 4) / 10)
        self.proj = torch.nn.Linear(4, 4)

    def forward(self, hidden, attention_mask):
        hidden = self.proj(hidden + self.positions)
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1)


torch.manual_seed(0)
model = EmbeddingHead().eval()
hidden = torch.randn(2, 6, 4)
attention_mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
spec = {"hidden": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}

# %%
# The failure, as a reader sees it
# --------------------------------
#
# ``report=True`` asks the exporter for a report of the export, written in ``artifacts_dir``
# (a temporary folder here: the file name holds the time of the run). The exporter prints its
# progress lines on stdout; the recipe collects them to print them below:

progress = io.StringIO()
with tempfile.TemporaryDirectory() as folder:
    try:
        with contextlib.redirect_stdout(progress), contextlib.redirect_stderr(io.StringIO()):
            torch.onnx.export(
                model, (hidden, attention_mask), dynamo=True, dynamic_shapes=spec, report=True, artifacts_dir=folder
            )
        raise AssertionError("the model now exports with a dynamic sequence: update this recipe")
    except torch.onnx.OnnxExporterError as e:
        error = e
    reports = [path.name for path in pathlib.Path(folder).iterdir()]
    report = (pathlib.Path(folder) / reports[0]).read_text(encoding="utf-8")

lines = progress.getvalue().splitlines()
print("\n".join(lines))
assert len(lines) == 4 and all(line.startswith("[torch.onnx] Obtain model graph for `EmbeddingHead([...]`") for line in lines)
assert [line.endswith("❌") for line in lines] == [False, True, False, True], lines
assert "strict=False" in lines[1] and "strict=True" in lines[3], lines
assert not any("Torch Script" in line for line in lines), lines

# %%
# How to read the lines
# ---------------------
#
# * The exporter counts three steps: get a graph from the model (*capture*), decompose it, and
#   translate it into ONNX (an export that goes through also optimizes the ONNX graph, with a line
#   of its own: see the end of this recipe). Each step prints a line when it starts and the same
#   line with ✅ or ❌ when it ends.
# * Capture has several *strategies*, tried in turn until one succeeds: ``torch.export.export``
#   non-strict, then strict (``strict=True``, TorchDynamo). Each ❌ is one strategy that raised.
#   Here both failed, so no later step ran: the lines stop, and the exporter raises.
# * ``EmbeddingHead([...]`` is the start of the model's ``repr`` (cut where it spans lines).
# * The paste of pytorch/pytorch#149275 has a third strategy, ``Torch Script``, from an older
#   release; the pinned release has no such line.
#
# So the lines tell *which* step failed, never *why*. The why is in the exception raised after
# them.
#
# 1. The exception's text, after the lines
# ----------------------------------------

message = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # the message is colored for terminals
summary = message.split("## Exception summary")[1].strip().split("\n\n")[0]
print(type(error).__name__, "(a torch.onnx.OnnxExporterError)")
print(message.splitlines()[0])
print(summary)
assert message.startswith("Failed to export the model with torch.export. This is step 1/3"), message
assert summary.startswith("<class 'ValueError'>: Found the following conflicts between user-specified ranges"), summary
assert "tracing inferred a static shape of 6 for dimension inputs['hidden'].shape[1]" in summary, summary
assert "Received user-specified dim hint Dim.DYNAMIC(min=None, max=None)" in summary, summary
assert "Error report has been saved to '" in message

# %%
# ``torch.onnx.OnnxExporterError`` is public; its class here, ``TorchExportError``, is private
# and means step 1 (capture). Its first line names the step, and the part under
# "## Exception summary" is the error of ``torch.export``: the dimension named ``seq`` was
# declared dynamic (a string in ``dynamic_shapes`` becomes ``Dim.DYNAMIC``), but tracing found
# that the model only works with 6 tokens. (The message also gives the path of the report; the
# recipe does not print it.)
#
# 2. The chained cause
# --------------------
#
# The exporter raises its error ``from`` the one of ``torch.export``: a traceback printed in full
# shows it first, under "The above exception was the direct cause of the following exception".
# In code, it is ``__cause__``:

cause = error.__cause__
print(type(cause).__name__, str(cause).splitlines()[1])
assert isinstance(cause, ValueError), type(cause)
assert "but tracing inferred a static shape of 6" in str(cause), cause

# %%
# 3. The report of ``report=True``
# --------------------------------
#
# The report is a Markdown file: a table of the steps, then the error of each strategy with its
# whole traceback (the paths in it are this machine's; the recipe prints the table and the
# headings only).

table = report.split("```")[1].strip().splitlines()
strategies = re.findall(r"Errors from strategy '(\w+)'", report)
print("\n".join(table))
print(strategies)
assert reports[0].endswith("_pt_export.md"), reports
assert table[:3] == [
    "❌ Obtain model graph with `torch.export.export(..., strict=False)`",
    "❌ Obtain model graph with `torch.export.export(..., strict=True)`",
    "⚪ Obtain model graph with `torch.export.draft_export`",
], table
assert strategies == ["TorchExportNonStrictStrategy", "TorchExportStrictStrategy"], strategies
assert report.count("tracing inferred a static shape of 6 for dimension inputs['hidden'].shape[1]") == 2
assert message.count("tracing inferred a static shape of 6 for dimension inputs['hidden'].shape[1]") == 1

# %%
# The table has the steps that follow capture, all ⚪ (not run), and a ``draft_export`` strategy,
# not run either. The two strategies failed with the same error, which the report gives twice and
# the exception once: when the strategies fail differently, the report is the place that shows
# each error.
#
# 4. ``torch.export.export`` alone
# --------------------------------
#
# Step 1 *is* ``torch.export.export``. Calling it directly, with ``Dim`` objects in place of the
# strings, gives its own message, without the exporter around it, and its suggested fix:

dims = {"hidden": {0: Dim("batch"), 1: Dim("seq")}, "attention_mask": {0: Dim("batch"), 1: Dim("seq")}}
try:
    torch.export.export(model, (hidden, attention_mask), dynamic_shapes=dims)
    raise AssertionError("torch.export now accepts a dynamic sequence for this model: update this recipe")
except torch._dynamo.exc.UserError as e:
    export_lines = str(e).splitlines()
    print("\n".join(export_lines[:2] + export_lines[3:5]))
    assert export_lines[0].startswith("Constraints violated (seq)!"), export_lines[0]
    assert "You marked seq as dynamic but your code specialized it to be a constant (6)" in export_lines[1], e
    assert "Suggested fixes:" in export_lines and "  seq = 6" in export_lines, export_lines

# %%
# "seq = 6" is what the model allows, not necessarily what you want: here the sequence must be
# dynamic, and the cause is ``hidden + self.positions`` (a table of 6 rows added to ``seq`` rows).
# To find such a line in a large model, see :ref:`recipe-find-specializing-line-logs` and
# :ref:`recipe-specialized-to-constant`; for an error about data-dependent values in step 1,
# :ref:`recipe-guard-with-no-line-of-your-code`.
#
# The fix
# -------
#
# Give the table a row per position up to the longest input (16), take as many rows as the input
# has tokens, and say that maximum in the spec. The first 6 rows are the old table, so the results
# at 6 tokens do not change:


class FixedEmbeddingHead(EmbeddingHead):
    def forward(self, hidden, attention_mask):
        hidden = self.proj(hidden + self.positions[: hidden.shape[1]])
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1)


fixed = FixedEmbeddingHead(positions=16).eval()
with torch.no_grad():
    fixed.proj.load_state_dict(model.proj.state_dict())
    fixed.positions[:6] = model.positions
torch.testing.assert_close(fixed(hidden, attention_mask), model(hidden, attention_mask))

batch, seq = Dim("batch"), Dim("seq", max=16)
fixed_spec = {"hidden": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
with contextlib.redirect_stdout(io.StringIO()) as fixed_progress, warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    onnx_program = torch.onnx.export(
        fixed, (hidden, attention_mask), dynamo=True, dynamic_shapes=fixed_spec, output_names=["embedding"]
    )
print("\n".join(line for line in fixed_progress.getvalue().splitlines() if line.endswith(("✅", "❌"))))
assert "strict=False)`... ✅" in fixed_progress.getvalue(), fixed_progress.getvalue()
assert "[torch.onnx] Optimize the ONNX graph... ✅" in fixed_progress.getvalue(), fixed_progress.getvalue()
shared = {str(w.message).split(" will not be used")[0] for w in caught if "axis name" in str(w.message)}
assert shared == {"# The axis name: batch", "# The axis name: seq"}, shared


def batch_of(size, length):
    mask = (torch.arange(length) < torch.randint(1, length + 1, (size, 1))).to(torch.int64)
    return torch.randn(size, length, 4), mask


check_onnx_against_eager(onnx_program, fixed, [batch_of(3, 9), batch_of(1, 16), batch_of(5, 2)])

# %%
# This time the first strategy succeeds and every step has its ✅. (The exporter also warns once
# for each dimension name two inputs share: harmless, see :ref:`recipe-onnx-dimension-names`, and
# only checked here.) onnxruntime matches eager on 3 sequences of 9 tokens, 1 of 16 and 5 of 2.
#
# Summary
# -------
#
# 1. ``Obtain model graph ... ❌`` lines are the exporter's capture strategies failing one after
#    the other: step 1 of 3, ``torch.export``, failed. They are never the error.
# 2. The error follows them: the exception's text under "## Exception summary", its
#    ``__cause__``, or the Markdown file of ``report=True`` (one section per strategy).
# 3. For more, call ``torch.export.export`` (or ``draft_export``) with the same arguments and
#    fix what it names; then export to ONNX again.
