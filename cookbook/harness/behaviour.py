"""The behaviour tracker: record every expectation of every recipe, not only the first that breaks.

In the normal run a fired sentinel stops its recipe, so a maintainer learns of one change at a
time. The recording mode (:mod:`cookbook.harness.recording`) runs each recipe on an instrumented
copy of its syntax tree, which records each sentinel and each top-level ``assert`` and goes on,
and notes where each cell's output starts.

An expectation never reached (the recipe stopped earlier) is ``not-reached``. A recipe that stopped
at its first use of an API the release does not have yet is ``needs-later-release``, not a failure
(:func:`needs_later_release` says how it is recognised). Each expectation is
keyed by its kind and its text (the sentinel's message, the assert's source), so that keys survive
edits that move lines.

The JSON file of one environment (``_doc/behaviour/<key>.json``, format 2)::

    {"format": 2,
     "recorded": "2026-11-26",
     "environment": {"python": "3.11.7", "torch": "2.13.0+cpu", "onnx": ..., "onnxscript": ..., "onnxruntime": ...},
     "recipes": {
       "constraints/plot_dx_plus_dy.py": {
         "outcome": "completed",            # or "needs-later-release", or the runner's verdict (exception, timeout, ...)
         "message": "",                     # the runner's message when the outcome is not completed
         "expectations": {
           "sentinel: Dim + Dim now works: update this recipe": {
             "line": 49, "status": "holds", "expects": "NotImplementedError", "message": ""},
           ...},
         "outputs": {"1": "...", "2": "..."}}}}   # each cell's output as its page shows it (what the
                                                  # recipe prints, no log line), normalised (no paths, times, pids)

Commands::

    python -m cookbook.harness.behaviour record [--out _doc/behaviour]   # this environment's JSON
    python -m cookbook.harness.behaviour compare BASE.json NEW.json       # exit 1 and list what changed
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cookbook import BEHAVIOUR_DIR, RECIPES_DIR
from cookbook.environment import DOCUMENTED_PACKAGES, MODEL_LIBRARIES, NEEDS_LATER_RELEASE, record_release, versions
from cookbook.output_paths import normalise_message, normalise_output
from cookbook.harness.runner import Zygote, run_recipe
from cookbook.recipes import SECTION_PACKAGES, discover_recipes, imports_of, parsed

FORMAT = 2
STATUSES = ("holds", "changed", "failed", "not-reached")
DEFAULT_DIR = BEHAVIOUR_DIR

#: What using an API that a release lacks raises: a missing module or name (``ImportError``,
#: ``ModuleNotFoundError``, ``AttributeError``), or an argument of a type it does not take yet
#: (``TypeError``: ``dynamic_shapes=ShapesSpec(...)`` on a release whose export knows only ``Dim``).
MISSING_API_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "AttributeError", "TypeError"})
#: How the runner's message names an exception raised outside any ``try`` of the recipe.
_RAISED_BY_THE_RECIPE = re.compile(r": the recipe raised\n\s+([\w.]+): ")


def needs_later_release(kind: str, message: str, expectations: dict[str, dict]) -> bool:
    """Whether a recipe stopped at its first use of an API its release does not have yet.

    The rule is explicit and narrow: the run ended on an exception raised outside any ``try`` of
    the recipe (not a sentinel's, not a check's), of one of :data:`MISSING_API_ERRORS`, before
    any expectation of the recipe was reached. A recipe about a new API therefore makes its first
    use of it (its import, its first call) before its first ``assert`` or sentinel. Anything else,
    a ``TypeError`` after an expectation included, stays a failure."""
    if kind != "exception" or any(entry["status"] != "not-reached" for entry in expectations.values()):
        return False
    match = _RAISED_BY_THE_RECIPE.search(message)
    return bool(match) and match.group(1) in MISSING_API_ERRORS


def recorded_outcome(result) -> str:
    """The ``outcome`` of a recipe's record: ``completed``, ``needs-later-release`` or the runner's verdict."""
    if result.passed:
        return "completed"
    if needs_later_release(result.kind, result.message, result.expectations):
        return NEEDS_LATER_RELEASE
    return result.kind


# --------------------------------------------------------------------------------------------
# Recording and comparing
# --------------------------------------------------------------------------------------------


def environment_key(environment: dict[str, str]) -> str:
    parts = [f"{name}-{environment.get(name, 'none')}" for name in (*DOCUMENTED_PACKAGES, "python")]
    return re.sub(r"[^\w.+-]", "_", "_".join(parts))


def record(out_dir: Path, recipes: list[Path] | None = None, jobs: int = os.cpu_count() or 1) -> Path:
    """Record every recipe in recording mode into this environment's JSON; ``jobs`` recipes at a
    time, each worker thread with a zygote of its own (each recipe still runs alone in its process)."""
    report = {
        "format": FORMAT,
        "recorded": datetime.date.today().isoformat(),
        "environment": versions(DOCUMENTED_PACKAGES + MODEL_LIBRARIES),
        "recipes": {},
    }
    local = threading.local()

    def run(recipe: Path):
        if not hasattr(local, "zygote"):
            local.zygote = Zygote()
            zygotes.append(local.zygote)
        return recipe, run_recipe(recipe, record=True, zygote=local.zygote)

    zygotes: list[Zygote] = []
    recipes = recipes or discover_recipes()
    os.environ["COOKBOOK_PARALLEL_RUNS"] = str(max(1, jobs))  # read by each zygote as it starts
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = list(pool.map(run, recipes))
    finally:
        for zygote in zygotes:
            zygote.close()
    for recipe, result in results:
        resolved = Path(recipe).resolve()
        name = str(resolved.relative_to(RECIPES_DIR)) if RECIPES_DIR in resolved.parents else str(recipe)
        outcome = recorded_outcome(result)
        message = "" if result.passed else normalise_message(result.message.split("\nVersions:")[0])
        unavailable = unavailable_package(Path(recipe), result)
        if unavailable:  # transformers does not run on this torch: the release cannot run the recipe
            outcome, message = NEEDS_LATER_RELEASE, f"{unavailable} cannot be imported with this torch: {message}"
        report["recipes"][name] = {
            "outcome": outcome,
            "message": message,
            "expectations": {key: dict(expectation, message=normalise_message(expectation.get("message", "")))
                             for key, expectation in result.expectations.items()},
            "outputs": {cell: normalise_output(text) for cell, text in result.outputs.items()},
        }
        counts = {status: sum(e["status"] == status for e in result.expectations.values()) for status in STATUSES}
        print(f"{name}: {outcome}; " + ", ".join(f"{n} {s}" for s, n in counts.items() if n), flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{environment_key(report['environment'])}.json"
    for older in out_dir.glob("*.json"):  # one record per torch release: the newest replaces the others
        if older != target and record_release(json.loads(older.read_text())) == record_release(report):
            older.unlink()
    target.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return target


def unavailable_package(recipe: Path, result) -> str | None:
    """The section's package (transformers) whose import stopped ``recipe``, if that is how it ended."""
    if result.passed or result.kind != "exception" or result.line is None:
        return None
    section_packages = {package for packages in SECTION_PACKAGES.values() for package in packages}
    imported_there = {name.split(".")[0] for line, name, level in imports_of(parsed(recipe.read_text(encoding="utf-8")))
                      if line == result.line and not level}
    found = sorted(imported_there & section_packages)
    return ", ".join(found) or None


def differences(base: dict, new: dict) -> list[str]:
    """One line per expectation (or recipe outcome) whose status differs from ``base`` to ``new``."""
    lines = []
    for recipe in sorted(set(base["recipes"]) | set(new["recipes"])):
        old_recipe, new_recipe = base["recipes"].get(recipe), new["recipes"].get(recipe)
        if old_recipe is None or new_recipe is None:
            lines.append(f"{recipe}: {'new recipe' if old_recipe is None else 'recipe removed'}")
            continue
        if old_recipe["outcome"] != new_recipe["outcome"]:
            lines.append(f"{recipe}: {old_recipe['outcome']} -> {new_recipe['outcome']}: {new_recipe['message']}")
        for key in sorted(set(old_recipe["expectations"]) | set(new_recipe["expectations"])):
            old = old_recipe["expectations"].get(key, {}).get("status", "absent")
            now = new_recipe["expectations"].get(key, {}).get("status", "absent")
            if old != now:
                message = new_recipe["expectations"].get(key, {}).get("message", "")
                message = " ".join(message.split())
                lines.append(f"{recipe}: [{key}] {old} -> {now}" + (f": {message[:300]}" if message else ""))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cookbook.harness.behaviour", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    record_parser = commands.add_parser("record", help="run every recipe in recording mode and write this environment's JSON")
    record_parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    record_parser.add_argument("recipes", nargs="*", type=Path)
    compare_parser = commands.add_parser("compare", help="list the expectations whose status differs; exit 1 if any")
    compare_parser.add_argument("base", type=Path)
    compare_parser.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    if args.command == "record":
        target = record(args.out, args.recipes or None)
        print(f"written: {target}")
        return 0
    lines = differences(json.loads(args.base.read_text()), json.loads(args.new.read_text()))
    print("\n".join(lines) if lines else "no expectation changed")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
