"""The GitHub Actions workflows are valid (actionlint)."""

import shutil
import subprocess
import sys
from pathlib import Path

from cookbook import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
# The virtualenv's own actionlint first (requirements-docs.txt installs it), then any on PATH.
ACTIONLINT = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")


def test_workflows_pass_actionlint():
    assert WORKFLOWS, "no workflow under .github/workflows"
    assert ACTIONLINT, "actionlint is not installed (requirements-docs.txt installs it)"
    process = subprocess.run([ACTIONLINT, *map(str, WORKFLOWS)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert process.returncode == 0, process.stdout + process.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n")
    process = subprocess.run([ACTIONLINT, str(broken)], capture_output=True, text=True)
    assert process.returncode != 0 and "matrix" in process.stdout, process.stdout
