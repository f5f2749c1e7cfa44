"""A forked child that runs one function and always ends, whatever the function does: the
harness's zygote forks one per recipe (:mod:`cookbook.harness.runner`), the doc build forks its
zygote and one per recipe (:mod:`cookbook.site.recipe_pool`). And where torch's log lines go in a
recipe's process, for both (:func:`torch_logs_to_process_stderr`)."""

from __future__ import annotations

import faulthandler
import os
import sys
import traceback
from typing import Callable


def fork_running(body: Callable[[], int | None]) -> int:
    """Fork a child that runs ``body`` and exits with the code it returns (0 for None), or with 1
    after printing the traceback of what it raised. Returns the child's pid (in the parent only).
    The child dumps its Python stack to its file descriptor 2 on a fatal signal (``faulthandler``:
    SIGABRT from a C++ library's ``std::terminate``, SIGSEGV), which the harness and the build read
    to name the recipe's line (a recipe's child points descriptor 2 at the recipe's stderr or log),
    and first gets a thread pool of torch's of its own (:func:`own_torch_thread_pool`)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        faulthandler.enable(file=sys.__stderr__)
        own_torch_thread_pool()
        code = body() or 0
    except BaseException:  # noqa: BLE001 - whatever happens, the child ends here
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def own_torch_thread_pool() -> None:
    """In a forked child, before it starts a thread: make torch replace, from this thread, the
    thread pool that the fork copied (``torch.set_num_threads`` does, to the same number).

    torch replaces it lazily, on the first request for the pool after a fork, and that replacement
    is not thread-safe: a thread that asks while another replaces it gets none, and torch aborts
    the process (``pool INTERNAL ASSERT FAILED ... Invalid thread pool!`` from ``set_num_threads``,
    SIGABRT). The first autograd graph of a process starts autograd's device threads at once, and
    each of them asks. torch's own after-fork hook (``torch.get_num_threads``, registered when torch
    is imported) asks first, from the child's only thread, but only when the thread that forked
    had never initialised its threads (a thread-local flag that this very hook sets): not in a fork
    of a fork (the kept zygote's recipes, :mod:`cookbook.site.warm_zygote`), where one run of the
    scan recipe in three was killed so (``tests/test_forks.py``). Nothing when torch is not imported."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(torch.get_num_threads())


def torch_logs_to_process_stderr() -> None:
    """Bind torch's log handlers, which write to whatever ``sys.stderr`` is when a line is logged
    (sphinx-gallery's capture, while a recipe runs in the build), to the process's own stderr: a
    log line holds a time and a process id, and never reaches a page unless the recipe prints it
    itself. The harness's recording mode and the build's recipe processes both call it."""
    import logging

    for name, logger in list(logging.root.manager.loggerDict.items()):
        if not name.startswith("torch") or not isinstance(logger, logging.Logger):
            continue
        for handler in list(logger.handlers):
            if type(handler).__name__ == "_StderrHandler":
                console = logging.StreamHandler(sys.__stderr__)
                console.setLevel(handler.level)
                console.setFormatter(handler.formatter)
                logger.removeHandler(handler)
                logger.addHandler(console)
