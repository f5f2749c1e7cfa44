"""Run one recipe in a process of its own and say, in words a maintainer can act on, how it ended.

A recipe passes when its code runs to its last line in a fresh process. It fails when it raises,
exits (whatever the code), is killed by a signal, or runs past its time limit (then its process
group is killed, and a traceback the child dumped at the limit names the line where it stood). The verdict is built
from what the process did, never from what it printed: a recipe may print a handled traceback.

Speed: importing torch costs about a second, paid once per recipe by ``python recipe.py``. Here a
*zygote* process imports torch and the other documented packages once, then forks one child per
recipe; it imports a section's package (transformers) the first time a recipe needs it. Each
child starts from that clean, already-imported state, runs the recipe in a temporary working
directory, and exits; nothing a recipe does reaches the next one.

Use :func:`run_recipe` (one zygote per calling process, started on first use), or from a shell::

    python -m cookbook.harness.runner recipes/constraints/plot_dx_plus_dy.py
"""

from __future__ import annotations

import atexit
import ast
import faulthandler
import gc
import json
import linecache
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path

from cookbook import REPO_ROOT, display_path
from cookbook.environment import versions, versions_line
from cookbook.harness.recording import RECORDER, Recorder, instrument
from cookbook.output_paths import scrub_paths
from cookbook.network import ATTEMPTS, forget_attempts, refuse_network
from cookbook.processes import fork_running, torch_logs_to_process_stderr
from cookbook.recipes import parsed, preload_recipe_modules, section_preloads
from cookbook.sentinels import FIRED_HOOK, SentinelWatch, mark_sentinels, sentinel_lines
from cookbook.verdicts import dumped_line, end_of_log, error_outcome, explain_outcome, last_recipe_line, timed_out

#: Seconds a recipe may run before it is killed. Recipes are meant to take seconds.
DEFAULT_TIMEOUT = float(os.environ.get("COOKBOOK_RECIPE_TIMEOUT", "120"))
#: Seconds between the child's dump of its traceback at the time limit (which names the line where
#: the recipe stood) and its kill.
DUMP_GRACE = 1.0


# --------------------------------------------------------------------------------------------
# What a run gives back
# --------------------------------------------------------------------------------------------


@dataclass
class RecipeResult:
    recipe: str  # as shown to readers: relative to the repository when inside it
    passed: bool
    #: passed, sentinel, failed-check, exception, syntax-error, exit, incomplete, signal, timeout
    kind: str
    #: One paragraph for the maintainer: where, what, and what it means.
    message: str
    line: int | None = None
    duration: float = 0.0
    stdout: str = ""
    stderr: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    #: Recording mode only (cookbook.harness.behaviour): every expectation of the recipe and its status
    #: (its message with paths scrubbed), and the output of each cell (``{"0": text, "1": text, ...}``,
    #: stdout then stderr, paths scrubbed).
    expectations: dict[str, dict] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    #: What the recipe tried to reach on the network, refused (cookbook.network): must stay empty.
    network: list[str] = field(default_factory=list)

    def report(self) -> str:
        """The message, followed by the recipe's own output (scrubbed of machine paths)."""
        parts = [self.message]
        if self.stdout.strip():
            parts.append("----- recipe stdout (last 40 lines) -----\n" + _tail(self.stdout, 40))
        if self.stderr.strip() and self.kind == "signal" and "Fatal Python error:" in self.stderr:
            # A fatal signal's dump (faulthandler) ends with the outermost frames of every thread:
            # what the recipe's process wrote before it, and the recipe's own frames, come first.
            parts.append("----- recipe stderr (the end, before and in faulthandler's dump) -----\n"
                         + end_of_log(self.stderr, scrub_paths(self.recipe)))  # the stderr's paths are scrubbed
        elif self.stderr.strip():
            parts.append("----- recipe stderr (last 60 lines) -----\n" + _tail(self.stderr, 60))
        return "\n".join(parts)


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# The child: runs one recipe in the current process (always a fresh fork or a fresh interpreter)
# --------------------------------------------------------------------------------------------


def execute_recipe(recipe: Path, result_file: Path, record: bool = False) -> int:
    """Run ``recipe`` as ``__main__`` in this process, with the current directory as its working
    directory, and write how it ended to ``result_file`` (JSON). Returns the exit code to use.
    With ``record``, run the copy instrumented by :mod:`cookbook.harness.recording` instead."""
    shown = display_path(recipe)
    source = recipe.read_text(encoding="utf-8")
    recorder = None
    forget_attempts()

    def finish(code: int, **result) -> int:
        result["network"] = list(ATTEMPTS)
        if recorder is not None:
            result["expectations"] = recorder.expectations
            result["cells"] = recorder.cells
        result_file.write_text(json.dumps(result), encoding="utf-8")
        return code

    try:
        # Compiled under its repository-relative name, so that graphs and tracebacks printed by the
        # recipe show ``recipes/section/plot_x.py:12`` and not the path of this machine.
        if record:
            code, expectations = instrument(source, shown)
            recorder = Recorder(expectations)
        else:
            # Each sentinel notes that it fired, even where a broad handler of the recipe then swallows it.
            tree = ast.parse(source, shown)
            code = compile(mark_sentinels(tree, sentinel_lines(tree)), shown, "exec", dont_inherit=True)
    except SyntaxError as error:
        return finish(1, status="syntax-error", type="SyntaxError", message=str(error.msg), line=error.lineno)
    watch = SentinelWatch()

    # A real module registered as __main__, as `python recipe.py` would have: code that looks up
    # the recipe's globals through sys.modules["__main__"] (dynamo does) must find them.
    main_module = types.ModuleType("__main__")
    main_module.__file__ = str(recipe)
    setattr(main_module, FIRED_HOOK, watch)
    if recorder is not None:
        setattr(main_module, RECORDER, recorder)
    sys.modules["__main__"] = main_module
    sys.argv = [str(recipe)]
    # The source under the name it is compiled with (the working directory is elsewhere), for
    # what reads a function's source as `python recipe.py` would find it: torch.jit.script, inspect.
    linecache.cache[shown] = (len(source), None, source.splitlines(keepends=True), shown)
    try:
        exec(code, main_module.__dict__)
    except SystemExit as stop:
        exit_code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        return finish(
            exit_code or 1,
            fired=watch.fired,
            status="exit",
            exit_code=exit_code,
            message=str(stop.code),
            line=last_recipe_line(traceback.extract_tb(stop.__traceback__), shown),
        )
    except BaseException as error:  # noqa: BLE001 - every way a recipe can fail is reported
        return finish(
            1,
            fired=watch.fired,
            status="exception",
            **error_outcome(error, shown),
            traceback=scrub_paths("".join(traceback.format_exception(error))),
        )
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return finish(1 if watch.fired else 0, status="completed", fired=watch.fired)


def page_output(console_path: Path) -> Path:
    """Where a recording child writes what its recipe prints (the page's output), beside the
    console's ``console_path``."""
    return console_path.with_name("page-" + console_path.name)


def _child_main(recipe: Path, workdir: Path, stdout_path: Path, stderr_path: Path, result_path: Path,
                stack_path: Path, timeout: float, record: bool = False) -> int:
    """Body of a forked child: isolate, redirect, run. At ``timeout`` the child dumps its traceback
    into ``stack_path`` (a thread of faulthandler's, whatever the recipe does), just before its kill."""
    os.setsid()  # own process group: a timeout kills the recipe and whatever it started
    os.chdir(workdir)
    for fd, path in ((1, stdout_path), (2, stderr_path)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdin = open(os.devnull)
    if record:
        # A record holds what the recipe's page shows: what the recipe writes through sys.stdout
        # and sys.stderr, as sphinx-gallery captures it. What reaches the process's descriptors
        # without them (torch's C++ warnings, onnxruntime's log) and torch's log lines (the build
        # sends them to its console: cookbook.site.execution.prepare_torch) go to stdout_path and
        # stderr_path, the console, as in the build.
        sys.stdout = open(page_output(stdout_path), "w", buffering=1, encoding="utf-8")
        sys.stderr = open(page_output(stderr_path), "w", buffering=1, encoding="utf-8")
        torch_logs_to_process_stderr()
    else:
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)
    os.environ["TMPDIR"] = str(workdir)
    tempfile.tempdir = str(workdir)
    with open(stack_path, "w") as stack:
        faulthandler.dump_traceback_later(timeout, file=stack)
        try:
            return execute_recipe(recipe, result_path, record)
        finally:
            faulthandler.cancel_dump_traceback_later()


# --------------------------------------------------------------------------------------------
# The zygote: imports once, forks a child per request, waits for it with a time limit
# --------------------------------------------------------------------------------------------


def _wait(pid: int, timeout: float) -> tuple[int | None, bool]:
    """Wait for ``pid``; kill its process group after ``timeout`` s. Returns (wait status, timed_out)."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status, False
        if time.monotonic() >= deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status = os.waitpid(pid, 0)
            return status, True
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def run_in_fork(request: dict) -> dict:
    """Fork a child that runs ``request["recipe"]``; return the raw facts of how it ended."""
    start = time.monotonic()
    paths = [Path(request[key]) for key in ("recipe", "workdir", "stdout", "stderr", "result", "stack")]
    timeout = float(request["timeout"])
    pid = fork_running(lambda: _child_main(*paths, timeout=timeout, record=request.get("record", False)))
    status, timed_out = _wait(pid, timeout + DUMP_GRACE)
    return {
        "timed_out": timed_out,
        "exit_code": os.waitstatus_to_exitcode(status),
        "duration": time.monotonic() - start,
    }


def zygote_main() -> None:
    """Serve requests (one JSON line each on stdin, one JSON reply on stdout) until stdin closes."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stray prints of imported modules must not corrupt replies
    refuse_network()  # every recipe's process inherits the guard (cookbook.network)
    preload_recipe_modules()
    # Each pytest-xdist worker (or recording thread) has its zygote: torch's thread pool gets its share of the cores.
    workers = int(os.environ.get("COOKBOOK_PARALLEL_RUNS") or os.environ.get("PYTEST_XDIST_WORKER_COUNT") or "1")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    # What is imported now is never garbage: the collector of each child skips it (an export's
    # collections then walk the recipe's objects only, not torch's modules: 13% of the ONNX recipes).
    gc.freeze()
    replies.write(json.dumps({"ready": True, "versions": versions()}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        missing = tuple(name for name in request.get("preload", ()) if name not in sys.modules)
        if missing:  # a section's package (transformers): imported once, when a recipe first needs it
            preload_recipe_modules(missing)
            gc.freeze()
        replies.write(json.dumps(run_in_fork(request)) + "\n")


class Zygote:
    """The client side of :func:`zygote_main`: a long-lived process, restarted if it dies."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.versions: dict[str, str] = {}

    def _start(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cookbook.harness.runner", "--zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO_ROOT,
        )
        hello = self._read(timeout=300)
        self.versions = hello["versions"]

    def _read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise RuntimeError("the recipe runner's zygote process stopped answering")
        return json.loads(line)

    def run(self, request: dict) -> dict:
        if self.process is None or self.process.poll() is not None:
            self._start()
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read(timeout=float(request["timeout"]) + 60)

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


_zygote: Zygote | None = None


def default_zygote() -> Zygote:
    """The zygote of this process, created on first use (importing this module starts nothing)."""
    global _zygote
    if _zygote is None:
        _zygote = Zygote()
        atexit.register(_zygote.close)
    return _zygote


# --------------------------------------------------------------------------------------------
# Putting a verdict into words
# --------------------------------------------------------------------------------------------


def _explain(recipe: Path, shown: str, raw: dict, result: dict | None, timeout: float) -> tuple[str, str, int | None]:
    """(kind, message, line) from how the process ended and what the child wrote."""
    if raw["timed_out"]:
        line = dumped_line(raw.get("stack", ""), shown)
        return "timeout", timed_out(shown, timeout, line), line
    exit_code = raw["exit_code"]
    if exit_code < 0:
        name = signal.Signals(-exit_code).name
        line = dumped_line(raw.get("stderr", ""), shown)  # faulthandler's dump, on a fatal signal
        at = f"{shown}:{line}" if line else shown
        return "signal", f"{at}: the recipe's process was killed by signal {name} ({-exit_code}).", line
    if result is None:
        return "incomplete", f"{shown}: the process ended (exit code {exit_code}) without reporting how the recipe ended.", None
    if result["status"] == "completed" and exit_code != 0 and not result.get("fired"):
        return "incomplete", f"{shown}: the process ended with exit code {exit_code} before the end of the recipe.", None
    return explain_outcome(shown, recipe.read_text(encoding="utf-8"), result)


def run_recipe(
    recipe: Path | str, timeout: float = DEFAULT_TIMEOUT, *, record: bool = False, zygote: Zygote | None = None
) -> RecipeResult:
    """Run ``recipe`` in a child process whose working directory is a fresh temporary directory.
    With ``record``, every expectation is recorded instead of stopping at the first that breaks."""
    recipe = Path(recipe).resolve()
    shown = display_path(recipe)
    zygote = zygote or default_zygote()
    with tempfile.TemporaryDirectory(prefix="recipe-run-") as scratch:
        scratch = Path(scratch)
        workdir = scratch / "cwd"
        workdir.mkdir()
        request = {
            "recipe": str(recipe),
            "workdir": str(workdir),
            "stdout": str(scratch / "stdout.txt"),
            "stderr": str(scratch / "stderr.txt"),
            "result": str(scratch / "result.json"),
            "stack": str(scratch / "stack.txt"),
            "timeout": timeout,
            "record": record,
            "preload": section_preloads(parsed(recipe.read_text(encoding="utf-8"))),
        }
        raw = zygote.run(request)
        if (scratch / "stack.txt").exists():
            raw["stack"] = (scratch / "stack.txt").read_text(errors="replace")
        result = json.loads((scratch / "result.json").read_text()) if (scratch / "result.json").exists() else None
        if result:  # an error's message can name a file, of this machine or of another virtualenv
            if result.get("message"):
                result["message"] = scrub_paths(result["message"])
            for entry in result.get("expectations", {}).values():
                entry["message"] = scrub_paths(entry["message"])
        raw_stdout, raw_stderr = (scratch / "stdout.txt").read_bytes(), (scratch / "stderr.txt").read_bytes()
        outputs = {}
        if record:  # the page's output, then what went to the console (torch's log lines)
            page_stdout, page_stderr = (_read_if_any(page_output(scratch / name)) for name in ("stdout.txt", "stderr.txt"))
            outputs = _cell_outputs(result.get("cells", []), page_stdout, page_stderr) if result else {}
            raw_stdout, raw_stderr = page_stdout + raw_stdout, page_stderr + raw_stderr
        stdout = scrub_paths(raw_stdout.decode(errors="replace"))
        raw["stderr"] = raw_stderr.decode(errors="replace")
        stderr = scrub_paths(raw["stderr"])
    kind, message, line = _explain(recipe, shown, raw, result, timeout)
    if result and result.get("traceback") and kind not in ("passed", "sentinel", "syntax-error"):
        stderr = (stderr.rstrip() + "\n" + result["traceback"]).lstrip()
    if kind != "passed":
        message += f"\nVersions: {versions_line()}"
    return RecipeResult(
        recipe=shown,
        passed=kind == "passed",
        kind=kind,
        message=message,
        line=line,
        duration=raw["duration"],
        stdout=stdout,
        stderr=stderr,
        versions=zygote.versions,
        expectations=(result or {}).get("expectations", {}),
        outputs=outputs,
        network=(result or {}).get("network", []),
    )


def _read_if_any(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


def _cell_outputs(cells: list[list[int]], stdout: bytes, stderr: bytes) -> dict[str, str]:
    """Each cell's output from the offsets the recorder noted where each cell started."""
    outputs = {}
    bounds = cells + [[None, len(stdout), len(stderr)]]
    for (index, out_start, err_start), (_, out_end, err_end) in zip(bounds, bounds[1:]):
        text = (stdout[out_start:out_end] + stderr[err_start:err_end]).decode(errors="replace")
        if text.strip():
            outputs[str(index)] = scrub_paths(text)
    return outputs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--zygote"]:
        zygote_main()
        return 0
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    failed = 0
    for path in argv:
        result = run_recipe(path)
        print(result.report() if not result.passed else f"{result.message} ({result.duration:.1f} s)")
        failed += not result.passed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
