"""The doc build's command line, in one place: ``make html`` runs ``python -m cookbook.site.build``,
the build tests and ``make bench`` call :func:`command`.

    python -m cookbook.site.build [sphinx options]     # default options: -W --keep-going -j auto
"""

from __future__ import annotations

import subprocess
import sys

from cookbook import HTML_DIR, REPO_ROOT

#: Warnings are errors, but the build keeps going so that one build reports all of them. Sphinx
#: reads and writes the pages with a process per core (-j auto), once the recipes have run.
DEFAULT_OPTIONS = ("-W", "--keep-going", "-j", "auto")


def command(options=DEFAULT_OPTIONS, python: str = sys.executable, out: str = "_build/html") -> list[str]:
    """sphinx-build on ``_doc`` with this folder's conf.py (run it from the repository's root)."""
    return [python, "-m", "sphinx", "-b", "html", "-c", ".", *options, "_doc", out]


def main(argv: list[str] | None = None) -> int:
    options = sys.argv[1:] if argv is None else argv
    code = subprocess.run(command(options or DEFAULT_OPTIONS), cwd=REPO_ROOT).returncode
    if code == 0:
        print(f"The site is in {HTML_DIR.relative_to(REPO_ROOT)}/index.html")
    return code


if __name__ == "__main__":
    sys.exit(main())
