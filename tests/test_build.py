"""The doc build on a small throwaway site: it fails on a fired sentinel, naming the recipe and the
sentinel, and it re-runs recipes exactly when it must (a changed recipe, a changed environment)."""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from cookbook import REPO_ROOT
from cookbook.environment import build_fingerprint
from cookbook.site.build import command
from cookbook.output_paths import find_machine_paths

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


PATHS_RECIPE = '''
"""
Paths in outputs
================
"""
import traceback

import torch


class Model(torch.nn.Module):
    def forward(self, x):
        return x.reshape(-1, 3)


print(torch.export.export(Model(), (torch.ones(2, 3),)))
try:
    torch.export.export(Model(), (torch.ones(2, 4),))
    raise AssertionError("4 columns now reshape to 3: update this recipe")
except RuntimeError as e:
    traceback.print_exc(file=__import__("sys").stdout)
'''


def make_site(tmp_path):
    """A copy of the site's configuration with one section and one recipe."""
    tmp_path.mkdir(parents=True, exist_ok=True)
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


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path)


def build(site, env=None):
    process = subprocess.run(
        command(), cwd=site, env=env, capture_output=True, text=True, timeout=600,
    )
    return process.returncode, process.stdout + process.stderr


def test_fired_sentinel_fails_the_build_in_the_harness_words(site):
    (site / "recipes" / "constraints" / "plot_divide.py").write_text(RECIPE.format(divisor=2))
    code, output = build(site)
    assert code != 0
    assert "recipes/constraints/plot_divide.py:11: a sentinel fired: PyTorch's behaviour changed." in output, output
    assert "AssertionError: dividing by zero now works: update this recipe" in output
    assert "Versions: python 3." in output and ", torch 2." in output, output


SWALLOWED_RECIPE = '''
"""
A sentinel swallowed by a broad handler
=======================================
"""
import contextlib

with contextlib.suppress(Exception):
    try:
        value = 1 / 2
        raise AssertionError("dividing by zero now works: update this recipe")
    except ZeroDivisionError as e:
        print(e)
'''


def test_a_swallowed_sentinel_fails_the_build_and_the_next_build_too(site):
    (site / "recipes" / "constraints" / "plot_divide.py").write_text(SWALLOWED_RECIPE)
    for _ in range(2):  # not cached as a success: the next build runs it again and fails again
        code, output = build(site)
        assert code != 0, output
        assert "recipes/constraints/plot_divide.py:11: a sentinel fired" in output, output
        assert "caught by a handler elsewhere" in output, output


HANGING_RECIPE = '''
"""
A recipe that never ends
========================
"""
import time

print("start")
while True:
    time.sleep(0.1)
'''


def test_a_hanging_recipe_is_stopped_and_the_build_goes_on_then_fails_naming_it(site):
    (site / "recipes" / "constraints" / "plot_hangs.py").write_text(HANGING_RECIPE)
    start = time.monotonic()
    code, output = build(site, env=dict(os.environ, COOKBOOK_RECIPE_TIMEOUT="3"))
    assert time.monotonic() - start < 120, "the build did not stop the hanging recipe"
    assert code != 0, output
    # Stopped inside its loop (line 9 or 10), named with the limit.
    assert re.search(r"recipes/constraints/plot_hangs.py:(9|10): ran past its time limit of 3 s and was stopped", output), output
    # The other recipe of the section still ran and has its page.
    assert "division by zero" in (site / "_doc" / "auto_recipes" / "constraints" / "plot_divide.rst").read_text()


def test_build_reruns_a_recipe_only_when_it_or_the_environment_changed(site):
    code, output = build(site)
    assert code == 0 and "executed 1 out of 1 file" in output, output
    recorded = site / "_doc" / "auto_recipes" / ".build-environment.json"
    assert json.loads(recorded.read_text()).items() >= build_fingerprint().items()
    page = site / "_doc" / "auto_recipes" / "constraints" / "plot_divide.rst"
    assert "division by zero" in page.read_text()

    code, output = build(site)  # nothing changed: nothing runs
    assert code == 0, output
    assert "executed 0 out of 0 files" in output and "excluding 1 file that had previously been run" in output, output

    # A new torch (simulated: the previous build recorded another version) makes every recipe run again.
    previous = json.loads(recorded.read_text()) | {"torch": "2.12.0"}
    recorded.write_text(json.dumps(previous))
    code, output = build(site)
    assert code == 0, output
    assert "torch 2.12.0 -> " in output and "executed 1 out of 1 file" in output, output
    assert json.loads(recorded.read_text())["torch"] == build_fingerprint()["torch"]

    # So does a change of the build configuration (conf.py): it may change what recipes print.
    with open(site / "conf.py", "a") as conf:
        conf.write("\n# a change\n")
    code, output = build(site)
    assert code == 0 and "executed 1 out of 1 file" in output and "conf.py " in output, output


def test_two_builds_in_two_folders_give_the_same_pages_without_machine_paths(tmp_path):
    pages = []
    for folder in ("first-checkout", "elsewhere/second-checkout"):
        site = make_site(tmp_path / folder)
        (site / "recipes" / "constraints" / "plot_paths.py").write_text(PATHS_RECIPE)
        code, output = build(site)
        assert code == 0, output
        page = (site / "_doc" / "auto_recipes" / "constraints" / "plot_paths.rst").read_text()
        pages.append("\n".join(line for line in page.splitlines() if "Total running time" not in line))
        assert find_machine_paths(page) == [] and str(site) not in page
        assert "# File: recipes/constraints/plot_paths.py:" in page
        assert 'File "torch/' in page  # a traceback frame of site-packages, shown from the package root
    assert pages[0] == pages[1]



WARNING_RECIPE = '''
"""
Warns {n}
=========
"""
from legacy_api import old_api

old_api()
'''


def test_each_page_shows_its_warnings_whatever_ran_before_it(site):
    # Both recipes trigger the same warning from the same place of a shared module: in one build
    # process Python would show it once, on the first page only.
    library = site / "lib"
    library.mkdir()
    (library / "legacy_api.py").write_text(
        "import warnings\n\n\ndef old_api():\n    warnings.warn('old_api is deprecated', FutureWarning)\n"
    )
    section = site / "recipes" / "constraints"
    (section / "plot_divide.py").unlink()
    for n in (1, 2):
        (section / f"plot_warns_{n}.py").write_text(WARNING_RECIPE.format(n=n))
    code, output = build(site, env=dict(os.environ, PYTHONPATH=str(library)))
    assert code == 0, output
    for n in (1, 2):
        page = (site / "_doc" / "auto_recipes" / "constraints" / f"plot_warns_{n}.rst").read_text()
        assert "FutureWarning: old_api is deprecated" in page, f"plot_warns_{n}: {page[-800:]}"
