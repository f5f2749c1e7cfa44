"""No recipe of the transformers section reaches the network: each builds its model from a config in
the recipe, and nothing (transformers, huggingface_hub) downloads a file or asks the hub.

The section's recipes run in a runner zygote of their own whose processes have ``HF_HUB_OFFLINE=1``
and a guard on Python's sockets (a ``sitecustomize`` module): every attempt to resolve a host name
or to connect to an internet address is written to a log and refused. The recipe must pass, and the
log must stay empty (an attempt that the recipe's code swallowed is still seen)."""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

import pytest

from cookbook import RECIPES_DIR
from cookbook.harness.runner import Zygote, run_recipe

SECTION_RECIPES = sorted((RECIPES_DIR / "transformers").glob("plot_*.py"))

GUARD = '''
import os
import socket

_LOG = os.environ["COOKBOOK_NETWORK_LOG"]


def _refuse(what, detail):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{what} {detail!r}\\n")
    raise OSError(f"network access refused in a recipe's process: {what} {detail!r}")


_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse("connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse("connect", address)
    return _connect_ex(self, address)


def getaddrinfo(host, port, *args, **kwargs):
    _refuse("getaddrinfo", (host, port))


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
'''


@pytest.fixture(scope="module")
def offline():
    """A zygote whose recipe processes cannot reach the network, and the log of their attempts."""
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
        log = folder / "network.log"
        log.write_text("")
        patch.setenv("PYTHONPATH", str(folder))  # the zygote puts the repository before it
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("COOKBOOK_NETWORK_LOG", str(log))
        zygote = Zygote()
        try:
            yield zygote, log
        finally:
            zygote.close()


def test_the_guard_sees_and_refuses_an_attempt(offline, tmp_path):
    zygote, log = offline
    recipe = tmp_path / "plot_download.py"
    recipe.write_text(textwrap.dedent('''
        """
        A recipe that downloads
        =======================
        """
        import contextlib
        import urllib.request

        with contextlib.suppress(OSError):
            urllib.request.urlopen("http://example.com", timeout=5)
    '''))
    result = run_recipe(recipe, zygote=zygote)
    assert result.passed, result.report()  # the recipe swallowed the refusal...
    assert "getaddrinfo ('example.com', 80)" in log.read_text()  # ...the log did not
    log.write_text("")


def test_the_section_has_recipes():
    assert len(SECTION_RECIPES) >= 1


@pytest.mark.parametrize("recipe", SECTION_RECIPES, ids=lambda path: path.name)
def test_a_transformers_recipe_runs_with_the_network_off(offline, recipe):
    zygote, log = offline
    result = run_recipe(recipe, zygote=zygote)
    attempts = log.read_text()
    log.write_text("")
    assert result.passed, result.report()
    assert attempts == "", f"{recipe.name} tried to reach the network:\n{attempts}"
