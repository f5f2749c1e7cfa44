"""Keep the build machine's paths out of what readers see.

PyTorch writes the file of the code it traced into graphs (``# File: /abs/path.py:19 in forward``)
and tracebacks name site-packages files. :func:`scrub_paths` rewrites such paths relative to the
repository (``recipes/constraints/plot_seed.py:19``) or to the package root (``torch/export/...``),
so that a page is the same whichever folder or machine built it. The Sphinx extension applies it to
the generated pages; the runner applies it to the output it reports.
"""

from __future__ import annotations

import os
import re
import site
import sysconfig
import tempfile
from functools import lru_cache
from pathlib import Path

from cookbook import REPO_ROOT


@lru_cache(maxsize=None)
def _replacements(repo_root: str) -> tuple[tuple[str, str], ...]:
    """(prefix, replacement) pairs, the longest prefix first so that nested folders win."""
    pairs: dict[str, str] = {}
    package_roots = {sysconfig.get_paths()[key] for key in ("purelib", "platlib", "stdlib", "platstdlib")}
    package_roots.update(site.getsitepackages())
    for root in package_roots:
        pairs[root.rstrip("/") + "/"] = ""
    pairs[repo_root.rstrip("/") + "/"] = ""
    pairs[tempfile.gettempdir().rstrip("/") + "/"] = "<tmp>/"
    pairs[os.path.expanduser("~").rstrip("/") + "/"] = "~/"
    # The same folders as the kernel sees them, in case one of them is a symbolic link.
    for prefix, replacement in list(pairs.items()):
        real = os.path.realpath(prefix).rstrip("/") + "/"
        pairs.setdefault(real, replacement)
    pairs.pop("/", None)
    return tuple(sorted(pairs.items(), key=lambda item: -len(item[0])))


# The folder of any Python installation's packages, this one's or another's (``make history``
# runs each torch release in a virtualenv of its own, in a temporary folder).
_ANY_SITE_PACKAGES = re.compile(r"(?<![\w.+-])/(?:[\w.+-]+/)+?(?:site|dist)-packages/")


def scrub_paths(text: str, repo_root: Path | str = REPO_ROOT) -> str:
    """Rewrite the absolute paths of this machine in ``text``, and any path to an installation's
    packages (``/.../site-packages/torch/export/...`` becomes ``torch/export/...``)."""
    text = _ANY_SITE_PACKAGES.sub("", text)
    for prefix, replacement in _replacements(str(repo_root)):
        text = text.replace(prefix, replacement)
    return text


# An absolute path as it appears in output: a slash after a space, quote, bracket or start of line
# (or after an HTML entity such as ``&quot;``), followed by at least two path components.
_ABSOLUTE_PATH = re.compile(r"""(?:(?<=[\s"'(\[=:;])|^)/(?:[\w.+-]+/)+[\w.+-]+""", re.MULTILINE)
# Paths that name no file of the build machine and may appear in output.
_HARMLESS = ("/dev/null",)


def find_machine_paths(text: str, repo_root: Path | str = REPO_ROOT) -> list[str]:
    """The absolute paths in ``text`` that point into this machine's folders (checkout, home,
    temp, Python installation). Used by the tests to prove the scrubbing worked."""
    roots = [prefix for prefix, _ in _replacements(str(repo_root))]
    found = []
    for match in _ABSOLUTE_PATH.finditer(text):
        path = match.group(0)
        if path in _HARMLESS:
            continue
        if any((path + "/").startswith(root) for root in roots):
            found.append(path)
    return found


# What changes from run to run in a recipe's output without PyTorch changing: the prefix of a log
# line (time, process id, source line), memory addresses, measured times, the temporary files of a
# run. Log lines come in three forms, each reduced to ``<log> <file>] ...``:
# - torch's Python logging: ``W1126 05:46:30.270000 27150 torch/x.py:12] ...`` (V for verbose);
# - torch's C++ warnings (``TORCH_WARN``, straight to the process's stderr), in brackets and
#   without a process id: ``[W1126 13:16:41.099779684 ReduceOps.cpp:1857] ...``;
# - onnxruntime's C++ log, in terminal colours:
#   ``\x1b[1;31m2026-11-26 13:18:58.015701433 [E:onnxruntime:, sequential_executor.cc:677 ExecuteKernel] ...\x1b[m``.
_LOG_PREFIX = re.compile(r"^\[?[A-Z]\d{4} \d\d:\d\d:\d\d\.\d+ +(?:\d+ +)?([\w./<>-]+?):\d+\]", re.MULTILINE)
_ONNXRUNTIME_LOG_PREFIX = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \[[A-Z]:onnxruntime:[^,\]]*, ([\w.]+):\d+[^\]]*\]", re.MULTILINE
)
_TERMINAL_COLOUR = re.compile(r"\x1b\[[\d;]*m")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
# A time measured by a recipe and printed with its unit (the models' tables, "1.30 ms"), never
# checked; with the spaces that align it, whose number depends on the time's digits.
_MEASURED_TIME = re.compile(r" *\b\d+\.\d+ (ms|microseconds)\b")
# The log file that draft_export names in its advice: a path in a temporary folder, or (torch 2.13)
# a number that changes from run to run ("`tlparse 9 --export`").
_TLPARSE_LOG = re.compile(r"(`tlparse )(?!<tmp>/)[^\s`]+( --export`)")
# A path in a temporary folder, whole: the folder's name and the files in it (a log file named
# by ``tempfile``) are drawn at random.
_TEMPORARY = re.compile(r"<tmp>/[^\s`'\"]+")


def without_terminal_colours(text: str) -> str:
    """``text`` without the terminal's colour codes (torch.onnx colours "This is step 1/3" in its
    errors): a record's messages are shown on the versions page, where they would read ``[96m``."""
    return _TERMINAL_COLOUR.sub("", text)


def normalise_message(text: str) -> str:
    """A recorded message (an expectation's error, a failed check's values) in a form that two runs
    with the same PyTorch share: no terminal colours, no addresses (a failed check that prints a
    list of ``<warnings.WarningMessage object at 0x7f...>``)."""
    return _ADDRESS.sub("0x…", without_terminal_colours(text))


def without_measured_times(text: str) -> str:
    """``text`` with each time a recipe measured and printed ("1.30 ms") as ``… ms``."""
    return _MEASURED_TIME.sub(r" … \1", text)


def normalise_output(text: str) -> str:
    """A recipe's captured output in a form that two runs with the same PyTorch share: paths
    scrubbed, log prefixes reduced to their file, no terminal colours, no addresses, no measured
    times, no paths in temporary folders, no draft_export log file."""
    text = normalise_message(scrub_paths(text))  # colours first: onnxruntime colours its log lines' prefix
    text = _LOG_PREFIX.sub(r"<log> \1]", text)
    text = _ONNXRUNTIME_LOG_PREFIX.sub(r"<log> onnxruntime \1]", text)
    text = without_measured_times(text)
    text = _TLPARSE_LOG.sub(r"\1…\2", text)
    return _TEMPORARY.sub("<tmp>/…", text)
