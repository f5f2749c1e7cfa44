"""`make bench`: what the cookbook's checks cost, in one run, side by side. Prints figures; asserts
nothing (timings flake; the tests assert behaviour).

1. The naive baseline: every recipe run serially as ``python recipe.py`` in a fresh process.
2. The physical limit: the recipes' own times (measured by the harness, each in its process) summed
   and divided by the cores: no schedule of these recipes on this machine can be faster.
3. The harness: ``pytest tests/test_recipes.py -k test_recipe_runs`` (a worker per core, a zygote
   per worker that imports torch once and forks one child per recipe), every recipe run by it
   (``COOKBOOK_RERUN_RECIPES=1``: it does not take the doc build's runs).
4. The doc build in a scratch copy of the working tree: cold, no-op, and after editing one recipe
   (with how many recipes each build ran). As on a developer's machine, the builds keep their
   recipes' zygote (:mod:`cookbook.site.warm_zygote`; the bench runs without ``CI=true``): the
   one-edit build forks its recipe from the zygote that the cold build left. Each copy's zygote is
   stopped when the bench is done with the copy.
   The cold builds' recipe pages must show the same output (:mod:`cookbook.site.page_output`):
   the pages that differ are printed, and the differences written to ``output-differences.txt``.
5. ``make test`` in that copy, its site built.
6. How ``make test`` grows with the number of recipes: cold ``make test`` on copies of the tree
   that keep 10, 20 and all recipes (at least one per section), and the line through them. On a
   selection, the tests marked ``reads_named_recipes`` (they read given recipes or their pages)
   are left out: they would fail there, and their cost does not depend on the number of recipes.

Every figure is also given as a ratio to the naive baseline. The table and every figure (with the
commit, the versions and the machine's probes) are written to ``_build/bench/`` (``table.txt``,
``figures.json``), which the scheduled ``bench`` job of ``.github/workflows/docs.yml`` keeps as an
artifact, so that a regression shows between commits; a doc build that fails leaves its whole
output there (``failed-build.log``). The speed of a shared machine drifts
(the same naive loop has taken 323 s and 430 s on the same code, and a cold build 64 s and 83 s
within ten minutes), and its noise only ever adds time. So each of 1 to 5 is measured
``BENCH_REPEATS`` times (default 2; the no-op build once more) and the least is kept, as
:mod:`timeit` does; for the naive baseline and the physical limit, the least of each recipe. Every
repeat is printed. Before each measure, a probe times ``python -c "import torch"`` in a fresh
process, and the probes are printed with the figures, so that a drift can be seen as such.
"""

from __future__ import annotations

import functools
import json
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

from cookbook import BUILD_DIR  # noqa: E402
from cookbook.environment import versions_line  # noqa: E402
from cookbook.recipes import discover_recipes, exports_to_onnx, parsed  # noqa: E402
from cookbook.reports import parse_report  # noqa: E402
from cookbook.site.build import command  # noqa: E402
from cookbook.site.page_output import differing_outputs  # noqa: E402

CORES = os.cpu_count() or 1
#: The recipe the one-edit build edits (a comment appended): a recipe of about a second.
EDITED = Path("recipes/getting_started/plot_batch_size_guard_failed.py")
#: Where the figures are written.
OUT_DIR = BUILD_DIR / "bench"
REPEATS = max(1, int(os.environ.get("BENCH_REPEATS", "2")))


def timed(command, cwd, env=None):
    start = time.perf_counter()
    process = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, process


PROBES: list[tuple[str, float]] = []


def probe(before: str) -> None:
    """Time ``import torch`` in a fresh process, the bulk of what a naive run costs, before ``before``."""
    seconds, _ = timed([sys.executable, "-c", "import torch"], ROOT)
    PROBES.append((before, seconds))


def repeats(seconds: list[float]) -> str:
    return ", ".join(f"{value:.1f}" for value in seconds)


def naive_baseline(recipes) -> float:
    """The naive loop, ``REPEATS`` times; the sum of each recipe's least time."""
    times: dict[Path, list[float]] = {recipe: [] for recipe in recipes}
    for round_ in range(REPEATS):
        for recipe in recipes:
            with tempfile.TemporaryDirectory() as cwd:
                seconds, process = timed([sys.executable, str(recipe)], cwd)
            times[recipe].append(seconds)
            status = "ok" if process.returncode == 0 else f"exit {process.returncode}"
            print(f"   {seconds:6.2f} s  {recipe.relative_to(ROOT)} ({status}, round {round_ + 1})", flush=True)
        print(f"    round {round_ + 1}: {sum(t[-1] for t in times.values()):.1f} s", flush=True)
    return sum(min(t) for t in times.values())


def harness() -> tuple[float, str, dict[str, float]]:
    seconds, process = timed(
        [sys.executable, "-m", "pytest", "tests/test_recipes.py", "-k", "test_recipe_runs", "-q",
         "-p", "no:cacheprovider", "-o", "addopts=-n auto"],
        ROOT,
        env=dict(os.environ, COOKBOOK_RERUN_RECIPES="1"),
    )
    summary = process.stdout.strip().splitlines()[-1] if process.stdout.strip() else process.stderr[-500:]
    durations_file = BUILD_DIR / "test-results" / "recipe-durations.json"
    durations = json.loads(durations_file.read_text()) if durations_file.exists() else {}
    return seconds, summary, durations


def copy_tree(destination: Path, keep: set[Path] | None = None) -> None:
    """The working tree as git sees it (tracked and untracked, not ignored files); with ``keep``,
    only those recipes, and only the reported cases (``tests/data/reports``) whose recipes are kept:
    the build refuses a case that names a recipe it does not have."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if not source.is_file():
            continue
        if keep is not None and name.startswith("recipes/") and source.name.startswith("plot_") and source not in keep:
            continue
        if keep is not None and name.startswith("tests/data/reports/") and name.endswith(".txt"):
            if any(ROOT / "recipes" / recipe not in keep for recipe in parse_report(source).recipes):
                continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def stop_kept_zygote(site: Path) -> None:
    """Stop the zygote that the builds of ``site`` kept (cookbook.site.warm_zygote), before the copy goes."""
    subprocess.run([sys.executable, "-c", "from cookbook.site.warm_zygote import stop_server; stop_server()"], cwd=site,
                   capture_output=True, check=False)


def sphinx_build(site: Path) -> tuple[float, int]:
    seconds, process = timed(command(), site)
    output = process.stdout + process.stderr
    if process.returncode:
        # The end of the output on the terminal, all of it in a file (the copy of the site is removed).
        log = OUT_DIR / "failed-build.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(output, encoding="utf-8")
        print(output[-3000:])
        raise SystemExit(f"the doc build failed (exit {process.returncode}); its whole output: {log}")
    ran = re.search(r"executed (\d+) out of (\d+) file", output)
    return seconds, int(ran.group(1)) if ran else -1


def compare_cold_builds(sites: list[Path]) -> int:
    """Whether the cold builds' recipe pages show the same output (a recipe's output must not change
    from build to build): prints the verdict, writes the differences to ``output-differences.txt``
    and returns how many pages differ from the first build's."""
    if len(sites) < 2:
        print("    build-to-build: one cold build (BENCH_REPEATS=1), nothing to compare")
        return 0
    first = sites[0] / "_build" / "html"
    found = {difference.page: difference for site in sites[1:]
             for difference in differing_outputs(first, site / "_build" / "html")}
    report = OUT_DIR / "output-differences.txt"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("".join(f"{d.page}:\n{d.diff}\n\n" for d in found.values()), encoding="utf-8")
    if not found:
        print(f"    build-to-build: every recipe page shows the same output in the {len(sites)} cold builds")
    for difference in found.values():
        print(f"    build-to-build: {difference.page} differs: {difference.first_line}")
    if found:
        print(f"    the differences: {report.relative_to(ROOT) if report.is_relative_to(ROOT) else report}")
    return len(found)


def make_test(site: Path, pytest_args: str = "", sphinx_options: str = "") -> tuple[float, str]:
    """``make test`` in ``site`` with this virtualenv (no new install); its summary line, and the
    tests that failed, if any (a figure is only worth something when everything passed)."""
    env = dict(os.environ, VIRTUAL_ENV=str(Path(sys.executable).parent.parent))
    command = ["make", "--no-print-directory", "test"] + ([f"PYTEST_ARGS={pytest_args}"] if pytest_args else [])
    command += [f"SPHINXOPTS={sphinx_options}"] if sphinx_options else []
    seconds, process = timed(command, site, env)
    lines = [line for line in process.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    failures = [line for line in process.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    summary = lines[-1].strip("= ") if lines else f"exit {process.returncode}: {process.stdout[-400:]}"
    if process.returncode and lines:
        summary += f" (make test exited {process.returncode})"
    return seconds, "\n      ".join([summary, *failures])


def selection(recipes: list[Path], count: int) -> set[Path]:
    """``count`` recipes, one per section first, then the others in order."""
    first_of_section = {}
    for recipe in recipes:
        first_of_section.setdefault(recipe.parent, recipe)
    chosen = list(first_of_section.values())
    chosen += [recipe for recipe in recipes if recipe not in chosen]
    return set(chosen[:count])


def ratio(seconds: float, naive: float) -> str:
    return f"{seconds:7.1f} s  {seconds / naive:5.2f}x naive"


def main() -> None:
    recipes = discover_recipes()
    print(f"{len(recipes)} recipes; {CORES} cores; {versions_line()}\n")
    print("(1) naive baseline: `python recipe.py` for each recipe, one after the other")
    probe("naive baseline")
    naive = naive_baseline(recipes)
    print(f"    total {naive:.1f} s\n")

    print("(3) the harness: pytest tests/test_recipes.py -k test_recipe_runs (xdist + zygote)")
    probe("harness")
    harness_runs, own_times = [], {}
    for _ in range(REPEATS):
        seconds, summary, durations = harness()
        harness_runs.append(seconds)
        for recipe, own in durations.items():
            own_times[recipe] = min(own, own_times.get(recipe, own))
        print(f"    {seconds:.1f} s: {summary}", flush=True)
    harnessed = min(harness_runs)
    limit = sum(own_times.values()) / CORES
    print()

    figures: dict[str, list[float]] = {}

    def measure(name: str, runs) -> None:
        """Each of ``runs`` (callables returning their seconds and what to say of the run), in turn."""
        figures[name] = []
        for run in runs:
            seconds, said = run()
            figures[name].append(seconds)
            print(f"    {name}: {seconds:.1f} s, {said}", flush=True)

    print("(4) the doc build, in a scratch copy of the working tree (a fresh copy for each cold build)")
    with tempfile.TemporaryDirectory(prefix="cookbook-bench-") as scratch:
        sites = [Path(scratch) / f"site-{n}" for n in range(REPEATS)]
        site = sites[-1]  # the no-op, one-edit and make test measures use the last cold build's copy
        edited = site / (EDITED if (ROOT / EDITED).exists() else recipes[0].relative_to(ROOT))

        def build(into: Path = site, cold: bool = False, edit: bool = False):
            if cold:
                copy_tree(into)
            if edit:
                edited.write_text(edited.read_text() + "\n# an edit\n")
            seconds, ran = sphinx_build(into)
            return seconds, f"{ran} recipe(s) ran"

        probe("cold make html")
        measure("cold make html", [functools.partial(build, into, cold=True) for into in sites])
        stable = compare_cold_builds(sites)
        measure("no-op make html", [build] * (REPEATS + 1))
        measure(f"make html, {edited.name} edited", [functools.partial(build, edit=True)] * REPEATS)
        print("(5) make test, the site built")
        probe("make test")
        measure("make test (site built)", [functools.partial(make_test, site)] * REPEATS)
        for copy in sites:
            stop_kept_zygote(copy)
        print()

    print("(6) cold make test against the number of recipes (on a selection, the tests marked")
    print("    reads_named_recipes, which read given recipes' pages, are left out: they cost the same for any number)")
    growth = []
    probe("growth")
    for count in sorted({min(10, len(recipes)), min(20, len(recipes)), len(recipes)}):
        with tempfile.TemporaryDirectory(prefix=f"cookbook-bench-{count}-") as scratch:
            copy_tree(Path(scratch), keep=selection(recipes, count))
            # A selection keeps links to recipes it left out: its build warns of them, so warnings are not errors there.
            subset = count != len(recipes)
            seconds, summary = make_test(Path(scratch), "-m 'not reads_named_recipes'" if subset else "",
                                         f"--keep-going -j {CORES + 1}" if subset else "")
            stop_kept_zygote(Path(scratch))
        growth.append((count, seconds))
        print(f"    {count:3d} recipes: {seconds:7.1f} s  ({summary})", flush=True)
    if len(growth) > 1:
        (n1, t1), (n2, t2) = growth[0], growth[-1]
        slope = (t2 - t1) / (n2 - n1)
        print(f"    about {slope:.1f} s per recipe on top of {t1 - slope * n1:.0f} s: 50 more recipes add about "
              f"{50 * slope:.0f} s")

    onnx = {recipe: own for recipe, own in own_times.items()
            if exports_to_onnx(parsed((ROOT / "recipes" / recipe).read_text(encoding="utf-8")))}
    table = [f"Side by side (the least of {REPEATS} repeats; ratio to the naive baseline):",
             f"    naive baseline                      {ratio(naive, naive)}",
             f"    physical limit (recipes' own / {CORES})  {ratio(limit, naive)}",
             f"    harness                             {ratio(harnessed, naive)}   (repeats: {repeats(harness_runs)})"]
    for name, seconds in figures.items():
        table.append(f"    {name:36s}{ratio(min(seconds), naive)}   (repeats: {repeats(seconds)})")
    if limit:
        table.append(f"    make test (site built) / physical limit: {min(figures['make test (site built)']) / limit:.2f}")
    table.append(f"    the {len(onnx)} recipes that export to ONNX, their own time in the harness: {sum(onnx.values()):.1f} s")
    table.append(f"    recipe pages whose output differs between the cold builds: {stable}")
    probe("the end")
    table += ["", "Machine probe, `python -c 'import torch'` in a fresh process, before:",
              "    " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in PROBES)]
    print("\n" + "\n".join(table))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    write_figures(OUT_DIR, "\n".join(table) + "\n", {
        "commit": commit, "versions": versions_line(), "cores": CORES, "repeats": REPEATS, "recipes": len(recipes),
        "naive": naive, "physical_limit": limit, "harness": harness_runs, "builds_and_tests": figures,
        "growth": growth, "recipes_own": own_times, "onnx_recipes_own": sum(onnx.values()), "probes": PROBES,
        "pages_whose_output_differs_between_cold_builds": stable,
    })
    print(f"\nWritten to {OUT_DIR.relative_to(ROOT)}/table.txt and figures.json")


def write_figures(folder: Path, table: str, figures: dict) -> None:
    """The table as printed, and every figure as JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "table.txt").write_text(table, encoding="utf-8")
    (folder / "figures.json").write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
