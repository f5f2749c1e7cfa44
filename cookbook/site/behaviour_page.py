"""The "What changed between PyTorch versions" page, built from the JSON files of
``_doc/behaviour/`` (see :mod:`cookbook.harness.behaviour` for their format)."""

from __future__ import annotations

import html
import json
from pathlib import Path

from cookbook.site.rst import gallery_label, literal, ref

SYMBOLS = {"holds": "✓ holds", "changed": "✗ changed", "failed": "! failed", "not-reached": "– not reached"}


def _torch_order(report: dict):
    version = report["environment"]["torch"].split("+")[0]
    return tuple(int(part) if part.isdigit() else 0 for part in version.split(".")), report["environment"]["torch"]


def load_reports(folder: Path) -> list[dict]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))]


def _title(text: str) -> str:
    """A hover text: escaped, and on one source line (the table sits in an indented raw block)."""
    return f' title="{html.escape(text).replace(chr(10), "&#10;")}"' if text else ""


def _cell(entry: dict | None) -> str:
    if entry is None:
        return '<td class="behaviour-absent">absent</td>'
    status = entry["status"]
    return f'<td class="behaviour-{status}"{_title(entry.get("message", ""))}>{SYMBOLS[status]}</td>'


def render(reports: list[dict]) -> str:
    lines = [
        ".. This page is generated from _doc/behaviour/*.json by cookbook/site/behaviour_page.py. Do not edit.",
        "",
        ".. _behaviour:",
        "",
        "What changed between PyTorch versions",
        "=====================================",
        "",
        "Every expectation of every recipe (each sentinel, each check), recorded in each environment below",
        "by ``make behaviour-report``: *holds* means PyTorch still does what the recipe documents, *changed*",
        "that it does something else now (hover a cell for the new message), *failed* that another error",
        "came up. The pages of this site show the first column's environment.",
        "",
    ]
    if not reports:
        return "\n".join(lines + ["No behaviour report is recorded yet.", ""])
    reports = sorted(reports, key=_torch_order)
    lines += ["Environments:", ""]
    for report in reports:
        env = report["environment"]
        lines.append(f"- **torch {env['torch']}**: recorded {report['recorded']} with Python {env['python']}, onnx "
                     f"{env['onnx']}, onnxscript {env['onnxscript']}, onnxruntime {env['onnxruntime']}")
    recipes = sorted({name for report in reports for name in report["recipes"]})
    head = "".join(f"<th>torch {html.escape(r['environment']['torch'])}<br><small>{r['recorded']}</small></th>"
                   for r in reports)
    table = ['<table class="behaviour-table">', f"<thead><tr><th>recipe / expectation</th>{head}</tr></thead>", "<tbody>"]
    changes = []
    for recipe in recipes:
        entries = [report["recipes"].get(recipe) for report in reports]
        outcome_cells = "".join(
            '<td class="behaviour-absent">absent</td>' if e is None else
            f'<td class="behaviour-{"holds" if e["outcome"] == "completed" else "failed"}"'
            f'{_title(e["message"])}>{html.escape(e["outcome"])}</td>'
            for e in entries)
        table.append(f'<tr class="behaviour-recipe"><th>{html.escape(recipe)}</th>{outcome_cells}</tr>')
        keys = sorted({key for e in entries if e for key in e["expectations"]},
                      key=lambda key: min(e["expectations"][key]["line"] for e in entries if e and key in e["expectations"]))
        for key in keys:
            cells = [None if e is None else e["expectations"].get(key) for e in entries]
            table.append(f"<tr><td>{html.escape(key)}</td>{''.join(_cell(c) for c in cells)}</tr>")
            statuses = {c["status"] if c else "absent" for c in cells}
            if len(statuses) > 1:
                changes.append((recipe, key, reports, cells))
    table += ["</tbody>", "</table>"]
    lines += ["", "Expectations that differ between the environments", "-------------------------------------------------", ""]
    if not changes:
        lines.append("None: every expectation has the same status in every environment.")
    for recipe, key, reports_, cells in changes:
        section, name = recipe.split("/", 1)
        label = gallery_label(section, name)
        lines += [f"- {ref(recipe, label)}: {literal(key)}", ""]
        for report, cell in zip(reports_, cells):
            status = cell["status"] if cell else "absent"
            message = " ".join((cell or {}).get("message", "").split())
            if len(message) > 400:
                message = message[:397] + "..."
            detail = f": {literal(message)}" if message else ""
            lines.append(f"  - torch {report['environment']['torch']}: {status}{detail}")
        lines.append("")
    lines += ["", "All expectations", "----------------", "", ".. raw:: html", ""]
    lines += ["   " + row for row in table]
    return "\n".join(lines) + "\n"


def write_page(target: Path, folder: Path) -> int:
    reports = load_reports(folder)
    content = render(reports)
    if not target.exists() or target.read_text(encoding="utf-8") != content:
        target.write_text(content, encoding="utf-8")
    return len(reports)
