"""The zygote that make html keeps between builds (cookbook.site.warm_zygote), on a throwaway site:
the next build reuses it (no torch import), a recipe's page is the same as when the build forks its
own zygote, a change of environment or code makes another one, and an idle server stops by itself."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cookbook.site import warm_zygote
from test_build import build, make_site, page, ran

EXPORTS = '''
"""
A recipe that exports
=====================
"""
import torch


class Model(torch.nn.Module):
    def forward(self, x):
        return x.sum(dim=0)


batch = torch.export.Dim("batch")
program = torch.export.export(Model(), (torch.ones(3, 2),), dynamic_shapes={{"x": {{0: batch}}}})
print(program.range_constraints)
print("edit", {edit})
'''
#: Seconds a server waits for the next build: long enough for the three builds of the first test,
#: short for the second test, which waits for its server to stop.
LONG_IDLE, SHORT_IDLE = 120, 3


def servers(site: Path) -> list[int]:
    """The pids of the kept zygotes of ``site`` (their command line names its socket)."""
    wanted = str(site_socket(site))
    found = []
    for process in Path("/proc").iterdir():
        try:
            command = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if process.name.isdigit() and wanted in command:
            found.append(int(process.name))
    return found


def site_socket(site: Path) -> Path:
    script = "from cookbook.site.warm_zygote import socket_path; print(socket_path())"
    return Path(subprocess.run([sys.executable, "-c", script], cwd=site, capture_output=True, text=True,
                               check=True).stdout.strip())


def shown(site: Path) -> str:
    text = page(site, "plot_exports")
    return "\n".join(line for line in text.splitlines() if "Total running time" not in line)


@pytest.fixture(scope="module")
def warm_site(tmp_path_factory):
    site = make_site(tmp_path_factory.mktemp("warm") / "site", {"plot_exports.py": EXPORTS.format(edit=1)})
    yield site
    for pid in servers(site):  # whatever a failed test left
        os.kill(pid, 9)


def warm_build(site, idle=LONG_IDLE):
    return build(site, COOKBOOK_WARM_ZYGOTE="1", COOKBOOK_WARM_ZYGOTE_SECONDS=str(idle))


def test_the_next_build_reuses_the_zygote_and_a_page_is_the_same_as_without_it(warm_site):
    site = warm_site
    code, output = warm_build(site)
    assert code == 0 and ran(output) == 1, output
    first = servers(site)
    assert len(first) == 1, "the build left no zygote behind"
    warm_page = shown(site)
    assert "edit 1" in warm_page and "VR[" in warm_page, warm_page  # the recipe ran, and exported

    recipe = site / "recipes" / "constraints" / "plot_exports.py"
    recipe.write_text(EXPORTS.format(edit=2))
    code, output = warm_build(site)
    assert code == 0 and ran(output) == 1, output
    assert "edit 2" in shown(site)
    assert servers(site) == first, "the second build started another zygote"

    # The same source, built by a zygote that the build forks itself: the same page.
    recipe.write_text(EXPORTS.format(edit=1))
    code, output = build(site, COOKBOOK_WARM_ZYGOTE="0")
    assert code == 0 and ran(output) == 1, output
    assert shown(site) == warm_page
    assert servers(site) == first, "a build without the kept zygote stopped it"


def start_server(site: Path, key: str, idle: float) -> subprocess.Popen:
    """A kept zygote of ``site``, started as a build starts it; it imports nothing before a build asks."""
    process = subprocess.Popen([sys.executable, "-c", warm_zygote.SERVER, str(site_socket(site)), key], cwd=site,
                               env=dict(os.environ, COOKBOOK_WARM_ZYGOTE_SECONDS=str(idle)))
    deadline = time.monotonic() + 60
    while not site_socket(site).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return process


def test_a_build_of_another_environment_stops_the_zygote_and_so_does_idleness(warm_site):
    site = warm_site
    for pid in servers(site):  # the first test's server
        os.kill(pid, 9)
    site_socket(site).unlink(missing_ok=True)
    server = start_server(site, "the key of one environment", idle=LONG_IDLE)
    script = ("import sys; from cookbook.site.warm_zygote import build_zygote, socket_path, _connect, _send\n"
              "connection = _connect(socket_path()); _send(connection, {'key': 'the key of another'})\n"
              "print(connection.recv(1))")
    subprocess.run([sys.executable, "-c", script], cwd=site, check=True, capture_output=True, timeout=60)
    assert server.wait(timeout=30) == 0  # it stopped: the build that asked starts its own
    assert not site_socket(site).exists()

    server = start_server(site, "the key of one environment", idle=SHORT_IDLE)
    assert server.wait(timeout=SHORT_IDLE + 30) == 0, f"the zygote outlived {SHORT_IDLE} idle seconds"
    assert not site_socket(site).exists()


def test_the_key_names_the_environment_variables(monkeypatch):
    before = warm_zygote.key()
    monkeypatch.setenv("COOKBOOK_SOME_SETTING", "another value")
    assert warm_zygote.key() != before
    monkeypatch.delenv("COOKBOOK_SOME_SETTING")
    monkeypatch.setenv("OLDPWD", "/elsewhere")  # volatile: changes nothing a recipe does
    assert warm_zygote.key() == before


def test_it_is_off_in_ci_unless_asked(monkeypatch):
    monkeypatch.delenv("COOKBOOK_WARM_ZYGOTE", raising=False)
    monkeypatch.setenv("CI", "true")
    assert not warm_zygote.enabled()
    monkeypatch.setenv("COOKBOOK_WARM_ZYGOTE", "1")
    assert warm_zygote.enabled()
    monkeypatch.delenv("CI")
    monkeypatch.delenv("COOKBOOK_WARM_ZYGOTE")
    assert warm_zygote.enabled()


def test_the_kept_zygote_builds_the_onnx_registry_when_a_build_asks_for_onnx():
    """torch.export imports torch.onnx: the server's first imports hold it already, and a later
    build's ONNX recipes must still get the shared registry (cookbook.onnx_registry), not build one each."""
    script = textwrap.dedent("""
        from cookbook.recipes import EXPORT_PRELOADS, ONNX_PRELOADS
        from cookbook.site.warm_zygote import _prepare
        _prepare(EXPORT_PRELOADS)
        import sys
        assert "torch.onnx" in sys.modules
        _prepare(EXPORT_PRELOADS + ONNX_PRELOADS)
        from torch.onnx._internal.exporter._registration import ONNXRegistry
        print(getattr(ONNXRegistry.from_torchlib, "__cookbook_shared__", False))
    """)
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                             cwd=Path(warm_zygote.__file__).parent.parent.parent)
    assert process.stdout.strip().endswith("True"), process.stdout + process.stderr


def test_a_zygote_that_cannot_start_costs_the_build_no_wait(tmp_path, monkeypatch):
    """A server that cannot listen (here its socket's folder does not exist) ends at once, and the
    build goes on with a zygote of its own instead of waiting for it."""
    monkeypatch.setattr(warm_zygote, "socket_path", lambda: tmp_path / "no such folder" / "zygote.sock")
    monkeypatch.setattr(warm_zygote, "log_path", lambda: tmp_path / "server.log")
    start = time.monotonic()
    assert warm_zygote.build_zygote({"tasks": [], "gallery_conf": {}, "jobs": 1, "preload": (), "scratch": tmp_path}) is None
    assert time.monotonic() - start < 20
    assert "No such file or directory" in (tmp_path / "server.log").read_text()
