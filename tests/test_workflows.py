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


def docs_workflow() -> dict:
    from ruamel.yaml import YAML

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
