"""The public reports each recipe answers, on the site (the corpus of :mod:`cookbook.reports`).

- The troubleshooting page ends with a coverage table: how many of the reported errors a recipe answers,
  under each recipe the reports it answers ("reported in pytorch/pytorch#NNN"), then the reports no
  recipe answers yet, by kind, each with why.
- Each recipe page gets a short list of the reports it answers, before its related recipes.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from cookbook.recipes import title_of
from cookbook.reports import Report, coverage, reports_by_recipe
from cookbook.site.rst import gallery_label, ref

REPORTS_BEGIN = ".. cookbook-reports-begin"
REPORTS_END = ".. cookbook-reports-end"
PROTOCOL = "tests/data/reports/PROTOCOL.md"
_SPECIAL = set("\\`*_|[]<>")


def plain(text: str) -> str:
    """``text`` as reST that shows exactly these characters (inline markup escaped)."""
    return "".join("\\" + char if char in _SPECIAL else char for char in text)


def link(report: Report) -> str:
    """An anonymous hyperlink to the report, shown as ``owner/repo#NNN``."""
    return f"`{report.name.replace('`', '')} <{report.url}>`__"


def recipe_reports_block(answered: list[Report]) -> str:
    """The block a recipe page gets: the public reports it answers (empty when there is none)."""
    if not answered:
        return ""
    lines = [REPORTS_BEGIN, "", ".. rubric:: Reported by readers", "",
             "Errors posted publicly that this recipe answers (the same failure, and a fix that gets past it), "
             "each with its cause as the report's message and traceback show it (the cookbook did not run "
             "the reporters' models):", ""]
    for report in answered:
        lines.append(f"- reported in {link(report)}: {plain(report.cause)}")
    return "\n".join(lines + ["", REPORTS_END, "", ""])


def with_reports(text: str, block: str, before: str) -> str:
    """The generated page ``text`` with ``block`` (replacing an older one) just before the first line that
    starts with ``before``, or before the download links if there is no such line."""
    if REPORTS_BEGIN in text:
        start, end = text.index(REPORTS_BEGIN), text.index(REPORTS_END) + len(REPORTS_END) + 2
        text = text[:start] + text[end:]
    if not block:
        return text
    anchor = text.find("\n" + before)
    if anchor < 0:
        anchor = text.find("\n.. _sphx_glr_download_")
    return text if anchor < 0 else text[: anchor + 1] + block + text[anchor + 1 :]


def coverage_section(reports: list[Report], recipes_dir: Path) -> list[str]:
    """The troubleshooting page's section on the reported errors, as reST lines."""
    if not reports:
        return []
    figures = coverage(reports)
    done, total = figures["all"]
    lines = [
        "",
        "Errors readers reported",
        "-----------------------",
        "",
        f"{total} dynamic-shape export errors that users posted publicly (issues of PyTorch, ExecuTorch, ONNX Script",
        "and of projects that export models), collected with a logged protocol (every query and every result",
        f"looked at, kept or not: ``{PROTOCOL}``). A recipe answers a report when it shows the same failure",
        "mechanism and a fix that would get that user past it. Each cause is what the report's message and",
        "traceback show: the cookbook ran small models built like the reported ones, not the reporters' models.",
        "",
        f"**{done} of {total} ({100 * done / total:.0f}%) are answered by a recipe.**",
        "",
        "Answered by a recipe",
        "~~~~~~~~~~~~~~~~~~~~",
        "",
    ]
    for recipe, answered in sorted(reports_by_recipe(reports).items()):
        source = recipes_dir / recipe
        title = title_of(source.read_text(encoding="utf-8"), default=source.stem)
        lines.append(f"- {ref(title, gallery_label(source.parent.name, source.name))}")
        lines.append("")
        for report in answered:
            lines.append(f"  - reported in {link(report)}: {plain(report.cause)}")
        lines.append("")
    by_kind: dict[str, list[Report]] = defaultdict(list)
    for report in reports:
        if not report.covered:
            by_kind[report.kind].append(report)
    if by_kind:
        lines += ["Not covered yet", "~~~~~~~~~~~~~~~", "",
                  "No recipe answers these reports yet, by kind of error, with why:", ""]
        for kind, uncovered in sorted(by_kind.items(), key=lambda item: (-len(item[1]), item[0])):
            lines.append(f"- **{plain(kind)}** ({len(uncovered)})")
            lines.append("")
            for report in uncovered:
                lines.append(f"  - {link(report)}: {plain(report.why)}")
            lines.append("")
    return lines
