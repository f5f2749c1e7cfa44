"""What README.md states that the code could contradict: each figure it gives is compared with
the code or the repository, so that a change of either fails here. Measured times are not stated
in it (DEVELOPERS.md's dated performance note holds them)."""

import os
import re
import subprocess
import sys

import pytest

from cookbook import REPO_ROOT, RECIPES_DIR
from cookbook.harness.history import RELEASES
from cookbook.recipes import discover_recipes

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.reads_named_recipes
def test_the_sentinel_shown_failing_is_at_the_line_the_readme_gives():
    (recipe, line), = re.findall(r"^\s*(recipes/\S+\.py):(\d+): a sentinel fired", README, re.MULTILINE)
    message = re.search(r"^\s*AssertionError: (.+)$", README, re.MULTILINE).group(1)
    source = (REPO_ROOT / recipe).read_text(encoding="utf-8").splitlines()
    assert f'raise AssertionError("{message}")' in source[int(line) - 1], (
        f"README.md shows {recipe}:{line}, where the recipe has: {source[int(line) - 1].strip()!r}")


def test_the_time_limit_the_readme_gives_is_the_default_of_the_harness_and_the_build():
    stated = set(re.findall(r"`COOKBOOK_RECIPE_TIMEOUT`, (\d+) s", README))
    assert stated, "README.md no longer states the time limit: remove this test"
    code = ("from cookbook.harness.runner import DEFAULT_TIMEOUT; from cookbook.site.execution import time_limit; "
            "print(DEFAULT_TIMEOUT, time_limit())")
    env = {name: value for name, value in os.environ.items() if name != "COOKBOOK_RECIPE_TIMEOUT"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
    assert {f"{float(value):g}" for value in done.stdout.split()} == stated


def test_the_releases_the_readme_lists_are_those_make_history_records():
    listed = re.search(r"`cookbook/harness/history.py` \(([\d., ]+)\)", README).group(1)
    assert tuple(listed.split(", ")) == RELEASES


def test_the_torch_the_readme_names_is_the_pinned_one():
    pinned = re.search(r"^torch==(\S+)$", (REPO_ROOT / "requirements-docs.txt").read_text(), re.MULTILINE).group(1)
    assert f"`torch=={pinned}`" in README and f"pinned torch ({pinned})" in README


def test_every_count_of_recipes_or_sections_the_readme_states_is_true():
    """A count is checked; the number of tests changes with every change of the tests, so the
    README does not state it."""
    assert not re.findall(r"\b\d+ tests\b", README), "README.md states a number of tests"
    real = {"recipes": len(discover_recipes()),
            "sections": len({recipe.parent for recipe in discover_recipes(RECIPES_DIR)})}
    for number, what in re.findall(r"\b(\d+) (recipes|sections)\b", README):
        assert int(number) == real[what], f"README.md says {number} {what}; there are {real[what]}"
