"""Which recipes document this error? The error matcher of the troubleshooting page, in a terminal.

    python -m cookbook.explain < error.txt        # a message or a whole traceback on stdin
    python -m cookbook.explain error.txt          # or in a file

It prints the best recipes, best first, with the page that explains each (in the built site) and
the documented line closest to yours. It reads the errors the recipes document from the pages of
the last ``make html`` (see :mod:`cookbook.errors` for how messages are compared).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cookbook import DOC_DIR, GALLERY_DIR, HTML_DIR, RECIPES_DIR, REPO_ROOT
from cookbook.errors import Match, Matcher, matcher_from_index, index_entries
from cookbook.site.troubleshooting import collect


def load_matcher() -> Matcher:
    gallery = DOC_DIR / GALLERY_DIR
    if not any(gallery.glob("*/plot_*.rst")):
        raise SystemExit(f"No recipe page under {gallery.relative_to(REPO_ROOT)}/: build the site first (make html).")
    return matcher_from_index(index_entries(collect(gallery, RECIPES_DIR)))


def render(matches: list[Match]) -> str:
    if not matches:
        return "No documented error resembles this one. The troubleshooting page lists them all."
    lines = []
    for rank, match in enumerate(matches, 1):
        lines += [f"{rank}. {match.title}  (score {match.score:.2f})",
                  f"   {(HTML_DIR / match.page).relative_to(REPO_ROOT)}",
                  f"   closest documented line: {match.line[:160]}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cookbook.explain", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, help="a file holding the error (default: standard input)")
    parser.add_argument("--limit", type=int, default=3, help="how many recipes to show (default: %(default)s)")
    args = parser.parse_args(argv)
    text = args.path.read_text(errors="replace") if args.path else sys.stdin.read()
    if not text.strip():
        parser.error("no error text given (pipe it in, or name a file)")
    print(render(load_matcher().match(text, limit=args.limit)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
