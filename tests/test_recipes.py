"""Every recipe of the gallery, run in a process of its own: one test each, found without a list."""

import pytest

from cookbook import RECIPES_DIR
from cookbook.harness.lint import lint_helper_copies, lint_recipe
from cookbook.harness.runner import run_recipe
from cookbook.recipes import discover_recipes

RECIPES = discover_recipes()


def _id(path):
    return str(path.relative_to(RECIPES_DIR))


def test_recipes_are_found():
    assert RECIPES, f"no recipe found under {RECIPES_DIR}"


@pytest.mark.runs_recipe
@pytest.mark.parametrize("recipe", RECIPES, ids=_id)
def test_recipe_runs(recipe, record_property):
    result = run_recipe(recipe)
    # The recipe's own time, for the slowest-recipes summary (tests/plugins/sharding.py): the test's
    # time also holds the start of the worker's zygote when it is the worker's first recipe.
    record_property("recipe_seconds", result.duration)
    if not result.passed:
        pytest.fail(result.report(), pytrace=False)


@pytest.mark.parametrize("recipe", RECIPES, ids=_id)
def test_recipe_lint(recipe):
    problems = lint_recipe(recipe)
    assert not problems, "\n".join(problems)


def test_copies_of_a_helper_are_identical_across_recipes():
    problems = lint_helper_copies(RECIPES)
    assert not problems, "\n".join(problems)

