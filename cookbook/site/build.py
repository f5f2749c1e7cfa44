"""The doc build's command line, in one place: ``make html`` runs ``python -m cookbook.site.build``,
the build tests and ``make bench`` call :func:`command`.

    python -m cookbook.site.build [sphinx options]     # default: DEFAULT_OPTIONS below
"""

from __future__ import annotations

import os
import sys

from cookbook import HTML_DIR, REPO_ROOT

#: Sphinx's processes (``-j``), once the recipes have run: one more than the cores. Sphinx reads
#: the pages with that many processes, but writes them with one fewer while its main process
#: resolves each page and indexes it for the search, one page after another; with ``-j`` equal
#: to the cores (``-j auto``), a 2-core machine wrote the pages with a single worker (the cost:
#: DEVELOPERS.md's performance note).
SPHINX_PROCESSES = (os.cpu_count() or 1) + 1
#: Warnings are errors, but the build keeps going so that one build reports all of them.
DEFAULT_OPTIONS = ("-W", "--keep-going", "-j", str(SPHINX_PROCESSES))


def arguments(options=DEFAULT_OPTIONS, out: str = "_build/html") -> list[str]:
    """sphinx-build's arguments: ``_doc`` with this folder's conf.py (from the repository's root)."""
    return ["-b", "html", "-c", ".", *options, "_doc", out]


def command(options=DEFAULT_OPTIONS, python: str = sys.executable, out: str = "_build/html") -> list[str]:
    """sphinx-build as a process of its own (run it from the repository's root)."""
    return [python, "-m", "sphinx", *arguments(options, out)]


def main(argv: list[str] | None = None) -> int:
    """Run sphinx-build in this process: a second interpreter would import Sphinx and the
    extensions again (about 0.4 s of every build, the no-op build's included)."""
    options = sys.argv[1:] if argv is None else argv
    from sphinx.cmd.build import main as sphinx_build  # noqa: PLC0415  (only the command line needs it)

    os.chdir(REPO_ROOT)
    code = sphinx_build(arguments(options or DEFAULT_OPTIONS))
    if code == 0:
        print(f"The site is in {HTML_DIR.relative_to(REPO_ROOT)}/index.html")
    return code


if __name__ == "__main__":
    sys.exit(main())
