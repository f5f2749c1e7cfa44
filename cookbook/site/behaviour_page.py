"""The "What changed between PyTorch versions" page, and the box on each recipe page that says on
which releases the recipe holds, both built from the JSON records of ``_doc/behaviour/`` (one per
torch release; see :mod:`cookbook.harness.behaviour` for their format).

Readers ask "does this recipe apply to my torch, and which release changed it?": each expectation
gets a phrase in that form ("holds since 2.11", "changed in 2.14: <new message>", "needs 2.10 or
later"), computed against the release the site was verified with.

The records are true of the past and are kept as they were recorded: a recipe renamed since is
followed through :data:`RENAMED` (its history shows under its new name, and links to its page), a
recipe removed since stays on the page, marked removed, without a link.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path

from cookbook.environment import NEEDS_LATER_RELEASE, record_release
from cookbook.recipes import SECTION_PACKAGES
from cookbook.site.source_cache import code_version
from cookbook.site.rst import gallery_label, literal, ref

SYMBOLS = {"holds": "✓ holds", "changed": "✗ changed", "failed": "! failed", "not-reached": "– not reached"}
MAX_MESSAGE = 300
MAX_DIFF_LINES = 14
#: Recipes renamed since a record was made: ``{"old_section/plot_old.py": "section/plot_new.py"}``.
#: Add a line when renaming a recipe (tests/test_behaviour.py checks that each new name exists).
RENAMED: dict[str, str] = {}


def short(version: str) -> str:
    """``2.13`` for ``2.13.0``: readers name minor releases."""
    return ".".join(version.split(".")[:2])


def _order(report: dict):
    return tuple(int(part) if part.isdigit() else 0 for part in record_release(report).split(".")), report["environment"]["torch"]


def current_name(recipe: str, renamed: dict[str, str] = RENAMED) -> str:
    """The name of ``recipe`` today, following its renames (``renamed``: old name to new name)."""
    seen = {recipe}
    while recipe in renamed:
        recipe = renamed[recipe]
        if recipe in seen:
            raise ValueError(f"cookbook/site/behaviour_page.py: RENAMED has a cycle through {recipe}")
        seen.add(recipe)
    return recipe


def follow_renames(report: dict, renamed: dict[str, str] = RENAMED) -> dict:
    """``report`` with each recipe under its name of today (a record under its own name wins)."""
    recipes = {}
    for name, entry in sorted(report["recipes"].items(), key=lambda item: item[0] in renamed):
        recipes.setdefault(current_name(name, renamed), entry)
    return report | {"recipes": recipes}


def load_reports(folder: Path, renamed: dict[str, str] = RENAMED) -> list[dict]:
    """The records of ``folder``, the oldest torch first, with the recipes renamed since under their new names."""
    reports = (json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json")))
    return sorted((follow_renames(report, renamed) for report in reports), key=_order)


def recipe_link(recipe: str, existing: set[str] | None) -> str:
    """A link to the recipe's page, or, for a recipe removed since it was recorded (not in
    ``existing``; None: every recipe exists), its name marked removed."""
    if existing is not None and recipe not in existing:
        return f"{literal(recipe)} (removed)"
    section, name = recipe.split("/", 1)
    return ref(recipe, gallery_label(section, name))


def _message(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


@dataclass
class Expectation:
    recipe: str
    key: str
    cells: list[dict | None]  # one per report, the oldest first (None: absent from that record)

    def status(self, index: int) -> str:
        cell = self.cells[index]
        return cell["status"] if cell else "absent"


def expectations_of(reports: list[dict], recipe: str) -> list[Expectation]:
    entries = [report["recipes"].get(recipe) for report in reports]
    keys = {key for entry in entries if entry for key in entry["expectations"]}
    line = {key: min(e["expectations"][key]["line"] for e in entries if e and key in e["expectations"]) for key in keys}
    return [Expectation(recipe, key, [e["expectations"].get(key) if e else None for e in entries])
            for key in sorted(keys, key=lambda key: (line[key], key))]


def verified_index(reports: list[dict], verified: str | None) -> int:
    """The record of the release the site is built with, else the newest."""
    releases = [record_release(report) for report in reports]
    return releases.index(verified) if verified in releases else len(reports) - 1


def phrase(expectation: Expectation, reports: list[dict], pinned: int) -> str:
    """Where an expectation holds, as readers ask it, relative to the verified release."""
    releases = [short(record_release(report)) for report in reports]
    reference = expectation.status(pinned)
    parts = []
    older = [i for i in range(pinned) if expectation.status(i) != reference]
    if older:
        boundary = max(older) + 1  # the first release of the run that ends at the pinned one
        cause = expectation.status(max(older))
        outcome = (reports[max(older)]["recipes"].get(expectation.recipe) or {}).get("outcome", "absent")
        if cause in ("absent", "not-reached", "failed") and outcome != "completed":
            parts.append(f"needs {releases[boundary]} or later")
        else:
            parts.append(f"{'holds' if reference == 'holds' else reference} since {releases[boundary]}")
    for index in range(pinned + 1, len(reports)):
        if expectation.status(index) != expectation.status(index - 1):
            message = _message((expectation.cells[index] or {}).get("message", ""))
            parts.append(f"changed in {releases[index]}" + (f": {message}" if message else f" ({expectation.status(index)})"))
    if not parts:
        span = f"{releases[0]}–{releases[-1]}" if len(releases) > 1 else releases[0]
        return f"{'holds' if reference == 'holds' else reference} on every recorded release ({span})"
    return "; ".join(parts)


def missing_api_error(message: str) -> str:
    """The error of a ``needs-later-release`` record's message (``ModuleNotFoundError: No module ...``),
    without the runner's "<recipe>:<line>: the recipe raised" before it."""
    return _message(message.split("the recipe raised", 1)[-1])


def new_in(reports: list[dict], recipe: str, pinned: int) -> tuple[str, str] | None:
    """``(release, error)`` when the records before the verified release say the recipe needs a later
    release: the first release after the newest such record, and that record's error."""
    needing = [index for index in range(pinned)
               if (reports[index]["recipes"].get(recipe) or {}).get("outcome") == NEEDS_LATER_RELEASE]
    if not needing:
        return None
    last = max(needing)
    return record_release(reports[last + 1]), missing_api_error(reports[last]["recipes"][recipe]["message"])


@dataclass
class RecipeHistory:
    recipe: str
    verified: str  # the release the site is built with
    recorded: str  # the date of its record
    unchanged_since: str  # the oldest release of the unbroken run of identical statuses ending at it
    differences: list[tuple[str, str]]  # (expectation, phrase) for those that differ on some release
    new_in: str | None = None  # the first release with the API the recipe uses, when an older one lacks it
    missing_api: str = ""  # what the newest release without it raised
    libraries: str = ""  # "transformers 5.23.0": the section's model library in the verified record


def recipe_history(reports: list[dict], recipe: str, verified: str | None) -> RecipeHistory | None:
    """The history of one recipe, or None when the release the site is built with has no record of it."""
    if verified not in [record_release(report) for report in reports]:
        return None
    pinned = verified_index(reports, verified)
    if recipe not in reports[pinned]["recipes"]:
        return None
    expectations = expectations_of(reports, recipe)

    def same_as_pinned(index: int) -> bool:
        entry = reports[index]["recipes"].get(recipe)
        return (entry is not None and entry["outcome"] == reports[pinned]["recipes"][recipe]["outcome"]
                and all(e.status(index) == e.status(pinned) for e in expectations))

    first = pinned
    while first > 0 and same_as_pinned(first - 1):
        first -= 1
    differing = [(e.key, phrase(e, reports, pinned)) for e in expectations
                 if len({e.status(i) for i in range(len(reports))}) > 1]
    release, error = new_in(reports, recipe, pinned) or (None, "")
    environment = reports[pinned]["environment"]
    libraries = ", ".join(f"{name} {environment.get(name, 'not recorded')}"
                          for name in SECTION_PACKAGES.get(recipe.split("/", 1)[0], ()))
    return RecipeHistory(recipe, record_release(reports[pinned]), reports[pinned]["recorded"], record_release(reports[first]),
                         differing, release, error, libraries)


def history_box(history: RecipeHistory, reports: list[dict]) -> str:
    """The reST box at the top of a recipe page."""
    newest = short(record_release(reports[-1]))
    since = short(history.unchanged_since)
    span = since if since == short(history.verified) else f"{since}–{short(history.verified)}"
    lines = [
        ".. admonition:: Which PyTorch this page holds for",
        "   :class: cookbook-history",
        "",
        f"   Verified with torch {history.verified}" + (f" and {history.libraries}" if history.libraries else "")
        + f" on {history.recorded}. Every expectation of this recipe holds "
        f"unchanged on torch {span}" + (f" (recorded releases: {short(record_release(reports[0]))} to {newest})." if reports else "."),
    ]
    if history.new_in:
        lines += ["", f"   New in torch {short(history.new_in)}: on older releases the recipe stops at its first use of an API "
                      f"they do not have ({literal(history.missing_api)})."]
    if history.differences:
        lines += ["", "   On other releases:", ""]
        for key, text in history.differences[:6]:
            lines.append(f"   - {literal(key[:120])}: {text}")
        if len(history.differences) > 6:
            lines.append(f"   - and {len(history.differences) - 6} more")
    section, name = history.recipe.split("/", 1)
    lines += ["", f"   Details: :ref:`behaviour-{section}-{Path(name).stem}`.", ""]
    return "\n".join(lines) + "\n"


def _cell(cell: dict | None) -> str:
    if cell is None:
        return '<td class="behaviour-absent">absent</td>'
    message = html.escape(cell.get("message", "")).replace("\n", "&#10;")
    title = f' title="{message}"' if message else ""
    return f'<td class="behaviour-{cell["status"]}"{title}>{SYMBOLS[cell["status"]]}</td>'


def _outcome_cell(entry: dict | None) -> str:
    """The cell of the row "the recipe runs" for one release."""
    if entry is None:
        return '<td class="behaviour-absent">absent</td>'
    title = html.escape(entry["message"])
    if entry["outcome"] == NEEDS_LATER_RELEASE:
        return f'<td class="behaviour-needs" title="{title}">needs a later release</td>'
    status = "holds" if entry["outcome"] == "completed" else "failed"
    return f'<td class="behaviour-{status}" title="{title}">{html.escape(entry["outcome"])}</td>'


def _table(reports: list[dict], recipe: str, expectations: list[Expectation]) -> list[str]:
    head = "".join(f"<th>{html.escape(short(record_release(r)))}</th>" for r in reports)
    rows = ['<table class="behaviour-table">', f"<thead><tr><th>expectation</th>{head}</tr></thead>", "<tbody>"]
    outcomes = "".join(_outcome_cell(r["recipes"].get(recipe)) for r in reports)
    rows.append(f'<tr class="behaviour-recipe"><th>the recipe runs</th>{outcomes}</tr>')
    for e in expectations:
        rows.append(f"<tr><td>{html.escape(e.key)}</td>{''.join(_cell(c) for c in e.cells)}</tr>")
    rows += ["</tbody>", "</table>"]
    return [".. raw:: html", ""] + ["   " + row.replace("\n", " ") for row in rows] + [""]


def _visible_lines(text: str) -> list[str]:
    """The lines of an output as a reader sees them: spaces at the end of a line are invisible."""
    return [line.rstrip() for line in text.splitlines()]


def output_changes(reports: list[dict]) -> list[tuple[str, str, str, str, list[str]]]:
    """``(older, newer, recipe, cell, diff lines)`` for each cell whose normalised output differs
    visibly between two consecutive recorded releases (not only by spaces at the end of a line)."""
    changes = []
    for old, new in zip(reports, reports[1:]):
        for recipe in sorted(set(old["recipes"]) & set(new["recipes"])):
            before, after = old["recipes"][recipe].get("outputs", {}), new["recipes"][recipe].get("outputs", {})
            for cell in sorted(set(before) | set(after), key=int):
                lines_before, lines_after = _visible_lines(before.get(cell, "")), _visible_lines(after.get(cell, ""))
                if lines_before != lines_after:
                    diff = list(difflib.unified_diff(lines_before, lines_after, lineterm="", n=0))[2:]
                    diff = [line for line in diff if not line.startswith("@@")]
                    changes.append((record_release(old), record_release(new), recipe, cell, diff))
    return changes


#: The folder, beside ``behaviour.rst`` in the doc's source, of the versions page's section pages.
SECTION_PAGES = "behaviour-by-section"
#: The first line of every page this module writes.
GENERATED = ".. This page is generated from _doc/behaviour/*.json by cookbook/site/behaviour_page.py. Do not edit."
#: What each status of the tables means (both kinds of page say it).
STATUSES = ("*holds* means PyTorch does what the recipe documents, *changed* that it does something else (hover a cell "
            "for the message), *failed* that another error came up, *not reached* that the recipe stopped before it. "
            "A recipe that *needs a later release* stopped at its first use of an API that release does not have (an "
            "import, a name or an argument it does not know yet): it is new, not broken.")


def _differs(expectation: Expectation, reports: list[dict]) -> bool:
    return len({expectation.status(i) for i in range(len(reports))}) > 1


def section_of(recipe: str) -> str:
    return recipe.split("/", 1)[0]


def _ordered_sections(recipes: list[str], sections: dict[str, str] | None) -> list[tuple[str, str]]:
    """``(folder, title)`` of each section the records name: the gallery's order first (``sections``:
    folder to title, as the site lists them), then sections removed since, by name."""
    recorded = {section_of(recipe) for recipe in recipes}
    known = [(name, title) for name, title in (sections or {}).items() if name in recorded]
    return known + [(name, name) for name in sorted(recorded - {name for name, _ in known})]


def render_pages(reports: list[dict], verified: str | None = None, existing: set[str] | None = None,
                 sections: dict[str, str] | None = None) -> dict[str, str]:
    """The versions page and one page per section, as ``{docname: reST}``: ``"behaviour"`` (the releases,
    the recipes about a newer API, and each section with what differs in it) and
    ``"behaviour-by-section/<section>"`` (that section's expectations that differ, its outputs that
    differ, and the table of each of its recipes). One page for all recipes weighed over a megabyte.
    ``existing``: the recipes that exist today (``section/plot_x.py``), the others are shown as
    removed, without a link (None: every recorded recipe exists). ``sections``: the gallery's
    sections, folder to title, in its order (None: by name, titled by folder)."""
    lines = [GENERATED, "", ".. _behaviour:", "", "What changed between PyTorch versions",
             "=====================================", "",
             "Every expectation of every recipe (each sentinel, each check), recorded on each PyTorch release below by "
             f"``make history``: {STATUSES} The pages of this site show the release they were verified with.", ""]
    if not reports:
        return {"behaviour": "\n".join(lines + ["No behaviour record is kept yet.", ""])}
    pinned = verified_index(reports, verified)
    lines += ["Recorded releases:", ""]
    for index, report in enumerate(reports):
        env = report["environment"]
        mark = " (the release this site is verified with)" if index == pinned else ""
        lines.append(f"- **torch {env['torch']}**{mark}: recorded {report['recorded']} with Python {env['python']}, onnx "
                     f"{env['onnx']}, onnxscript {env['onnxscript']}, onnxruntime {env['onnxruntime']}")
    recipes = sorted({name for report in reports for name in report["recipes"]})
    histories = {recipe: expectations_of(reports, recipe) for recipe in recipes}

    newer = [(recipe, found) for recipe in recipes if (found := new_in(reports, recipe, pinned))]
    if newer:
        lines += ["", "Recipes about a newer API", "-------------------------", "",
                  "These recipes stop on older releases at their first use of an API those releases do not have:", ""]
        for recipe, (release, error) in newer:
            lines += [f"- {recipe_link(recipe, existing)}: new in {short(release)} ({literal(error)})", ""]

    changes = output_changes(reports)
    ordered = _ordered_sections(recipes, sections)
    lines += ["", "Section by section", "------------------", "",
              "Each section's page lists its expectations that differ between releases, the output its pages show",
              "differently, and each of its recipes release by release.", ""]
    pages = {}
    for section, title in ordered:
        mine = [recipe for recipe in recipes if section_of(recipe) == section]
        differing = [(recipe, e) for recipe in mine for e in histories[recipe] if _differs(e, reports)]
        changed = [change for change in changes if section_of(change[2]) == section]
        docname = f"{SECTION_PAGES}/{section}"
        lines += [f"- :doc:`{title} <{docname}>`: {len(mine)} recipe(s), {len(differing)} expectation(s) that differ "
                  f"between releases, {len({change[2] for change in changed})} page(s) whose output differs", ""]
        pages[docname] = _section_page(section, title, mine, differing, changed, histories, reports, pinned, existing)
    lines += [".. toctree::", "   :hidden:", ""] + [f"   {docname}" for docname in pages] + [""]
    return {"behaviour": "\n".join(lines) + "\n", **pages}


def _section_page(section: str, title: str, recipes: list[str], differing: list, changes: list, histories: dict,
                  reports: list[dict], pinned: int, existing: set[str] | None) -> str:
    heading = f"{title}, release by release"
    lines = [GENERATED, "", f".. _behaviour-section-{section}:", "", heading, "=" * len(heading), "",
             "What changed between PyTorch versions for the recipes of this section; the releases recorded, and",
             "the recipes about a newer API, are on :ref:`behaviour`. Each expectation (each sentinel, each check)",
             f"was recorded on each release by ``make history``: {STATUSES}", "",
             "Expectations that differ between releases", "-----------------------------------------", ""]
    if not differing:
        lines.append("None: every expectation of this section has the same status on every recorded release.")
    for recipe, e in differing:
        lines += [f"- {recipe_link(recipe, existing)}, {literal(e.key[:160])}: {phrase(e, reports, pinned)}", ""]

    lines += ["", "What a reader sees differently", "------------------------------", "",
              "The captured output of each cell, recorded with each release (normalised: no paths, times, process ids",
              "or addresses), compared between consecutive releases: the pages a new release makes stale even where",
              "no expectation changed.", ""]
    if not changes:
        lines.append("No output of this section differs between consecutive releases.")
    pair = None
    for old, new, recipe, cell, diff in changes:
        if (old, new) != pair:
            pair = (old, new)
            count = len({c[2] for c in changes if (c[0], c[1]) == pair})
            lines += ["", f"**{short(old)} → {short(new)}**: {count} page(s)", ""]
        shown = diff[:MAX_DIFF_LINES] + ([f"... ({len(diff) - MAX_DIFF_LINES} more lines)"] if len(diff) > MAX_DIFF_LINES else [])
        lines += [f"- {recipe_link(recipe, existing)}, cell {cell}:", "", "  .. code-block:: diff", ""]
        lines += ["     " + line for line in shown] + [""]

    lines += ["", "Every recipe, release by release", "--------------------------------", ""]
    for recipe in recipes:
        name = recipe.split("/", 1)[1]
        removed = existing is not None and recipe not in existing
        lines += [f".. _behaviour-{section}-{Path(name).stem}:", "", recipe, "~" * len(recipe), "",
                  "The recipe was removed; its history is kept as it was recorded." if removed
                  else f"The recipe: {recipe_link(recipe, existing)}.", ""]
        found = new_in(reports, recipe, pinned)
        if found:
            lines += [f"New in torch {short(found[0])}: older releases stop at its first use of an API they do not have "
                      f"({literal(found[1])}).", ""]
        differing_here = [(e.key, phrase(e, reports, pinned)) for e in histories[recipe] if _differs(e, reports)]
        for key, text in differing_here:
            lines += [f"- {literal(key[:160])}: {text}", ""]
        if not differing_here:
            lines += ["Every expectation holds the same way on every recorded release.", ""]
        lines += _table(reports, recipe, histories[recipe])
    return "\n".join(lines) + "\n"


def write_pages(srcdir: Path, folder: Path, verified: str | None = None, existing: set[str] | None = None,
                sections: dict[str, str] | None = None) -> int:
    """Write the versions pages (:func:`render_pages`) under ``srcdir`` where their content changed,
    and delete the section pages of sections the records no longer name; how many records they
    show. Each page's first line, a comment, holds the digest of what they were made from (the
    records, the verified release, the recipes that exist, the sections, the renames, the cookbook's
    code): a build whose inputs did not change neither parses the records nor renders the pages again."""
    records = sorted(folder.glob("*.json"))
    digest = hashlib.sha256(repr((verified, sorted(existing) if existing is not None else None, sorted(RENAMED.items()),
                                  list((sections or {}).items()), code_version())).encode())
    for record in records:
        digest.update(record.name.encode() + record.read_bytes())
    stamp = f".. cookbook-inputs: {digest.hexdigest()}\n"
    main = srcdir / "behaviour.rst"
    written = sorted((srcdir / SECTION_PAGES).glob("*.rst"))
    if _current(main, written, stamp):
        return len(records)
    reports = load_reports(folder)
    pages = render_pages(reports, verified, existing, sections)
    for docname, text in pages.items():
        target = srcdir / f"{docname}.rst"
        content = stamp + "\n" + text
        if not target.exists() or target.read_text(encoding="utf-8") != content:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
    for path in written:
        if f"{SECTION_PAGES}/{path.stem}" not in pages:
            path.unlink()
    return len(reports)


def _current(main: Path, written: list[Path], stamp: str) -> bool:
    """Whether the pages were made from the inputs of ``stamp``: the main page and each section page
    start with it, and the section pages are exactly those the main page lists."""
    if not main.exists():
        return False
    text = main.read_text(encoding="utf-8")
    listed = {line.strip() for line in text.splitlines() if line.startswith(f"   {SECTION_PAGES}/")}
    if not text.startswith(stamp) or listed != {f"{SECTION_PAGES}/{path.stem}" for path in written}:
        return False
    for path in written:
        with path.open(encoding="utf-8") as page:
            if page.readline() != stamp:
                return False
    return True
