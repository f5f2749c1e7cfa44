"""How the doc build runs its recipes: each in a process of its own, all sections at once.

sphinx-gallery would run the recipes of a section in one process (or in joblib's workers, each
running many recipes one after the other), and wait at the end of each section. Here, on
``builder-inited`` just before sphinx-gallery generates the gallery, :func:`start` lists every
recipe whose page is out of date (sphinx-gallery's own md5 rule), longest first, and forks a
*zygote* from the Sphinx process: it imports torch and the packages the harness's zygote imports
(:data:`cookbook.recipes.PRELOADED_MODULES`; the ONNX part only when a recipe to run exports to
ONNX) once, then forks one child per recipe, a few at
a time (``COOKBOOK_BUILD_JOBS``, default one per core), each running sphinx-gallery's own
``generate_file_rst`` for its recipe and exiting. sphinx-gallery then asks for each page in its
order (its ``generate_file_rst`` is replaced by :func:`generate_file_rst`) and gets the child's
result as soon as it is there.

What this buys:

- **the harness's guarantee**: a recipe runs in a fresh fork, as in ``make test``'s runner, so a
  recipe that depends on what another one did fails the build too; the build's record of a recipe
  that passed (:func:`cookbook.site.execution.passed_in_build`) spares the harness a second run;
- **no idle core between sections**, nor at the end while a long recipe finishes alone, and one
  torch import per build instead of one per worker;
- **a quiet console**: each child leads its own process group and writes its file descriptors 1
  and 2 (torch's log lines, onnxruntime's C++ lines, anything below sphinx-gallery's capture) to
  the recipe's log beside its run record (:func:`cookbook.site.execution.log_path`); the console
  says what the build did, and the end of the build names each recipe that failed;
- **a backstop**: a child still running ``COOKBOOK_BACKSTOP_SECONDS`` after the time limit (the
  recipe caught every time-out, or blocked SIGALRM) is killed with its whole process group, and
  the build names it with the line its dumped traceback shows;
- **a child that dies** (a fatal signal such as SIGABRT, an ``os._exit``) fails the build by name,
  and the error quotes the end of its log (:func:`cookbook.verdicts.end_of_log`): the log is in
  ``_build``, which a scratch copy of the tree takes with it. Each child enables ``faulthandler``
  (:func:`cookbook.processes.fork_running`), so that a fatal signal leaves the recipe's line in the
  log, and the error names it.

A page whose md5 is current is not run: sphinx-gallery's ``generate_file_rst`` reads its cache in
the Sphinx process, and a build with nothing to run starts no zygote (a no-op build imports no torch).
While the Sphinx process waits for a recipe's child, it works out those pages' answers ahead of
sphinx-gallery's turn (:meth:`RecipePool.answered`).

Outside CI, the zygote is not forked from the Sphinx process but from a server that the first build
starts and the next builds reuse, which has imported torch already (:mod:`cookbook.site.warm_zygote`):
each build gets a *build zygote* of its own there, which runs :func:`_zygote` as above.
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import shutil
import signal
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from cookbook import display_path
from cookbook.network import refuse_network
from cookbook.processes import fork_running
from cookbook.recipes import (EXPORT_PRELOADS, ONNX_PRELOADS, exports_to_onnx, parsed, preload_recipe_modules,
                              section_preloads)
from cookbook.output_paths import scrub_paths
from cookbook.verdicts import dumped_line, end_of_log
from cookbook.site.execution import (backstop_seconds, build_jobs, imports_torch, log_path, prepare_torch, record_of,
                                     running, runs_in_own_process, time_limit, write_run_record)
from cookbook.site.warm_zygote import build_zygote, connection_open, enabled as keeps_zygote
from cookbook.site.warm_zygote import main as serve_zygote
from cookbook.site.notebooks import with_section_packages

#: sphinx-gallery's ``generate_file_rst`` (its notebooks' first cell per recipe:
#: :func:`cookbook.site.notebooks.with_section_packages`), which each child runs (set by :func:`start`).
_original = None
#: The pool of the current build, while sphinx-gallery generates the gallery.
_pool: "RecipePool | None" = None


def _zygote_imports(recipes: list[Path]) -> tuple[str, ...]:
    """What the zygote imports for these recipes: nothing when none imports torch; the ONNX exporter
    (and its registry) only when one of them exports to ONNX; a section's package (transformers)
    only when one of them imports it. A build that runs one edited recipe waits for these imports."""
    trees = [parsed(path.read_text(encoding="utf-8")) for path in recipes]
    if not any(imports_torch(tree) for tree in trees):
        return ()
    onnx = ONNX_PRELOADS if any(exports_to_onnx(tree) for tree in trees) else ()
    extra = (name for tree in trees for name in section_preloads(tree))
    return EXPORT_PRELOADS + onnx + tuple(dict.fromkeys(extra))


class RecipePool:
    """The zygote of one build and the results of its children, by source file."""

    def __init__(self, tasks: list[tuple[str, Path, Path]], gallery_conf: dict, jobs: int,
                 current: list[tuple[str, Path, Path]] = ()) -> None:
        self.keys = [os.path.normpath(Path(src_dir, fname)) for fname, _, src_dir in tasks]
        # The pages whose md5 is current: sphinx-gallery's answer for each (it reads the recipe and
        # its caches, runs nothing) is worked out while the Sphinx process waits for a child.
        self.current = list(current)
        self.gallery_conf = gallery_conf
        self.ready: dict[str, tuple] = {}
        self.index = {key: i for i, key in enumerate(self.keys)}
        self.exit_codes: dict[int, int | None] = {}  # None: the zygote itself stopped
        self.killed: set[int] = set()  # by the backstop
        self.scratch = Path(tempfile.mkdtemp(prefix="cookbook-build-runs-"))
        preload = _zygote_imports([Path(key) for key in self.keys])
        self.pid: int | None = None
        # A kept zygote (cookbook.site.warm_zygote) has imported torch already; else this build forks its own.
        self.connection = build_zygote({
            "tasks": tasks, "gallery_conf": gallery_conf, "jobs": jobs, "preload": preload, "scratch": self.scratch,
        }) if keeps_zygote() else None
        if self.connection is not None:
            self.replies = self.connection.makefile("r")
            return
        read_end, write_end = os.pipe()
        parent = os.getpid()

        def zygote() -> None:
            os.close(read_end)
            _zygote(tasks, gallery_conf, jobs, preload, write_end, self.scratch, lambda: os.getppid() == parent)

        self.pid = fork_running(zygote)
        os.close(write_end)
        self.replies = os.fdopen(read_end, "r")

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def result(self, key: str, fname: str, target_dir, src_dir, gallery_conf: dict):
        """What ``generate_file_rst`` returned in the recipe's child (waits for it)."""
        index = self.index[key]
        while index not in self.exit_codes:
            if self.current and not select.select([self.replies], [], [], 0)[0]:
                self._answer_a_current_page()
                continue
            line = self.replies.readline()
            if not line:
                self.exit_codes.setdefault(index, None)
                break
            done, code, killed = map(int, line.split())
            self.exit_codes[done] = code
            if killed:
                self.killed.add(done)
        result_file = self.scratch / f"{index}.pickle"
        if result_file.exists():
            return pickle.loads(result_file.read_bytes())
        return _lost(key, fname, target_dir, src_dir, gallery_conf, self.exit_codes[index], index in self.killed)

    def _answer_a_current_page(self) -> None:
        fname, target_dir, src_dir = self.current.pop(0)
        key = os.path.normpath(Path(src_dir, fname))
        running(key)
        self.ready[key] = _original(fname, target_dir, src_dir, self.gallery_conf)

    def answered(self, key: str):
        """sphinx-gallery's answer for a current page, if it was worked out already (else None)."""
        return self.ready.pop(key, None)

    def close(self) -> None:
        """Reap the zygote: it has ended when every result was read; otherwise (the build stopped
        early) it stops the recipes still running, then itself."""
        self.replies.close()
        if self.connection is not None:  # the kept zygote's build zygote reads the end of the connection
            self.connection.close()
        else:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
        shutil.rmtree(self.scratch, ignore_errors=True)


def _lost(key: str, fname: str, target_dir, src_dir, gallery_conf: dict, code: int | None, killed: bool = False):
    """For a child that ended without a result (killed, or exited from inside the recipe): the page
    sphinx-gallery writes for a recipe it does not run (no outputs, its downloads, a thumbnail),
    marked as failed so that the build fails naming the recipe and the next build runs it again.
    A child the backstop killed gets a run record that names the line where it stood."""
    (Path(target_dir) / (fname + ".md5")).unlink(missing_ok=True)
    intro, title, _, out_vars = _original(fname, target_dir, src_dir, dict(gallery_conf, plot_gallery=False))
    log = log_path(Path(key))
    logged = log.read_text(errors="replace") if log.exists() else ""
    # The innermost line of the recipe in the traceback its process dumped (faulthandler): before
    # the backstop's kill, or on a fatal signal (SIGABRT, SIGSEGV ...).
    line = dumped_line(logged, key)
    shown = display_path(Path(key))
    if code is None:
        how = "the build's recipe process stopped"
    else:
        how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    if killed:
        write_run_record(Path(key), {
            "recipe": shown, "fired": [], "last_error": None, "timed_out_line": line, "limit": time_limit(),
            "killed": backstop_seconds(), "own_process": True,
        })
        how = f"{how} {backstop_seconds():g} s past its time limit"
    out_vars.pop("passing", None)
    # The end of the log in the message itself: the log is in the tree's _build, which a scratch
    # copy of the tree (make bench's) takes with it.
    end = scrub_paths(end_of_log(logged, key))
    out_vars["formatted_exception"] = (
        f"{shown}{f':{line}' if line else ''}: the recipe's process ended ({how}) before its page was written "
        f"(its log: {display_path(log)})." + (f" The end of its log:\n{textwrap.indent(end, '    ')}" if end else "")
    )
    return intro, title, (0.0, 0.0), out_vars


def use_generate_file_rst(function) -> None:
    """What each recipe's child runs: sphinx-gallery's ``generate_file_rst`` (wrapped), set by
    :func:`start`, or by the kept zygote of :mod:`cookbook.site.warm_zygote`, which has no Sphinx."""
    global _original
    _original = function


def serve_kept_zygote(args: list[str]) -> int:
    """The kept zygote's process (:mod:`cookbook.site.warm_zygote`; ``args``: its socket and key)."""
    from sphinx_gallery import gen_rst

    use_generate_file_rst(with_section_packages(gen_rst.generate_file_rst))
    return serve_zygote(args, serve_build)


def serve_build(request: dict, connection) -> None:
    """In the kept zygote: fork the build zygote of one build's ``request``, which answers on
    ``connection`` and stops when the build closes it."""

    def zygote() -> None:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _zygote(request["tasks"], request["gallery_conf"], request["jobs"], (), connection.fileno(),
                Path(request["scratch"]), lambda: connection_open(connection))

    fork_running(zygote)


def _zygote(tasks, gallery_conf, jobs: int, preload: tuple[str, ...], replies_fd: int, scratch: Path,
            build_listens) -> None:
    """Import ``preload`` once, then run the tasks, ``jobs`` children at a time; say ``index exit_code``
    as each ends. Stop the recipes still running when ``build_listens()`` turns false (the build stopped)."""
    refuse_network()  # before the imports: what they bind of the socket module is guarded too
    if preload:
        preload_recipe_modules(preload)
        prepare_torch()
    # What this process holds now (Sphinx's state, torch's modules) is never garbage: the collector
    # of each child skips it, instead of walking it in every full collection of an export.
    gc.freeze()
    runs_in_own_process()
    stopping = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    replies = os.fdopen(replies_fd, "w", buffering=1)
    pending = list(enumerate(tasks))
    running: dict[int, tuple[int, float]] = {}  # pid -> (index, deadline)
    killed: set[int] = set()
    # The recipe stops itself at time_limit(); this is a backstop, for a recipe that does not.
    limit = time_limit() + backstop_seconds()
    while pending or running:
        while pending and len(running) < jobs:
            index, task = pending.pop(0)
            running[_fork_child(index, task, gallery_conf, scratch)] = (index, time.monotonic() + limit)
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            if stopping or not build_listens():  # the build stopped early: stop its recipes
                for child in running:
                    _kill_group(child)
                return
            for child, (_, deadline) in running.items():
                if time.monotonic() > deadline and child not in killed:
                    _kill_group(child)
                    killed.add(child)
            time.sleep(0.02)
            continue
        if pid in running:
            index, _ = running.pop(pid)
            replies.write(f"{index} {os.waitstatus_to_exitcode(status)} {int(pid in killed)}\n")
            killed.discard(pid)


def _kill_group(child: int) -> None:
    """Kill ``child`` and every process of its group (what the recipe started)."""
    try:
        os.killpg(child, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _fork_child(index: int, task, gallery_conf, scratch: Path) -> int:
    """A child that runs sphinx-gallery's ``generate_file_rst`` for ``task`` and leaves its result
    in ``scratch/<index>.pickle``. It leads its own process group (the backstop kills the group),
    and its file descriptors 1 and 2 write to the recipe's log."""
    fname, target_dir, src_dir = task
    src_file = os.path.normpath(Path(src_dir, fname))

    def child() -> None:
        os.setpgid(0, 0)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _write_to_log(log_path(Path(src_file)))
        running(src_file)
        result = _original(fname, target_dir, src_dir, gallery_conf)
        partial = scratch / f"{index}.pickle.partial"
        partial.write_bytes(pickle.dumps(result))
        partial.rename(scratch / f"{index}.pickle")

    pid = fork_running(child)
    try:
        os.setpgid(pid, pid)  # also here: the backstop may act before the child's own call
    except (PermissionError, ProcessLookupError):  # the child did it already, or has ended
        pass
    return pid


def _write_to_log(log: Path) -> None:
    """File descriptors 1 and 2 of this process (what C++ code writes, the handlers of torch's
    loggers bound to ``sys.__stderr__``, sphinx-gallery's own messages) to ``log``, not the console,
    and 0 from ``/dev/null`` (a process group of its own must not read the build's terminal)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for fd in (1, 2):
        os.dup2(target, fd)
    os.close(target)
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.close(nothing)


def generate_file_rst(fname, target_dir, src_dir, gallery_conf):
    """sphinx-gallery's ``generate_file_rst``: a recipe that runs comes from its child."""
    key = os.path.normpath(Path(src_dir, fname))
    if _pool is not None and key in _pool:
        return _pool.result(key, fname, target_dir, src_dir, gallery_conf)
    answered = _pool.answered(key) if _pool is not None and gallery_conf is _pool.gallery_conf else None
    if answered is not None:
        return answered
    running(key)
    return _original(fname, target_dir, src_dir, gallery_conf)


def out_of_date(src_file: Path, target_dir: Path) -> bool:
    """sphinx-gallery's rule: a recipe runs unless the md5 kept next to its page is its source's."""
    from sphinx_gallery.utils import get_md5sum

    kept = Path(target_dir) / (Path(src_file).name + ".md5")
    return not kept.exists() or kept.read_text().strip() != get_md5sum(src_file, mode="t")


def start(app) -> None:
    """``builder-inited``, after the cache check and before sphinx-gallery: fork the zygote when
    any recipe is to run, and route sphinx-gallery's ``generate_file_rst`` through the pool."""
    global _pool
    from sphinx_gallery import gen_rst
    from sphinx_gallery.gen_gallery import get_subsections

    gallery_conf = app.config.sphinx_gallery_conf
    gallery_conf["parallel"] = False  # the pool runs the recipes side by side, not joblib
    if _original is None:  # its notebooks install transformers where the recipe imports it
        use_generate_file_rst(with_section_packages(gen_rst.generate_file_rst))
        gen_rst.generate_file_rst = generate_file_rst
    src_root = Path(app.builder.srcdir)
    tasks, current = [], []
    for examples_dir, gallery_dir in zip(gallery_conf["examples_dirs"], gallery_conf["gallery_dirs"]):
        examples_abs, gallery_abs = src_root / examples_dir, src_root / gallery_dir
        for section in get_subsections(src_root, examples_abs, gallery_conf):
            src_dir, target_dir = examples_abs / section, gallery_abs / section
            for src_file in sorted(src_dir.glob("*.py")):
                if not out_of_date(src_file, target_dir):
                    current.append((src_file.name, target_dir, src_dir))
                elif gen_rst.executable_script(src_file, gallery_conf):
                    (target_dir / "images" / "thumb").mkdir(parents=True, exist_ok=True)
                    tasks.append((src_file.name, target_dir, src_dir))
    if tasks:
        _pool = RecipePool(_longest_first(tasks), gallery_conf, build_jobs(), current)


def _longest_first(tasks: list[tuple[str, Path, Path]]) -> list[tuple[str, Path, Path]]:
    """The order in which the recipes start, so that no long recipe runs alone at the end: by the
    time each took in the last build that ran it, longest first; the recipes never timed before all
    of them, the gallery's last first (its last sections, models and ONNX, hold the longest recipes).
    sphinx-gallery still receives the pages in its own order."""
    def seconds(task) -> float:
        record = record_of(Path(task[2], task[0]))
        return record["seconds"] if record and "seconds" in record else float("inf")

    return sorted(reversed(tasks), key=seconds, reverse=True)


def stop(app, exception=None) -> None:
    """``build-finished`` (or after the gallery): reap the zygote."""
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None
