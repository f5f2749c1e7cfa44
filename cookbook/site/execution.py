"""What the doc build does around each recipe sphinx-gallery runs, so that ``make html`` is as
strict and as clear as ``make test``:

- **a time limit** (``COOKBOOK_RECIPE_TIMEOUT``, as the harness): past it the recipe is stopped
  (SIGALRM raises :class:`RecipeTimeout` in it, again every second if the recipe catches it), the
  build goes on with the other recipes and fails at the end, naming the recipe and its line. The
  time-out is raised only while a frame of the recipe's own file is on the stack: an alarm that
  comes while sphinx-gallery runs its own code (between two blocks, or writing the page) waits for
  the recipe's code, so a page is always written. SIGALRM's previous handler is restored after the
  recipe. A recipe that catches every time-out, or blocks SIGALRM, is killed with its process
  group by the build's backstop (:mod:`cookbook.site.recipe_pool`), ``COOKBOOK_BACKSTOP_SECONDS``
  later (:func:`backstop_seconds`); a traceback dumped just before (``faulthandler``) names its line;
- **a watch for sentinels** (:class:`cookbook.sentinels.SentinelWatch`): a sentinel that fires is
  a failure even when a broad handler of the recipe swallowed its ``AssertionError`` (the blocks
  are compiled with their sentinels marked, through two hooks in sphinx-gallery: :func:`_install_hooks`);
- **the harness's words**: at the end of the build, every failed recipe is reported as
  ``recipes/<section>/plot_x.py:LINE: a sentinel fired: PyTorch's behaviour changed.`` (or a
  failed check, an exception, a time-out) with the versions, before sphinx-gallery's summary.

sphinx-gallery calls :func:`around_recipe` before and after each recipe (``reset_modules`` in
conf.py), in the process that runs it (a child of :mod:`cookbook.site.recipe_pool`). What each run
ended with is written to ``_build/recipe-runs/``, so that the Sphinx process can report it and the
harness can tell that a recipe already passed in a process of its own (:func:`passed_in_build`).
What the recipe's process writes below sphinx-gallery's capture (torch's log lines, onnxruntime's
C++ lines on file descriptor 2, a dumped traceback) goes to a log beside that record
(:func:`log_path`), never to the build's console.
"""

from __future__ import annotations

import ast
import builtins
import faulthandler
import functools
import hashlib
import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path

from cookbook import BUILD_DIR, RECIPES_DIR, REPO_ROOT, display_path
from cookbook.environment import build_fingerprint, versions_line
from cookbook.network import ATTEMPTS, forget_attempts
from cookbook.processes import torch_logs_to_process_stderr
from cookbook.recipes import imports_of, parsed
from cookbook.sentinels import FIRED_HOOK, SentinelWatch, mark_sentinels, sentinel_lines
from cookbook.verdicts import error_outcome, explain_outcome, timed_out

RUNS_DIR = BUILD_DIR / "recipe-runs"
#: True in the processes of :mod:`cookbook.site.recipe_pool`, where each recipe has a fresh fork.
_own_process = False


def runs_in_own_process() -> None:
    """Said by :mod:`cookbook.site.recipe_pool`'s zygote: each recipe of this process's children
    runs in a fresh fork, so that its record counts for the harness (:func:`passed_in_build`)."""
    global _own_process
    _own_process = True


def build_jobs() -> int:
    """How many recipes the build runs at once: ``COOKBOOK_BUILD_JOBS``, else one per core."""
    return max(1, int(os.environ.get("COOKBOOK_BUILD_JOBS") or os.cpu_count() or 1))


def time_limit() -> float:
    return float(os.environ.get("COOKBOOK_RECIPE_TIMEOUT", "120"))


def backstop_seconds() -> float:
    """Seconds past the time limit after which the build kills a recipe's process group: the
    recipe caught every time-out, or SIGALRM could not be delivered (``COOKBOOK_BACKSTOP_SECONDS``)."""
    return float(os.environ.get("COOKBOOK_BACKSTOP_SECONDS", "60"))


#: Seconds after which an alarm that came outside the recipe's code looks again.
_ALARM_RETRY = 0.1
#: Seconds after which the time-out is raised again in a recipe that caught it.
_ALARM_REPEAT = 1.0


def run_record_path(recipe: Path, suffix: str = ".json") -> Path:
    """Where the build keeps how ``recipe``'s last run ended (``.json``) and what its process
    logged (``.log``, :func:`log_path`)."""
    recipe = Path(recipe)
    return RUNS_DIR / f"{recipe.parent.name}__{recipe.name}{suffix}"


def log_path(recipe: Path) -> Path:
    """What the recipe's process wrote below sphinx-gallery's capture: torch's log lines,
    onnxruntime's lines on file descriptor 2, a traceback dumped before the backstop's kill."""
    return run_record_path(recipe, ".log")


class RecipeTimeout(Exception):
    """Raised inside a recipe that ran past its time limit during the build."""


def _compile_with_marked_sentinels(source, filename, mode, flags=0, dont_inherit=False, *args, **kwargs):
    """sphinx-gallery's ``compile`` (see :func:`_install_hooks`): the blocks of the recipe that runs
    are parsed with their sentinels marked, as the harness compiles them."""
    tree = compile(source, filename, mode, flags, dont_inherit, *args, **kwargs)
    if isinstance(tree, ast.Module) and _state.get("file") is not None and str(filename) == _state["file"]:
        tree = mark_sentinels(tree, _state["sentinel_lines"])
    return tree


def _note_error(exc_info, *args, **kwargs):
    """sphinx-gallery's ``handle_exception`` (see :func:`_install_hooks`), which first notes the error."""
    if _state.get("file") is not None and exc_info[1] is not None:
        _state["last_error"] = error_outcome(exc_info[1], _state["file"])
    return _hooked["handle_exception"](exc_info, *args, **kwargs)


#: sphinx-gallery's own functions that :func:`_install_hooks` replaced.
_hooked: dict = {}


def _install_hooks() -> None:
    """Two names of sphinx-gallery's ``gen_rst`` (pinned in requirements-docs.txt) are replaced in
    the process that runs the recipes: ``compile`` (the builtin, looked up in that module), with
    which it parses each block, so that the recipe's sentinels note that they fired; and
    ``handle_exception``, which receives the error that stopped a recipe. tests/test_build.py
    builds a site with a fired and a swallowed sentinel: a lost hook fails it."""
    from sphinx_gallery import gen_rst

    if _hooked:
        return
    if not callable(getattr(gen_rst, "handle_exception", None)):
        raise RuntimeError("sphinx_gallery.gen_rst.handle_exception is gone: update cookbook/site/execution.py")
    _hooked["handle_exception"] = gen_rst.handle_exception
    gen_rst.handle_exception = _note_error
    gen_rst.compile = _compile_with_marked_sentinels


_state: dict = {}


#: The source file of the recipe this process is about to run (:func:`running`).
_running: dict[str, Path] = {}


def running(src_file) -> None:
    """Said by :mod:`cookbook.site.recipe_pool` before sphinx-gallery runs ``src_file``: the
    ``reset_modules`` hook receives only the file's name, which two sections may share."""
    _running["file"] = Path(src_file)


def _recipe_path(fname: str) -> Path | None:
    known = _running.get("file")
    if known is not None and known.name == Path(fname).name:
        return known
    matches = sorted(RECIPES_DIR.glob(f"*/{Path(fname).name}"))
    return matches[0] if matches else None


def _line_in(frame, filename: str) -> int | None:
    while frame is not None:
        if frame.f_code.co_filename == filename:
            return frame.f_lineno
        frame = frame.f_back
    return None


def _on_alarm(signum, frame):
    """SIGALRM past the time limit: raise :class:`RecipeTimeout` where the recipe's own code runs,
    never in sphinx-gallery's (between two blocks, or writing the page): there, look again soon."""
    line = _line_in(frame, _state.get("file"))
    if line is None:
        signal.setitimer(signal.ITIMER_REAL, _ALARM_RETRY)
        return
    _state["timed_out_line"] = _state.get("timed_out_line") or line
    signal.setitimer(signal.ITIMER_REAL, _ALARM_REPEAT)  # again, if the recipe catches this one
    raise RecipeTimeout(f"the recipe ran past its time limit of {_state['limit']:g} s (COOKBOOK_RECIPE_TIMEOUT)")


def arm_time_limit(limit: float) -> None:
    """From now, :func:`_on_alarm` after ``limit`` seconds (``_state["file"]`` names the recipe's file)."""
    _state["previous_alarm_handler"] = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    if _own_process:  # the backstop will kill this process: say first where the recipe stands
        faulthandler.dump_traceback_later(limit + backstop_seconds() / 2, file=sys.__stderr__)


def disarm_time_limit() -> None:
    """No alarm any more, and SIGALRM's handler as it was before :func:`arm_time_limit`."""
    signal.setitimer(signal.ITIMER_REAL, 0)
    if "previous_alarm_handler" in _state:
        signal.signal(signal.SIGALRM, _state.pop("previous_alarm_handler"))
    faulthandler.cancel_dump_traceback_later()


def _forget_shown_warnings() -> None:
    """Each page shows the warnings that ``python recipe.py`` would show, whatever ran before it
    in the same build (Python shows a warning once per place, then remembers it)."""
    warnings.onceregistry.clear()
    for module in list(sys.modules.values()):
        registry = getattr(module, "__dict__", {}).get("__warningregistry__")
        if isinstance(registry, dict):
            registry.clear()


def imports_torch(tree: ast.Module) -> bool:
    return any(name.split(".")[0] == "torch" for _, name, _ in imports_of(tree))


@functools.cache
def prepare_torch() -> None:
    """Before a recipe runs, in the process that runs it: torch's thread pool gets this process's
    share of the cores (:func:`build_jobs` recipes run at once), and torch's log lines go to the
    process's own stderr, never onto a page (they hold a time and a process id); in a recipe's
    child that stderr is the recipe's log (:func:`log_path`), not the build's console. Once per
    process: the build's zygote does it, and each recipe's child inherits it."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // build_jobs()))
    torch_logs_to_process_stderr()


def _start(gallery_conf, fname: str) -> None:
    recipe = _recipe_path(fname)
    if recipe is None:
        return
    source = recipe.read_text(encoding="utf-8")
    tree = parsed(source)  # read only; in the build's child, already parsed by the Sphinx process
    if "torch" in sys.modules or imports_torch(tree):  # importing torch takes seconds: only for the recipes that use it
        prepare_torch()
    _install_hooks()
    forget_attempts()
    limit = time_limit()
    watch = SentinelWatch()
    lines = sentinel_lines(tree)
    _state.update(recipe=recipe, file=str(recipe), limit=limit, watch=watch, sentinel_lines=lines,
                  last_error=None, timed_out_line=None, source=source, started=time.monotonic())
    # The marked sentinels look the watch up by name: in the recipe's globals, else in builtins.
    setattr(builtins, FIRED_HOOK, watch)
    run_record_path(recipe).unlink(missing_ok=True)
    arm_time_limit(limit)


def _finish() -> None:
    disarm_time_limit()
    watch: SentinelWatch | None = _state.get("watch")
    if watch is None:
        return
    if hasattr(builtins, FIRED_HOOK):
        delattr(builtins, FIRED_HOOK)
    recipe: Path = _state["recipe"]
    record = {
        "recipe": display_path(recipe),
        "fired": watch.fired,
        "last_error": _state["last_error"],
        "timed_out_line": _state["timed_out_line"],
        "limit": _state["limit"],
        "seconds": round(time.monotonic() - _state["started"], 3),
        "own_process": _own_process,
        "source_sha256": hashlib.sha256(_state["source"].encode()).hexdigest(),
        "environment": environment_key(),
        # What the recipe tried to reach on the network (cookbook.network; the build's zygote guards it).
        "network": list(ATTEMPTS),
    }
    write_run_record(recipe, record)
    _state.clear()


def write_run_record(recipe: Path, record: dict) -> None:
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    run_record_path(recipe).write_text(json.dumps(record), encoding="utf-8")


def around_recipe(gallery_conf, fname, when=None) -> None:
    """sphinx-gallery ``reset_modules`` hook (``reset_modules_order = "both"``)."""
    if when == "after":
        _finish()
    else:
        _forget_shown_warnings()
        _start(gallery_conf, fname)


@functools.cache
def environment_key() -> dict[str, str]:
    """What a run's verdict depends on besides the recipe: the versions, and the cookbook's code
    (the sentinel marks, the time limit, conf.py). Read once per process (the tests ask for each
    recipe); never change the dict it returns."""
    code = hashlib.sha256()
    for path in sorted((REPO_ROOT / "cookbook").rglob("*.py")) + [REPO_ROOT / "conf.py"]:
        code.update(path.relative_to(REPO_ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return build_fingerprint() | {"cookbook code": code.hexdigest()[:16]}


def record_of(recipe: Path) -> dict | None:
    """How the last build's run of ``recipe`` ended (None if no build ran it)."""
    path = run_record_path(recipe)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def passed_in_build(recipe: Path) -> float | None:
    """The seconds the recipe took in the last doc build when that run counts for the harness too:
    it ran this very source, in a process of its own (a fresh fork, as the harness runs it, with
    the network guarded), in this environment and with this cookbook code, and passed. ``None``
    otherwise. Its network attempts are in :func:`record_of`'s ``network``."""
    record = record_of(Path(recipe))
    passed = record and not (record["fired"] or record["last_error"] or record["timed_out_line"] is not None
                             or record.get("killed"))
    if not passed or not record.get("own_process") or "network" not in record:
        return None
    if record.get("source_sha256") != hashlib.sha256(Path(recipe).read_text(encoding="utf-8").encode()).hexdigest():
        return None
    if record.get("environment") != environment_key():
        return None
    return record["seconds"]


def verdicts(failing: set[str]) -> list[tuple[Path, str, str]]:
    """``(recipe, kind, message)`` of every recipe of the last build that did not pass.

    ``failing``: the recipes sphinx-gallery saw fail (absolute paths); a recipe it saw pass can
    still fail here, when it fired a sentinel that a handler swallowed."""
    found = []
    for path in sorted(RUNS_DIR.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        recipe = (RECIPES_DIR.parent / record["recipe"]).resolve()
        if not recipe.exists():
            continue
        shown = record["recipe"]
        if record.get("killed"):  # by the backstop of cookbook.site.recipe_pool
            how = f"killed with its processes {record['killed']:g} s later: it caught or blocked the time-out"
            found.append((recipe, "timeout", timed_out(shown, record["limit"], record["timed_out_line"], how=how)))
            continue
        if record["timed_out_line"] is not None or (str(recipe) in failing and record["last_error"]
                                                    and record["last_error"]["type"].endswith("RecipeTimeout")):
            found.append((recipe, "timeout", timed_out(shown, record["limit"], record["timed_out_line"], how="stopped")))
            continue
        if str(recipe) in failing and record["last_error"]:
            outcome = {"status": "exception", **record["last_error"], "fired": record["fired"]}
        else:
            outcome = {"status": "completed", "fired": record["fired"]}
        kind, message, _ = explain_outcome(shown, recipe.read_text(encoding="utf-8"), outcome)
        if kind != "passed":
            found.append((recipe, kind, message))
        elif record.get("network"):  # refused by the guard (cookbook.network), and swallowed by the recipe
            found.append((recipe, "network", f"{shown}: the recipe tried to reach the network, which was refused: "
                                             f"{'; '.join(record['network'])}. A recipe runs offline."))
    return found


def report(app, exception) -> None:
    """``build-finished``, before sphinx-gallery's own summary: say what failed in the harness's
    words, make sphinx-gallery count a swallowed sentinel as a failure, and forget the cached
    result of every failed recipe so that the next build runs it again."""
    if exception is not None or not RUNS_DIR.exists():
        return
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    gallery_conf = app.config.sphinx_gallery_conf
    failing = gallery_conf.setdefault("failing_examples", {})
    found = verdicts({str(Path(name).resolve()) for name in failing})
    for recipe, kind, message in found:
        logger.warning(f"[cookbook] {message}\nVersions: {versions_line()}", type="cookbook", subtype=kind)
        failing.setdefault(str(recipe), message)
        for gallery_dir in gallery_conf["gallery_dirs"]:
            md5 = Path(app.srcdir) / gallery_dir / recipe.parent.name / (recipe.name + ".md5")
            md5.unlink(missing_ok=True)
