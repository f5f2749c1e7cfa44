"""The GitHub Actions workflows are valid: check-jsonschema (the python-jsonschema project's
checker) validates them against the GitHub workflow schema it ships (no download at run time)."""

import shutil
import subprocess
import sys
from pathlib import Path

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


def test_the_checker_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    stepz:\n      - run: echo hi\n")
    process = check(broken)
    assert process.returncode != 0 and "broken.yml" in process.stdout + process.stderr, process.stdout
