"""Benchmark of the harness and of the doc build (`make bench`). Prints figures; asserts nothing.

1. The naive baseline: every recipe run serially as ``python recipe.py`` in a fresh process.
2. The harness: ``pytest tests/test_recipes.py -k test_recipe_runs`` (workers on all cores, a
   zygote per worker that imports torch once and forks one child per recipe), and the ratio 2/1.
3. The doc build in a scratch copy of the working tree: cold, no-op, and after editing one recipe,
   with how many recipes each build ran.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cookbook.environment import versions_line  # noqa: E402
from cookbook.recipes import discover_recipes  # noqa: E402
from cookbook.site.build import command  # noqa: E402


def timed(command, cwd, env=None):
    start = time.perf_counter()
    process = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, process


def naive_baseline(recipes) -> float:
    total = 0.0
    for recipe in recipes:
        with tempfile.TemporaryDirectory() as cwd:
            seconds, process = timed([sys.executable, str(recipe)], cwd)
        total += seconds
        status = "ok" if process.returncode == 0 else f"exit {process.returncode}"
        print(f"   {seconds:6.2f} s  {recipe.relative_to(ROOT)} ({status})", flush=True)
    return total


def harness() -> tuple[float, str]:
    seconds, process = timed(
        [sys.executable, "-m", "pytest", "tests/test_recipes.py", "-k", "test_recipe_runs", "-q",
         "-p", "no:cacheprovider", "-o", "addopts=-n auto"],
        ROOT,
    )
    summary = process.stdout.strip().splitlines()[-1] if process.stdout.strip() else process.stderr[-500:]
    return seconds, summary


def copy_tree(destination: Path) -> None:
    """The working tree as git sees it (tracked and untracked, not ignored files)."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def sphinx_build(site: Path) -> tuple[float, int, int]:
    seconds, process = timed(
        command(), site,
    )
    output = process.stdout + process.stderr
    if process.returncode:
        print(output[-3000:])
        raise SystemExit(f"the doc build failed (exit {process.returncode})")
    ran = re.search(r"executed (\d+) out of (\d+) file", output)
    return seconds, int(ran.group(1)), int(ran.group(2)) if ran else -1


def main() -> None:
    recipes = discover_recipes()
    print(f"{len(recipes)} recipes; {os.cpu_count()} cores; {versions_line()}\n")

    print("(1) naive baseline: `python recipe.py` for each recipe, one after the other")
    naive = naive_baseline(recipes)
    print(f"    total {naive:.1f} s\n")

    print("(2) the harness: pytest tests/test_recipes.py -k test_recipe_runs (xdist + zygote)")
    harnessed, summary = harness()
    print(f"    {summary}")
    print(f"    total {harnessed:.1f} s; ratio (2)/(1) = {harnessed / naive:.2f}\n")

    print("(3) the doc build, in a scratch copy of the working tree")
    with tempfile.TemporaryDirectory(prefix="cookbook-bench-") as scratch:
        site = Path(scratch)
        copy_tree(site)
        seconds, ran, _ = sphinx_build(site)
        print(f"    cold build:             {seconds:6.1f} s, {ran} recipes ran")
        seconds, ran, _ = sphinx_build(site)
        print(f"    no-op build:            {seconds:6.1f} s, {ran} recipes ran")
        edited = site / recipes[0].relative_to(ROOT)
        edited.write_text(edited.read_text() + "\n# an edit\n")
        seconds, ran, _ = sphinx_build(site)
        print(f"    after editing {edited.name}: {seconds:6.1f} s, {ran} recipe(s) ran")


if __name__ == "__main__":
    main()
