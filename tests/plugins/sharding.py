"""pytest plugin: split the tests into n stable, balanced shards for CI (``make test SHARD=i/n``),
and report the slowest recipes at the end of a run.

A recipe test is one marked ``runs_recipe`` whose ``recipe`` parameter is the recipe's path. It
weighs what that recipe took last time it was measured (``tests/recipe-times.json``, refreshed by
copying ``_build/test-results/recipe-durations.json`` after a full run); a recipe not listed there
weighs :data:`DEFAULT_RECIPE_SECONDS`, any other test :data:`OTHER_TEST_SECONDS`. Tests marked
``needs_site`` go to shard 1, which also builds the site. The assignment is a greedy longest-first
packing over a sorted list: the same tests always land in the same shards, each in exactly one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cookbook import BUILD_DIR, RECIPES_DIR

TIMES_FILE = Path(__file__).resolve().parent.parent / "recipe-times.json"
DURATIONS_REPORT = BUILD_DIR / "test-results" / "recipe-durations.json"
DEFAULT_RECIPE_SECONDS = 3.0
OTHER_TEST_SECONDS = 0.5


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard expects i/n with whole numbers, e.g. 1/3, not {text!r}") from None
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text}: i must be between 1 and n")
    return index, count


def recipe_of(item) -> str | None:
    """``section/plot_x.py`` for a test marked ``runs_recipe``, else None."""
    if item.get_closest_marker("runs_recipe") is None:
        return None
    recipe = Path(item.callspec.params["recipe"])
    return str(recipe.relative_to(RECIPES_DIR)) if recipe.is_absolute() else str(recipe)


def recipe_times() -> dict[str, float]:
    """``{section/plot_x.py: seconds}`` as last measured by the harness (empty if never measured)."""
    return json.loads(TIMES_FILE.read_text()) if TIMES_FILE.exists() else {}


def _weight(item, times: dict[str, float]) -> float:
    recipe = recipe_of(item)
    return OTHER_TEST_SECONDS if recipe is None else times.get(recipe, DEFAULT_RECIPE_SECONDS)


def assign_shards(items, count: int, times: dict[str, float] | None = None) -> dict[str, int]:
    """``{nodeid: shard}`` with shards numbered from 1."""
    if times is None:
        times = recipe_times()
    loads = [0.0] * count
    chosen = {}
    pinned = [item for item in items if item.get_closest_marker("needs_site")]
    free = [item for item in items if not item.get_closest_marker("needs_site")]
    for item in sorted(pinned, key=lambda item: item.nodeid):
        chosen[item.nodeid] = 1
        loads[0] += _weight(item, times)
    for item in sorted(free, key=lambda item: (-_weight(item, times), item.nodeid)):
        shard = min(range(count), key=lambda i: (loads[i], i))
        chosen[item.nodeid] = shard + 1
        loads[shard] += _weight(item, times)
    return chosen


# ------------------------------------------------------------------------------------------
# pytest hooks
# ------------------------------------------------------------------------------------------

_recipe_durations: dict[str, float] = {}


def pytest_addoption(parser):
    parser.addoption(
        "--shard",
        default=None,
        help="run one part of the tests, e.g. 2/3: shards are stable and balanced by the recipes' recorded times",
    )


def pytest_configure(config):
    shard = config.getoption("--shard")
    if shard:
        try:
            parse_shard(shard)
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
    config.addinivalue_line("markers", "runs_recipe: runs the recipe given as its `recipe` parameter (weighs its time)")
    config.addinivalue_line("markers", "needs_site: reads the site built by `make html`; runs in shard 1 with the build")
    config.addinivalue_line("markers", "reads_named_recipes: reads recipes or pages by name; `make bench` leaves it out "
                            "where it measures make test on a selection of the recipes")


def pytest_collection_modifyitems(config, items):
    shard = config.getoption("--shard")
    if not shard:
        return
    index, count = parse_shard(shard)
    chosen = assign_shards(items, count)
    config.hook.pytest_deselected(items=[item for item in items if chosen[item.nodeid] != index])
    items[:] = [item for item in items if chosen[item.nodeid] == index]


def pytest_runtest_setup(item):
    # The report of a test reaches the process that writes the summary (pytest-xdist's controller,
    # which collects nothing) with its user properties: the recipe travels there.
    recipe = recipe_of(item)
    if recipe is not None:
        item.user_properties.append(("recipe", recipe))


def pytest_runtest_logreport(report):
    properties = dict(report.user_properties)
    recipe = properties.get("recipe")
    if report.when == "call" and recipe is not None:
        _recipe_durations[recipe] = properties.get("recipe_seconds", report.duration)


def pytest_terminal_summary(terminalreporter):
    if not _recipe_durations:
        return
    slowest = sorted(_recipe_durations.items(), key=lambda item: -item[1])[:10]
    terminalreporter.section("slowest recipes")
    for recipe, seconds in slowest:
        terminalreporter.write_line(f"{seconds:6.2f} s  {recipe}")
    total = sum(_recipe_durations.values())
    terminalreporter.write_line(f"{len(_recipe_durations)} recipes, {total:.1f} s of recipe time in all")
    DURATIONS_REPORT.parent.mkdir(parents=True, exist_ok=True)
    DURATIONS_REPORT.write_text(json.dumps(dict(sorted(_recipe_durations.items())), indent=1) + "\n")
