"""The doc build on a small throwaway site: it fails on a fired sentinel, naming the recipe and the
sentinel, and it re-runs recipes exactly when it must (a changed recipe, a changed environment)."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from cookbook import REPO_ROOT
from cookbook.environment import build_fingerprint

RECIPE = '''
"""
A throwaway recipe
==================

It documents that dividing by zero raises.
"""

try:
    value = 1 / {divisor}
    raise AssertionError("dividing by zero now works: update this recipe")
except ZeroDivisionError as e:
    print(e)
'''


@pytest.fixture
def site(tmp_path):
    """A copy of the site's configuration with one section and one recipe."""
    for name in ("conf.py", "cookbook"):
        source = REPO_ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / name)
    shutil.copytree(REPO_ROOT / "_doc", tmp_path / "_doc", ignore=shutil.ignore_patterns("auto_recipes", "behaviour"))
    section = tmp_path / "recipes" / "constraints"
    section.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "recipes" / "README.rst", tmp_path / "recipes" / "README.rst")
    (section / "README.rst").write_text("Constraints\n-----------\n\nA section.\n")
    (section / "plot_divide.py").write_text(RECIPE.format(divisor=0))
    return tmp_path


def build(site):
    process = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-c", ".", "-W", "--keep-going", "_doc", "_build/html"],
        cwd=site, capture_output=True, text=True, timeout=600,
    )
    return process.returncode, process.stdout + process.stderr


def test_fired_sentinel_fails_the_build_naming_recipe_and_sentinel(site):
    (site / "recipes" / "constraints" / "plot_divide.py").write_text(RECIPE.format(divisor=2))
    code, output = build(site)
    assert code != 0
    assert "plot_divide.py" in output
    assert "AssertionError: dividing by zero now works: update this recipe" in output


def test_build_reruns_a_recipe_only_when_it_or_the_environment_changed(site):
    code, output = build(site)
    assert code == 0 and "executed 1 out of 1 file" in output, output
    recorded = site / "_doc" / "auto_recipes" / ".build-environment.json"
    assert json.loads(recorded.read_text()) == build_fingerprint()
    page = site / "_doc" / "auto_recipes" / "constraints" / "plot_divide.rst"
    assert "division by zero" in page.read_text()

    code, output = build(site)  # nothing changed: nothing runs
    assert code == 0, output
    assert "executed 0 out of 0 files" in output and "excluding 1 file that had previously been run" in output, output

    # A new torch (simulated: the previous build recorded another version) makes every recipe run again.
    previous = build_fingerprint() | {"torch": "2.12.0"}
    recorded.write_text(json.dumps(previous))
    code, output = build(site)
    assert code == 0, output
    assert "torch 2.12.0 -> " in output and "executed 1 out of 1 file" in output, output
    assert json.loads(recorded.read_text()) == build_fingerprint()
