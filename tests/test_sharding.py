"""`make test SHARD=i/n`: stable, balanced shards that together run every test exactly once.

The plugin's hooks run in real pytest sessions (pytester, each in a process of its own); its
packing (assign_shards) is checked on its own, with stand-ins for pytest's items, for the cases
a real session would take long to set up (balance, order of collection)."""

import json
import os
import re

import pytest

from types import SimpleNamespace

from cookbook import RECIPES_DIR, REPO_ROOT
from cookbook.recipes import discover_recipes
from plugins.sharding import assign_shards, parse_shard, recipe_times


class FakeItem:
    """What the plugin reads of a pytest item: its id, its markers, its parameters."""

    def __init__(self, nodeid, needs_site=False, recipe=None):
        self.nodeid, self.needs_site = nodeid, needs_site
        self.callspec = SimpleNamespace(params={"recipe": recipe})
        self.runs_recipe = recipe is not None

    def get_closest_marker(self, name):
        return (name == "needs_site" and self.needs_site) or (name == "runs_recipe" and self.runs_recipe) or None


def items():
    recipes = [FakeItem(f"tests/test_recipes.py::test_recipe_runs[{i}]", recipe=str(i)) for i in range(30)]
    site = [FakeItem(f"tests/test_site.py::test_{i}", needs_site=True) for i in range(5)]
    return recipes + site + [FakeItem(f"tests/test_other.py::test_{i}") for i in range(10)]


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_cover_every_test_exactly_once_and_are_balanced(count):
    times = {str(i): float(1 + i % 7) for i in range(30)}
    chosen = assign_shards(items(), count, times)
    assert sorted(chosen) == sorted(item.nodeid for item in items())
    assert set(chosen.values()) == set(range(1, count + 1))
    assert all(chosen[item.nodeid] == 1 for item in items() if item.needs_site)
    loads = [sum(times.get(n.split("[")[1].rstrip("]"), 0.5) if "[" in n else 0.5
                 for n, shard in chosen.items() if shard == s) for s in range(1, count + 1)]
    heaviest_test = 7.0
    if count > 1:
        assert max(loads) - min(loads) <= heaviest_test + 2.5, loads  # the site tests are pinned to shard 1


def test_recipe_tests_are_weighed_by_their_parameter_not_their_id():
    renamed = [FakeItem(f"tests/test_x.py::test_{i}", recipe=str(i)) for i in range(4)]
    chosen = assign_shards(renamed, 2, {"0": 9.0, "1": 1.0, "2": 1.0, "3": 1.0})
    assert [chosen[item.nodeid] for item in renamed] == [1, 2, 2, 2]


def test_shards_are_stable_whatever_the_collection_order():
    forward = assign_shards(items(), 3, {})
    backward = assign_shards(list(reversed(items())), 3, {})
    assert forward == backward


def test_the_real_recipes_are_split_across_shards():
    recipes = [FakeItem(f"tests/test_recipes.py::test_recipe_runs[{p.parent.name}/{p.name}]", recipe=p) for p in discover_recipes()]
    chosen = assign_shards(recipes, 2)
    assert sorted(chosen.values()).count(1) >= len(recipes) // 3 and sorted(chosen.values()).count(2) >= len(recipes) // 3


@pytest.mark.parametrize("text", ["0/2", "3/2", "a/b", "2"])
def test_bad_shard_is_refused_with_a_clear_message(text):
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


SESSION_TESTS = """
import pytest

@pytest.mark.runs_recipe
@pytest.mark.parametrize("recipe", ["s/plot_slow.py"] + [f"s/plot_{i}.py" for i in range(7)])
def test_recipe(recipe):
    pass

@pytest.mark.needs_site
@pytest.mark.parametrize("page", ["a", "b", "c"])
def test_site(page):
    pass

@pytest.mark.parametrize("n", range(5))
def test_other(n):
    pass
"""
# The plugin as tests/conftest.py loads it, with its recorded times and its report in the session's folder.
SESSION_CONFTEST = """
from pathlib import Path

import plugins.sharding as sharding

sharding.TIMES_FILE = Path(__file__).parent / "recipe-times.json"
sharding.DURATIONS_REPORT = Path(__file__).parent / "recipe-durations.json"
pytest_plugins = ["plugins.sharding"]
"""


@pytest.fixture
def session(pytester, monkeypatch):
    """Runs pytest (in a process of its own) on SESSION_TESTS: ``session(*args)`` gives the
    process's result and the ids of the tests that passed."""
    pytester.makepyfile(test_sample=SESSION_TESTS)
    pytester.makeconftest(SESSION_CONFTEST)
    (pytester.path / "recipe-times.json").write_text(json.dumps({"s/plot_slow.py": 30.0}))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")]))

    def run(*args):
        result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider", "-p", "no:xdist", *args)
        passed = re.findall(r"^(test_sample\.py::\S+) PASSED", result.stdout.str(), re.MULTILINE)
        return result, passed
    return run


@pytest.mark.parametrize("count", [2, 3])
def test_in_a_real_session_the_shards_run_every_test_exactly_once(session, count):
    _, everything = session()
    assert len(everything) == 16
    shards = [session(f"--shard={index}/{count}")[1] for index in range(1, count + 1)]
    assert sorted(test for shard in shards for test in shard) == sorted(everything)
    assert {test for test in everything if "test_site[" in test} <= set(shards[0]), "the site tests go to shard 1"
    slow = "test_sample.py::test_recipe[s/plot_slow.py]"
    heavy_shard = next(shard for shard in shards if slow in shard)
    assert not any("test_recipe[" in test for test in heavy_shard if test != slow), (
        "the recorded 30 s recipe shares its shard with another recipe")


def test_a_real_session_reports_the_slowest_recipes_and_writes_their_durations(session, pytester):
    result, _ = session()
    result.stdout.fnmatch_lines(["*slowest recipes*", "*s/plot_slow.py", "8 recipes, * s of recipe time in all"])
    durations = json.loads((pytester.path / "recipe-durations.json").read_text())
    assert sorted(durations) == sorted(["s/plot_slow.py"] + [f"s/plot_{i}.py" for i in range(7)])


def test_a_real_session_refuses_a_bad_shard(session):
    result, passed = session("--shard=3/2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and passed == []
    assert "ERROR: --shard 3/2: i must be between 1 and n" in result.stderr.str(), result.stderr.str()


@pytest.mark.reads_named_recipes
def test_the_recorded_times_weigh_every_recipe_and_only_existing_ones():
    """A recipe missing from tests/recipe-times.json weighs DEFAULT_RECIPE_SECONDS, whatever it takes:
    refresh the file from _build/test-results/recipe-durations.json after adding or renaming one."""
    recipes = {str(path.relative_to(RECIPES_DIR)) for path in discover_recipes(RECIPES_DIR)}
    recorded = set(recipe_times())
    assert not recipes - recorded, f"not in tests/recipe-times.json: {sorted(recipes - recorded)}"
    assert not recorded - recipes, f"in tests/recipe-times.json but not a recipe: {sorted(recorded - recipes)}"
