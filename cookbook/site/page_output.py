"""What a recipe's page shows as its output, and whether two builds show the same.

A page's output is the text of its ``sphx-glr-script-out`` blocks: what the recipe printed, its
code and prose left out. A recipe's output must be the same from build to build (no address, no
timing, no set's order, no log line's process id): ``python -m cookbook.site.page_output SITE_A
SITE_B`` compares the pages of two built sites (their ``html`` folders), and ``make bench``
compares its two cold builds. Measured times are the exception: the models' pages print a table
of timings on purpose (eager, the exported program, onnxruntime), so each is compared as ``… ms``
(:func:`cookbook.output_paths.without_measured_times`, as the history's records keep them).
"""

from __future__ import annotations

import argparse
import difflib
import html
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from cookbook import GALLERY_DIR
from cookbook.output_paths import without_measured_times

# The <pre> carries the attributes that make it reachable by keyboard (cookbook/site/accessibility.py).
_OUTPUT_BLOCK = re.compile(r'<div class="sphx-glr-script-out[^"]*"><div class="highlight"><pre[^>]*>(.*?)</pre>', re.S)


def output_text(page_html: str) -> str:
    """What a page shows as the recipe's output (its code and prose left out)."""
    blocks = _OUTPUT_BLOCK.findall(page_html)
    return "\n".join(html.unescape(re.sub(r"<[^>]+>", "", block)) for block in blocks)


@dataclass(frozen=True)
class Difference:
    page: str  # relative to the site's html folder
    diff: str  # a unified diff of the two outputs, or why they cannot be compared

    @property
    def first_line(self) -> str:
        """The first line that one build shows and the other does not."""
        changed = [line for line in self.diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        return changed[0] if changed else self.diff.splitlines()[0]


def recipe_pages(site: Path) -> dict[str, Path]:
    """The recipe pages of a built site's html folder, by their path relative to it."""
    gallery = site / GALLERY_DIR
    return {str(page.relative_to(site)): page for page in sorted(gallery.glob("*/plot_*.html"))}


def differing_outputs(first: Path, second: Path) -> list[Difference]:
    """The recipe pages whose output differs between two built sites (their html folders), and
    those that only one of them has."""
    ours, theirs = recipe_pages(first), recipe_pages(second)
    if not ours and not theirs:
        raise FileNotFoundError(f"no recipe page under {first / GALLERY_DIR} nor {second / GALLERY_DIR}: build the sites first")
    found = []
    for page in sorted(ours.keys() | theirs.keys()):
        if page not in ours or page not in theirs:
            found.append(Difference(page, f"only in {first if page in ours else second}"))
            continue
        a, b = (without_measured_times(output_text(pages[page].read_text(encoding="utf-8"))).splitlines()
                for pages in (ours, theirs))
        if a != b:
            found.append(Difference(page, "\n".join(difflib.unified_diff(a, b, "first build", "second build", lineterm=""))))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cookbook.site.page_output", description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path, help="a built site's html folder (_build/html)")
    parser.add_argument("second", type=Path, help="another build's html folder")
    args = parser.parse_args(argv)
    try:
        found = differing_outputs(args.first, args.second)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    for difference in found:
        print(f"{difference.page}:\n{difference.diff}\n")
    print(f"{len(found)} recipe page(s) differ" if found else
          f"the outputs of the {len(recipe_pages(args.first))} recipe pages are the same in both builds")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
