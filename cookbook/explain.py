"""Which recipes document this error? The error matcher of the troubleshooting page, in a terminal.

    python -m cookbook.explain < error.txt        # a message or a whole traceback on stdin
    python -m cookbook.explain error.txt          # or in a file

It prints the best recipes, best first, with the page that explains each (in the built site) and
the documented line closest to yours. Below a calibrated confidence it says that no recipe documents
the error, shows the closest recipes as related, and prints a link that opens an issue on the
repository prefilled with the normalised message (:mod:`cookbook.repository`). It reads the errors the recipes document from the pages of
the last ``make html`` (see :mod:`cookbook.errors` for how messages are compared).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cookbook import DOC_DIR, GALLERY_DIR, HTML_DIR, RECIPES_DIR, REPO_ROOT
from cookbook.errors import Answer, Match, Matcher, index_entries, matcher_from_index, report_link
from cookbook.recipes import section_titles
from cookbook.repository import repository, repository_url
from cookbook.site.troubleshooting import collect, index_extras


def load_matcher() -> Matcher:
    gallery = DOC_DIR / GALLERY_DIR
    if not any(gallery.glob("*/plot_*.rst")):
        raise SystemExit(f"No recipe page under {gallery.relative_to(REPO_ROOT)}/: build the site first (make html).")
    return matcher_from_index(index_entries(collect(gallery, RECIPES_DIR), index_extras(gallery, RECIPES_DIR)))


def _listed(matches: list[Match]) -> list[str]:
    lines = []
    for rank, match in enumerate(matches, 1):
        kind = "" if match.kind == "error" else f", {match.kind}"
        lines += [f"{rank}. {match.title}  (score {match.score:.2f}{kind})",
                  f"   {(HTML_DIR / match.page).relative_to(REPO_ROOT)}",
                  f"   closest documented line: {match.line[:160]}"]
    return lines


def render(answer: Answer) -> str:
    if not answer.no_match:
        return "\n".join(_listed(answer.matches))
    lines = [f"No recipe documents this error (confidence {answer.confidence:.2f})."]
    if answer.related:
        family = section_titles().get(answer.family, answer.family)
        lines += [f"Related recipes, from the closest section ({family}), though they do not document it:"]
        lines += _listed(answer.related)
    lines += ["Report it, so that a recipe can be written (opens a prefilled issue):",
              report_link(repository_url(repository()), answer)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cookbook.explain", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, help="a file holding the error (default: standard input)")
    parser.add_argument("--limit", type=int, default=3, help="how many recipes to show (default: %(default)s)")
    args = parser.parse_args(argv)
    text = args.path.read_text(errors="replace") if args.path else sys.stdin.read()
    if not text.strip():
        parser.error("no error text given (pipe it in, or name a file)")
    print(render(load_matcher().answer(text, limit=args.limit)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
