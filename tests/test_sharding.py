"""`make test SHARD=i/n`: stable, balanced shards that together run every test exactly once."""

import pytest

from types import SimpleNamespace

from cookbook.recipes import discover_recipes
from plugins.sharding import assign_shards, parse_shard


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
