"""How a recipe ended, in words a maintainer can act on: shared by the runner (``make test``) and
the doc build (``make html``), so that both say the same thing about the same failure.

A verdict is ``(kind, message, line)``; kinds: passed, sentinel, failed-check, exception,
syntax-error, exit, incomplete, signal, timeout.
"""

from __future__ import annotations

import ast
import re
import traceback

from cookbook.sentinels import enclosing_try, expected_exceptions, sentinel_lines

SENTINEL_FIRED = "a sentinel fired: PyTorch's behaviour changed."
UPDATE = "Update the recipe (its text, its output and this sentinel) to what PyTorch does now."


def sentinel_fired(at: str, error: str, caught: bool = False) -> str:
    where = (
        "The recipe documents a failure at this point, but the code above it now runs without raising"
        + (" (and the sentinel's AssertionError was then caught by a handler elsewhere in the recipe)" if caught else "")
    )
    return f"{at}: {SENTINEL_FIRED}\n{where}:\n    {error}\n{UPDATE}"


def timed_out(shown: str, timeout: float, line: int | None = None, how: str = "killed") -> str:
    at = f"{shown}:{line}" if line else shown
    return f"{at}: ran past its time limit of {timeout:g} s and was {how} (COOKBOOK_RECIPE_TIMEOUT)."


#: A frame of a traceback that ``faulthandler`` dumped: ``  File "path", line 12 in name``.
_DUMPED_FRAME = re.compile(r'^  File "(.*)", line (\d+) in ', re.MULTILINE)


def dumped_line(text: str, filename: str) -> int | None:
    """The innermost line of the recipe compiled as ``filename`` in the last traceback that
    ``faulthandler`` dumped into ``text`` (how a recipe that had to be killed is named with its line)."""
    start = text.rfind("(most recent call first):")
    frames = _DUMPED_FRAME.findall(text[start:]) if start >= 0 else []
    return next((int(line) for path, line in frames if path == filename), None)


#: What the build's error shows of a log that holds a fatal error's dump: the lines written just
#: before it (a C++ library's message, without the frames of its backtrace) and the innermost
#: frames of one thread, then its frames in the recipe.
LINES_BEFORE_FATAL, FATAL_FRAMES = 6, 6
#: What it shows of any other log: its last lines. Each line is cut at this width.
LAST_LINES, LINE_WIDTH = 15, 240
#: A frame of a C++ backtrace, as c10 (torch) prints one under its error's message.
_CXX_FRAME = re.compile(r"^frame #\d+: ")


def end_of_log(text: str, filename: str | None = None) -> str:
    """The end of the log of a recipe's process that ended before its page was written, as the
    build's error quotes it (the log itself may be gone with the tree that held it). Where
    ``faulthandler`` dumped a fatal signal (``Fatal Python error: Aborted``): the lines just before
    that dump, such as ``terminate called after throwing ...`` and its ``what():``; then, of the
    thread that runs the recipe compiled as ``filename`` (the thread that received the signal
    when none does: a C++ thread has no Python frame), the innermost frames and the frames in
    the recipe. Otherwise the last lines. An empty string for an empty log."""
    lines = [line[:LINE_WIDTH] for line in text.rstrip().splitlines() if not line.startswith("Extension modules:")]
    fatal = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("Fatal Python error:")), None)
    if fatal is None:
        return "\n".join(lines[-LAST_LINES:])
    before = "\n".join(line for line in lines[:fatal] if not _CXX_FRAME.match(line)).rstrip().splitlines()
    excerpt = before[-LINES_BEFORE_FATAL:] + [lines[fatal]]
    threads = []  # (header, frames) of each thread of the dump
    for line in lines[fatal + 1:]:
        if line.endswith("(most recent call first):"):
            threads.append((line, []))
        elif threads and line.startswith("  "):
            threads[-1][1].append(line)
    in_recipe = f'  File "{filename}", ' if filename else None
    chosen = (next((thread for thread in threads if in_recipe and any(f.startswith(in_recipe) for f in thread[1])), None)
              or next((thread for thread in threads if thread[0].startswith("Current thread")), None)
              or (threads[0] if threads else None))
    if chosen is not None:
        header, frames = chosen
        shown = frames[:FATAL_FRAMES]
        recipe_frames = [f for f in frames[FATAL_FRAMES:] if in_recipe and f.startswith(in_recipe)]
        if len(recipe_frames) > FATAL_FRAMES:  # a recursion: its innermost frames and the outermost
            recipe_frames = [*recipe_frames[:FATAL_FRAMES - 1], "  ...", recipe_frames[-1]]
        if len(frames) > FATAL_FRAMES:
            shown.append("  ...")
        if recipe_frames:
            shown += recipe_frames + (["  ..."] if frames[-1] != recipe_frames[-1] else [])
        excerpt += ["", header, *shown]
    return "\n".join(excerpt)


def last_recipe_line(frames: list[traceback.FrameSummary], filename: str) -> int | None:
    """The last line of the recipe compiled as ``filename`` in a traceback's ``frames``."""
    lines = [frame.lineno for frame in frames if frame.filename == filename]
    return lines[-1] if lines else None


def error_outcome(error: BaseException, filename: str) -> dict:
    """The error that stopped a recipe compiled as ``filename``, as :func:`explain_outcome` reads it:
    its type, message, last line in the recipe, and whether the recipe's own code raised it (a
    sentinel or a check) rather than PyTorch's."""
    frames = traceback.extract_tb(error.__traceback__)
    return {
        "type": f"{type(error).__module__}.{type(error).__qualname__}".removeprefix("builtins."),
        "message": str(error),
        "line": last_recipe_line(frames, filename),
        "raised_in_recipe": bool(frames) and frames[-1].filename == filename,
    }


def explain_outcome(shown: str, source: str, outcome: dict) -> tuple[str, str, int | None]:
    """The verdict of a recipe that ran to its end or stopped on an exception.

    ``outcome``: ``status`` (completed, exception, syntax-error, exit), and for an exception its
    ``type``, ``message``, ``line`` (the recipe's last line in the traceback) and
    ``raised_in_recipe`` (the exception was raised by the recipe's own code); ``fired``: the
    ``(line, message)`` of sentinels seen firing (:class:`cookbook.sentinels.SentinelWatch`)."""
    status, line = outcome["status"], outcome.get("line")
    at = f"{shown}:{line}" if line else shown
    fired = [tuple(item) for item in outcome.get("fired", [])]
    if status == "syntax-error":
        return "syntax-error", f"{at}: SyntaxError: {outcome['message']}", line
    if status == "exit":
        return "exit", f"{at}: the recipe called sys.exit({outcome['message']}) and stopped before its end.", line
    if status == "completed":
        if fired:  # a sentinel fired but something swallowed its AssertionError
            line, message = fired[0]
            return "sentinel", sentinel_fired(f"{shown}:{line}", f"AssertionError: {message}", caught=True), line
        return "passed", f"{shown}: passed.", None
    if status != "exception":
        return "incomplete", f"{shown}: the recipe stopped before its end ({status}).", None

    error = f"{outcome['type']}: {outcome['message']}"
    try:
        tree = ast.parse(source)
    except SyntaxError as syntax:  # the doc build runs a recipe that does not parse: sphinx-gallery compiles it whole
        return explain_outcome(shown, source, {"status": "syntax-error", "message": syntax.msg, "line": syntax.lineno})
    if line and outcome["type"] == "AssertionError" and outcome.get("raised_in_recipe"):
        if line in sentinel_lines(tree):
            return "sentinel", sentinel_fired(at, error), line
    if fired:  # the sentinel fired first, was caught, and the recipe failed later
        first_line, message = fired[0]
        return "sentinel", sentinel_fired(f"{shown}:{first_line}", f"AssertionError: {message}", caught=True), first_line
    if line and outcome["type"] == "AssertionError" and outcome.get("raised_in_recipe"):
        return "failed-check", f"{at}: a check of the recipe failed: what it documents is no longer true.\n    {error}", line
    enclosing = enclosing_try(tree, line) if line else None
    if enclosing is not None and enclosing.handlers:
        expected = ", ".join(expected_exceptions(enclosing))
        return "exception", (
            f"{at}: the recipe expects {expected} here, but PyTorch raised another exception: "
            f"PyTorch's behaviour changed.\n    {error}"
        ), line
    return "exception", f"{at}: the recipe raised\n    {error}", line
