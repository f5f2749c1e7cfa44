"""The GitHub Actions workflows are valid (check-jsonschema, the python-jsonschema project's
checker, validates them against the GitHub workflow schema it ships: no download at run time), and
the test job does what the README says: `.ci/run` (make test, then the check for leftover files)
on shards that together run every test; the site is deployed only from a push to main that passed them."""

import shutil
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from cookbook import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
CHECKER = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")


def check(*paths):
    assert CHECKER, "check-jsonschema is not installed (requirements-docs.txt installs it)"
    return subprocess.run([CHECKER, "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_workflows_match_the_github_workflow_schema():
    assert WORKFLOWS, "no workflow under .github/workflows"
    process = check(*WORKFLOWS)
    assert process.returncode == 0, process.stdout + process.stderr


def test_the_test_job_runs_ci_run_on_shards_that_cover_every_test(tmp_path):
    workflow = YAML(typ="safe").load((REPO_ROOT / ".github" / "workflows" / "docs.yml").read_text())
    job = workflow["jobs"]["test"]
    assert {"push", "pull_request"} <= set(workflow["on"]), "the tests must run on every push and pull request"
    shards = job["strategy"]["matrix"]["shard"]
    parsed = [tuple(map(int, re.fullmatch(r"(\d+)/(\d+)", shard).groups())) for shard in shards]
    count = len(shards)
    assert sorted(parsed) == [(index, count) for index in range(1, count + 1)], shards
    runs = [step for step in job["steps"] if step.get("run", "").strip() == ".ci/run"]
    assert runs, "the test job does not run .ci/run (make test, then the check for leftover files)"
    assert runs[0].get("env", {}).get("SHARD") == "${{ matrix.shard }}", runs[0]
    # make reads SHARD from the environment: `SHARD=1/2 make test` is `make test SHARD=1/2`.
    assert make_variable("SHARD", tmp_path, SHARD="2/2") == "2/2"


def make_variable(name, tmp_path, **env):
    """The value of the Makefile's variable ``name`` in an environment with ``env`` (nothing is run:
    a makefile of one target that prints it is read after the Makefile)."""
    printer = tmp_path / "print.mk"
    printer.write_text(f"print-variable:\n\t@echo $({name})\n")
    done = subprocess.run(["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", str(printer), "print-variable"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, VIRTUAL_ENV=sys.prefix, **env))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def docs_workflow() -> dict:
    return YAML(typ="safe").load((REPO_ROOT / ".github" / "workflows" / "docs.yml").read_text())


def test_the_site_is_deployed_only_from_a_push_to_main_once_the_tests_pass():
    """What a reviewer checks in the deploy job: it waits for the test job, runs only for a push to
    main, has the permissions GitHub Pages' deploy action needs, and one deployment runs at a time;
    and the test job uploads the site as the Pages artifact under the same condition."""
    jobs = docs_workflow()["jobs"]
    deploy = jobs["deploy"]
    needs = deploy["needs"]
    assert "test" in ([needs] if isinstance(needs, str) else needs)
    condition = " ".join(deploy["if"].split())
    assert condition == "github.event_name == 'push' && github.ref == 'refs/heads/main'", condition
    assert deploy["permissions"].items() >= {"pages": "write", "id-token": "write"}.items(), deploy["permissions"]
    assert deploy["concurrency"]["group"]
    assert [step["uses"].split("@")[0] for step in deploy["steps"]] == ["actions/deploy-pages"]
    upload = [step for step in jobs["test"]["steps"] if step.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert len(upload) == 1 and upload[0]["with"]["path"] == "_build/html", upload
    assert "github.ref == 'refs/heads/main'" in upload[0]["if"] and "github.event_name == 'push'" in upload[0]["if"]


def import_bench():
    """``scripts/bench.py`` as a module (scripts/ is not a package)."""
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        import bench
    finally:
        sys.path.pop(0)
    return bench


def test_the_bench_job_keeps_the_figures_that_make_bench_writes(tmp_path):
    workflow = YAML(typ="safe").load((REPO_ROOT / ".github" / "workflows" / "docs.yml").read_text())
    steps = workflow["jobs"]["bench"]["steps"]
    assert any(step.get("run") == "make bench" for step in steps)
    (upload,) = [step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact")]
    bench = import_bench()
    assert upload["with"]["path"] == bench.OUT_DIR.relative_to(REPO_ROOT).as_posix()
    bench.write_figures(tmp_path / "bench", "the table\n", {"naive": 1.0})
    assert (tmp_path / "bench" / "table.txt").read_text() == "the table\n"
    assert (tmp_path / "bench" / "figures.json").read_text().startswith('{\n "naive": 1.0')
    assert (REPO_ROOT / bench.EDITED).exists(), "the one-edit build edits a recipe that no longer exists"


def test_a_failed_build_in_the_bench_keeps_its_whole_output(tmp_path, monkeypatch, capsys):
    """The bench builds in a copy it removes: the output of a build that fails is kept in a file,
    beyond the end that the terminal shows."""
    bench = import_bench()
    monkeypatch.setattr(bench, "OUT_DIR", tmp_path / "bench")
    monkeypatch.setattr(bench, "command", lambda: [sys.executable, "-c",
                                                   "print('the first line'); print('x' * 5000); raise SystemExit(2)"])
    with pytest.raises(SystemExit, match="exit 2.*failed-build.log"):
        bench.sphinx_build(tmp_path)
    assert "the first line" not in capsys.readouterr().out
    assert (tmp_path / "bench" / "failed-build.log").read_text().startswith("the first line\n")


def test_the_bench_compares_the_output_of_its_cold_builds(tmp_path, monkeypatch, capsys):
    """The bench's two cold builds are two builds of the same tree: a recipe page whose output
    differs between them is printed and its diff kept."""
    from cookbook import GALLERY_DIR
    bench = import_bench()
    monkeypatch.setattr(bench, "OUT_DIR", tmp_path / "bench")
    sites = []
    for n, printed in enumerate(("u1, u3, u5", "u5, u3, u1")):
        page = tmp_path / f"site-{n}" / "_build" / "html" / GALLERY_DIR / "shapes_spec" / "plot_a.html"
        page.parent.mkdir(parents=True)
        page.write_text('<div class="sphx-glr-script-out"><div class="highlight"><pre>Size-like symbols: '
                        f'{printed}</pre></div></div>', encoding="utf-8")
        sites.append(tmp_path / f"site-{n}")
    assert bench.compare_cold_builds(sites) == 1
    assert "plot_a.html differs: -Size-like symbols: u1, u3, u5" in capsys.readouterr().out
    assert "+Size-like symbols: u5, u3, u1" in (tmp_path / "bench" / "output-differences.txt").read_text()
    page.write_text(page.read_text().replace("u5, u3, u1", "u1, u3, u5"), encoding="utf-8")
    assert bench.compare_cold_builds(sites) == 0
    assert "every recipe page shows the same output in the 2 cold builds" in capsys.readouterr().out
