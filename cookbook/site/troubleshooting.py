"""The "Troubleshooting by error message" page, generated from the recipes at build time.

A recipe demonstrates an error with a sentinel (a ``try`` whose ``except`` names the exception it
expects) and prints the error first in its handler, so the first line of that cell's captured
output is the error's first line as PyTorch prints it. This module reads the pages sphinx-gallery
generated (``.. GENERATED FROM PYTHON SOURCE LINES a-b`` says which source lines a cell holds),
finds the cells that hold a sentinel, and lists each error's first line with a link to its recipe.
The page ends with the errors that readers reported publicly and the recipes that answer them
(:mod:`cookbook.site.reports`, from the corpus of :mod:`cookbook.reports`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from cookbook import BEHAVIOUR_DIR, DOC_DIR, GALLERY_DIR
from cookbook import RECIPES_DIR
from cookbook.errors import Documented, index_entries, source_operations
from cookbook.repository import repository, repository_url
from cookbook.recipes import discover_recipes, parsed, section_titles, title_of
from cookbook.reports import Report
from cookbook.sentinels import expected_exceptions, sentinel_tries
from cookbook.site.reports import coverage_section
from cookbook.site.rst import literal, ref
from cookbook.site.source_cache import kept_across_builds

_CELL = re.compile(r"^\.\. GENERATED FROM PYTHON SOURCE LINES (\d+)-(\d+)\n", re.MULTILINE)
_OUTPUT = re.compile(r"^\.\. rst-class:: sphx-glr-script-out\n\n \.\. code-block:: none\n\n((?:    .*\n|\n)+)", re.MULTILINE)
_LABEL = re.compile(r"^\.\. _(sphx_glr_\S+\.py):$", re.MULTILINE)
MAX_LENGTH = 160
#: The lines of an error the matcher compares: its message, before what the recipe printed after it.
MATCHED_LINES = 8
# First lines that are not an error message: a printed dict or graph, a log line, a warning.
_NOT_AN_ERROR = re.compile(r"^(\{|def |graph\(\)|[IWEF]\d{4} \d\d:\d\d|\S+\.py:\d+: \w*Warning:)")


@dataclass(frozen=True)
class DemonstratedError:
    exception: str  # as the recipe's handler names it, e.g. torch._dynamo.exc.UserError
    first_line: str  # the first line of the error, as printed
    label: str  # the recipe page's reference label
    title: str  # the recipe's title
    page: str = ""  # the recipe page, relative to the site's root (auto_recipes/section/plot_x.html)
    text: str = ""  # the error as the page shows it (its first lines), for the error matcher
    ops: tuple[str, ...] = ()  # the operations the recipe's code calls (cookbook.errors.source_operations)


@kept_across_builds
def parse_sentinels(source: str) -> tuple[tuple[int, int, list[str]], ...]:
    """(first line, last line, handled exception names) of each ``try`` holding a sentinel of the
    recipe's ``source`` (kept across builds; a build computes those of the recipes that changed
    while the recipes' zygote imports torch, before the generated pages exist)."""
    return tuple((node.lineno, node.end_lineno, expected_exceptions(node)) for node in sentinel_tries(parsed(source)))


def errors_of_page(page: Path, source: Path) -> list[DemonstratedError]:
    """The errors that the generated ``page`` of the recipe ``source`` demonstrates."""
    text = page.read_text(encoding="utf-8")
    label, title = _LABEL.search(text), title_of(text)
    if not label or not title:
        return []
    code = source.read_text(encoding="utf-8")
    tries = parse_sentinels(code)
    ops = tuple(source_operations(code))
    cells = list(_CELL.finditer(text))
    errors = []
    for index, cell in enumerate(cells):
        first, last = int(cell.group(1)), int(cell.group(2))
        body = text[cell.end() : cells[index + 1].start() if index + 1 < len(cells) else len(text)]
        output = _OUTPUT.search(body)
        handled = [names for start, end, names in tries if first <= start and end <= last]
        if not output or not handled:
            continue
        lines = [line[4:].rstrip() for line in output.group(1).splitlines() if line.strip()]
        # The error is the first line that is not a graph, a log line or a warning printed before it.
        start = next((i for i, line in enumerate(lines) if not line[:1].isspace() and not _NOT_AN_ERROR.match(line)), None)
        if start is None:
            continue
        lines = lines[start:]
        first_line = lines[0] if len(lines[0]) <= MAX_LENGTH else lines[0][: MAX_LENGTH - 3] + "..."
        exception = " or ".join(dict.fromkeys(name for names in handled for name in names)) or "an exception"
        html_page = f"{GALLERY_DIR}/{source.parent.name}/{source.stem}.html"
        shown = "\n".join(lines[:MATCHED_LINES])
        errors.append(DemonstratedError(exception, first_line, label.group(1), title, html_page, shown, ops))
    return errors


def collect(gallery_dir: Path, recipes_dir: Path) -> list[DemonstratedError]:
    """Every demonstrated error of the gallery, in a stable order."""
    errors = []
    for source in discover_recipes(recipes_dir):
        page = gallery_dir / source.relative_to(recipes_dir).with_suffix(".rst")
        if page.exists():
            errors.extend(errors_of_page(page, source))
    return stable_order(errors)


_WARNING = re.compile(r"^    \S+\.py:\d+: (\w*Warning: .+)$", re.MULTILINE)
_MESSAGE_CHANGED = re.compile(r"^the error's message changed: (?:AssertionError: )?", re.ASCII)


def index_extras(gallery_dir: Path = DOC_DIR / GALLERY_DIR, recipes_dir: Path = RECIPES_DIR,
                 behaviour_dir: Path = BEHAVIOUR_DIR) -> list[Documented]:
    """What the matcher indexes besides the demonstrated errors: each recipe's title, the warnings
    its page shows, and the messages that recorded releases raised for one of its sentinels when
    they differ from today's ("older wording", from the behaviour records of ``behaviour_dir``)."""
    extras = []
    records = [(record.name.split("_")[0].removeprefix("torch-"), json.loads(record.read_text(encoding="utf-8")).get("recipes", {}))
               for record in sorted(behaviour_dir.glob("torch-*.json"))]
    for source in discover_recipes(recipes_dir):
        relative = source.relative_to(recipes_dir)
        page = gallery_dir / relative.with_suffix(".rst")
        if not page.exists():
            continue
        text = page.read_text(encoding="utf-8")
        title = title_of(text)
        if not title:
            continue
        html_page = f"{GALLERY_DIR}/{relative.parent.as_posix()}/{source.stem}.html"
        ops = tuple(source_operations(source.read_text(encoding="utf-8")))
        extras.append(Documented(title, html_page, "title", title, "title", ops))
        for warning in dict.fromkeys(_WARNING.findall(text)):
            extras.append(Documented(title, html_page, warning.split(":")[0], warning, "warning", ops))
        older = {}
        for release, recipes in records:
            expectations = recipes.get(relative.as_posix(), {})
            for name, expectation in expectations.get("expectations", {}).items():
                message = expectation.get("message") or ""
                if name.startswith("sentinel") and _MESSAGE_CHANGED.match(message):
                    older.setdefault(_MESSAGE_CHANGED.sub("", message).strip(), release)
        for message, release in older.items():
            extras.append(Documented(title, html_page, f"torch {release}", message, "older wording", ops))
    return extras


def stable_order(errors) -> list[DemonstratedError]:
    """Without duplicates, by exception, first line and recipe; the text breaks ties (two errors of
    a recipe may share a first line), so that every build writes the same page and index."""
    return sorted(set(errors), key=lambda e: (e.exception, e.first_line.lower(), e.label, e.text))


def render(errors: list[DemonstratedError], reports: list[Report] = (), recipes_dir: Path = RECIPES_DIR) -> str:
    lines = [
        ".. This page is generated by cookbook/site/troubleshooting.py at build time. Do not edit.",
        "",
        ".. _troubleshooting:",
        "",
        "Troubleshooting by error message",
        "================================",
        "",
        "Every error that a recipe of this cookbook demonstrates, by the exception that carries it, with",
        "its first line as PyTorch prints it and the recipe that explains it. Search the page for the",
        "first words of your message (names such as ``s17`` or sizes differ from one model to another).",
        "",
        "Find the recipe for your error",
        "------------------------------",
        "",
        "Paste an error message or a whole traceback: the recipes whose documented errors resemble it most",
        "are listed, best first. Your names, sizes, symbols and file paths do not need to match ours; the",
        "matching runs in your browser and sends nothing anywhere. In a terminal, the same matcher is",
        "``python -m cookbook.explain < error.txt``. When no recipe documents your error, it says so, shows",
        "the closest recipes as related, and offers a link that opens an issue prefilled with your message",
        "(without your file paths), so that a recipe can be written.",
        "",
        ".. raw:: html",
        "",
        '   <div class="error-matcher">',
        '   <label for="error-matcher-input">Your error message or traceback:</label>',
        '   <textarea id="error-matcher-input" rows="8" spellcheck="false"',
        '    placeholder="torch._dynamo.exc.UserError: Constraints violated (batch)! ..."></textarea>',
        '   <div id="error-matcher-answer" aria-live="polite">',
        '   <p id="error-matcher-status"></p>',
        '   <ol id="error-matcher-results"></ol>',
        '   </div>',
        "   </div>",
        '   <script src="_static/error-index.js"></script>',
        '   <script src="_static/error-matcher.js"></script>',
        "",
        "Every documented error",
        "----------------------",
        "",
    ]
    current = None
    for error in errors:
        if error.exception != current:
            current = error.exception
            lines += ["", current, "~" * max(len(current), 3), ""]
        lines += [f"- {literal(error.first_line)}", f"  → {ref(error.title, error.label)}", ""]
    if not errors:
        lines.append("No recipe demonstrates an error yet.")
    lines += coverage_section(list(reports), recipes_dir)
    return "\n".join(lines).rstrip() + "\n"


def write_error_index(target: Path, errors: list[DemonstratedError], extras: list[Documented] | None = None) -> int:
    """The error matcher's index (``_static/error-index.js``): every documented error with its text,
    then the :func:`index_extras`; the repository's address, where "no match" offers to report an
    error (:mod:`cookbook.repository`); and the sections' titles, which name the closest family."""
    entries = index_entries(errors, index_extras() if extras is None else extras)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("window.cookbookErrorIndex = " + json.dumps(entries, indent=0, sort_keys=True) + ";\n"
                      + "window.cookbookRepositoryUrl = " + json.dumps(repository_url(repository())) + ";\n"
                      + "window.cookbookSectionTitles = " + json.dumps(section_titles(), sort_keys=True) + ";\n",
                      encoding="utf-8")
    return len(entries)


def write_page(target: Path, errors: list[DemonstratedError], reports: list[Report] = ()) -> int:
    """Write the page of ``errors`` (:func:`collect`) and of the reported ``reports`` if its content
    changed (so that Sphinx re-reads it only then)."""
    content = render(errors, reports)
    if not target.exists() or target.read_text(encoding="utf-8") != content:
        target.write_text(content, encoding="utf-8")
    return len(errors)
