"""Shared test set-up: sharding for CI, and the slowest recipes at the end of the run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cookbook.sharding import assign_shards, parse_shard  # noqa: E402

_recipe_durations: dict[str, float] = {}


def pytest_addoption(parser):
    parser.addoption(
        "--shard",
        default=None,
        help="run one part of the tests, e.g. 2/3: shards are stable and balanced by the recipes' recorded times",
    )


def pytest_collection_modifyitems(config, items):
    shard = config.getoption("--shard")
    if not shard:
        return
    index, count = parse_shard(shard)
    chosen = assign_shards(items, count)
    selected = [item for item in items if chosen[item.nodeid] == index]
    config.hook.pytest_deselected(items=[item for item in items if chosen[item.nodeid] != index])
    items[:] = selected


def pytest_runtest_logreport(report):
    if report.when == "call" and "test_recipe_runs[" in report.nodeid:
        _recipe_durations[report.nodeid.split("[", 1)[1].rstrip("]")] = report.duration


def pytest_terminal_summary(terminalreporter):
    if not _recipe_durations:
        return
    slowest = sorted(_recipe_durations.items(), key=lambda item: -item[1])[:10]
    terminalreporter.section("slowest recipes")
    for recipe, seconds in slowest:
        terminalreporter.write_line(f"{seconds:6.2f} s  {recipe}")
    total = sum(_recipe_durations.values())
    terminalreporter.write_line(f"{len(_recipe_durations)} recipes, {total:.1f} s of recipe time in all")
    report = ROOT / "_build" / "test-results" / "recipe-durations.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(dict(sorted(_recipe_durations.items())), indent=1) + "\n")
