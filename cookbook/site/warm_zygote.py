"""A zygote that outlives the build: the next ``make html`` runs its recipes without importing torch.

A build that runs recipes forks their processes from a zygote that imported torch, the exporter and
the packages they need (:mod:`cookbook.site.recipe_pool`): about 4 s before the first recipe starts.
When one recipe was edited, that is most of the build. So the zygote is a server of its own
(:func:`main`, from ``recipe_pool.serve_kept_zygote``), started by the first build that runs a recipe, and kept
for :func:`idle_seconds` after its last build (``COOKBOOK_WARM_ZYGOTE_SECONDS``, 900 by default).
Each build connects to it on a Unix socket and sends its recipes and sphinx-gallery's configuration;
the server forks a *build zygote* for them, which runs them exactly as the in-process zygote does
(``recipe_pool._zygote``: one fresh fork per recipe, the same time limit and backstop) and answers on
the same connection. A recipe's process is therefore a fork of a process that imported the same
modules, in the same environment, as the one the build would have forked itself.

What would make a kept zygote wrong makes a new one: the server serves only the builds whose
:func:`key` is its own, the digest of the Python, the versions and the cookbook's code
(:func:`cookbook.site.execution.environment_key`, conf.py included) and the environment variables;
on any other key it stops, and the build starts a new server.

Off (each build forks its own zygote, as before) with ``COOKBOOK_WARM_ZYGOTE=0``, and by default
under ``CI=true`` (a CI job leaves no process behind) and in the tests (``tests/conftest.py``).
``make stop-zygote`` stops a server now.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cookbook import BUILD_DIR, REPO_ROOT
from cookbook.network import refuse_network
from cookbook.recipes import preload_recipe_modules
from cookbook.site.execution import environment_key, prepare_torch, runs_in_own_process

#: Environment variables that differ between two runs of the same command, and change nothing a
#: recipe does: they are left out of the key.
VOLATILE_VARIABLES = frozenset(("OLDPWD", "_", "SHLVL", "TERM", "COLUMNS", "LINES", "SSH_CLIENT", "SSH_CONNECTION",
                                "SSH_TTY", "WINDOWID", "DISPLAY", "TMUX_PANE", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"))
_HEADER = struct.Struct("!I")
#: The server's command (``python -c``): recipe_pool gives it what a build zygote runs. Not ``-m``:
#: the package imports that module, which runpy would then run a second time.
SERVER = "import sys; from cookbook.site.recipe_pool import serve_kept_zygote; sys.exit(serve_kept_zygote(sys.argv[1:]))"


def enabled() -> bool:
    """Whether builds use a kept zygote: ``COOKBOOK_WARM_ZYGOTE`` (``1`` or ``0``); by default, yes
    unless ``CI=true``."""
    setting = os.environ.get("COOKBOOK_WARM_ZYGOTE")
    if setting is not None:
        return setting == "1"
    return os.environ.get("CI", "").lower() != "true"


def idle_seconds() -> float:
    return float(os.environ.get("COOKBOOK_WARM_ZYGOTE_SECONDS", "900"))


def key() -> str:
    """What a kept zygote must share with the build that uses it."""
    variables = {name: value for name, value in os.environ.items() if name not in VOLATILE_VARIABLES}
    described = {"python": sys.executable, "repository": str(REPO_ROOT), "environment": environment_key(),
                 "variables": variables}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def socket_path() -> Path:
    """Where this repository's server listens (in the temporary folder: a socket's path is short)."""
    digest = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"cookbook-zygote-{os.getuid()}-{digest}.sock"


def log_path() -> Path:
    return BUILD_DIR / "recipe-runs" / "warm-zygote.log"


def _send(connection: socket.socket, message) -> None:
    data = pickle.dumps(message)
    connection.sendall(_HEADER.pack(len(data)) + data)


def _receive(connection: socket.socket):
    def exactly(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = connection.recv(size - len(data))
            if not chunk:
                raise ConnectionError("the other side closed the connection")
            data += chunk
        return data

    return pickle.loads(exactly(_HEADER.unpack(exactly(_HEADER.size))[0]))


# --------------------------------------------------------------------------------------------
# The build's side
# --------------------------------------------------------------------------------------------


def _connect(path: Path) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:  # no server, or a socket file left by one that died
        connection.close()
        return None
    return connection


def _start_server(path: Path, wanted: str) -> subprocess.Popen:
    log = log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as output:  # the log of the last server started
        return subprocess.Popen([sys.executable, "-c", SERVER, str(path), wanted],
                                stdin=subprocess.DEVNULL, stdout=output, stderr=output, cwd=REPO_ROOT,
                                start_new_session=True)  # not in the build's process group: it outlives make


def build_zygote(request: dict) -> socket.socket | None:
    """A connection to a build zygote of the kept server, which runs ``request`` (the recipes, the
    gallery's configuration, the imports, the scratch folder: see ``recipe_pool.RecipePool``) and
    writes one line per recipe that ends on it. None when the server cannot be reached or started
    (the build then forks its own zygote)."""
    path, wanted = socket_path(), key()
    for _ in range(2):  # a second attempt after a server of another key stopped
        connection = _connect(path)
        if connection is None:
            server = _start_server(path, wanted)
            deadline = time.monotonic() + 30
            # A server that cannot listen (its log says why) ends at once: the build does not wait for it.
            while connection is None and time.monotonic() < deadline and server.poll() is None:
                time.sleep(0.02)
                connection = _connect(path)
            if connection is None:
                return None
        try:
            _send(connection, {"key": wanted, **request})
            if _receive(connection) == "accepted":
                return connection
        except (OSError, ConnectionError, EOFError, pickle.UnpicklingError):
            pass
        connection.close()  # another key: that server stops; the second attempt starts ours
        deadline = time.monotonic() + 5
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    return None


def stop_server() -> bool:
    """Stop this repository's server, if one runs (``make stop-zygote``)."""
    connection = _connect(socket_path())
    if connection is None:
        return False
    with connection:
        _send(connection, {"key": "stop"})
    return True


def connection_open(connection: socket.socket) -> bool:
    """Whether the build at the other end still listens (a closed socket reads as empty)."""
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return True
    try:
        return bool(connection.recv(1, socket.MSG_PEEK))
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# The server's side
# --------------------------------------------------------------------------------------------


#: What :func:`_prepare` was asked for already in this server.
_prepared: set[str] = set()


def _prepare(preload: tuple[str, ...]) -> None:
    """Import what recipes need, once (the server keeps it for the next builds). The whole list goes
    to :func:`preload_recipe_modules`, not only the modules not imported yet: ``torch.onnx`` is
    imported with ``torch.export``, and naming it is what builds the exporter's shared registry."""
    if set(preload) <= _prepared:
        return
    preload_recipe_modules(tuple(preload))
    _prepared.update(preload)
    if "torch" in sys.modules:
        prepare_torch()
    gc.freeze()


def serve(path: Path, own_key: str, serve_build) -> None:
    """Listen on ``path``; for each build of ``own_key``, call ``serve_build(request, connection)``
    (which forks that build's zygote); stop after :func:`idle_seconds` without a build, or at a
    build of another key."""
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)
    try:
        refuse_network()  # before the imports, as in the build's own zygote
        runs_in_own_process()
        while True:
            ready, _, _ = select.select([listener], [], [], idle_seconds())
            while True:  # reap the build zygotes that ended
                try:
                    if os.waitpid(-1, os.WNOHANG)[0] == 0:
                        break
                except ChildProcessError:
                    break
            if not ready:
                return
            connection, _ = listener.accept()
            try:
                request = _receive(connection)
            except (OSError, ConnectionError, EOFError, pickle.UnpicklingError):
                connection.close()
                continue
            if request.get("key") != own_key:
                connection.close()
                return  # a build of another environment or code: it starts its own server
            _send(connection, "accepted")  # the build goes on with its pages meanwhile
            _prepare(request["preload"])  # torch and the exporters at the first build, then what a build adds
            serve_build(request, connection)
            connection.close()
    finally:
        listener.close()
        path.unlink(missing_ok=True)


def main(args: list[str], serve_build) -> int:
    """The server: ``args`` are its socket's path and its key (a build starts it, :func:`build_zygote`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in make's terminal is for the build
    serve(Path(args[0]), args[1], serve_build)
    sys.stdout.flush()
    sys.stderr.flush()
    # Without the interpreter's own exit: it would tear down torch's extension modules for nothing
    # (and some of them print their leaks).
    os._exit(0)

