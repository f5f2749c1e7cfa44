"""A forked child that runs one function and always ends, whatever the function does: the
harness's zygote forks one per recipe (:mod:`cookbook.harness.runner`), the doc build forks its
zygote and one per recipe (:mod:`cookbook.site.recipe_pool`)."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Callable


def fork_running(body: Callable[[], int | None]) -> int:
    """Fork a child that runs ``body`` and exits with the code it returns (0 for None), or with 1
    after printing the traceback of what it raised. Returns the child's pid (in the parent only)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        code = body() or 0
    except BaseException:  # noqa: BLE001 - whatever happens, the child ends here
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
