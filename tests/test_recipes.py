"""Every recipe of the gallery, run in a process of its own: one test each, found without a list.

A recipe runs once for both the doc build and this test when it can: the build runs each recipe in
a fresh fork of a zygote, as the harness does (cookbook/site/recipe_pool.py), and records how it
ended. When that record is of this very source, in this environment and with this cookbook code,
and says it passed, the test takes it (``make test`` builds the site first); otherwise, or with
``COOKBOOK_RERUN_RECIPES=1``, the harness runs the recipe itself. A recipe that failed in the build
always runs again here, so that its report holds the harness's words and the recipe's output."""

import os

import pytest

from cookbook import RECIPES_DIR
from cookbook.harness.lint import lint_helper_copies, lint_recipe
from cookbook.harness.runner import run_recipe
from cookbook.recipes import discover_recipes
from cookbook.site.execution import passed_in_build, record_of

RECIPES = discover_recipes()


def _id(path):
    return str(path.relative_to(RECIPES_DIR))


def test_recipes_are_found():
    assert RECIPES, f"no recipe found under {RECIPES_DIR}"


@pytest.mark.runs_recipe
@pytest.mark.parametrize("recipe", RECIPES, ids=_id)
def test_recipe_runs(recipe, record_property):
    """The recipe passes, and reaches no network (cookbook.network: both zygotes guard the sockets,
    and an attempt that the recipe swallowed is still noted)."""
    seconds = None if os.environ.get("COOKBOOK_RERUN_RECIPES") else passed_in_build(recipe)
    if seconds is not None:  # it passed in the doc build, in a process of its own
        record_property("recipe_seconds", seconds)
        attempts = record_of(recipe)["network"]
    else:
        result = run_recipe(recipe)
        # The recipe's own time, for the slowest-recipes summary (tests/plugins/sharding.py): the test's
        # time also holds the start of the worker's zygote when it is the worker's first recipe.
        record_property("recipe_seconds", result.duration)
        if not result.passed:
            pytest.fail(result.report(), pytrace=False)
        attempts = result.network
    assert attempts == [], f"{_id(recipe)} tried to reach the network (refused): {attempts}"


@pytest.mark.parametrize("recipe", RECIPES, ids=_id)
def test_recipe_lint(recipe):
    problems = lint_recipe(recipe)
    assert not problems, "\n".join(problems)


def test_copies_of_a_helper_are_identical_across_recipes():
    problems = lint_helper_copies(RECIPES)
    assert not problems, "\n".join(problems)

