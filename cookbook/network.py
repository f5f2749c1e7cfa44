"""No recipe reaches the network: a guard on Python's sockets in every process that runs a recipe.

A recipe must run offline (the developers' guide: no downloads, no network; the transformers
recipes build their models from a config, never from the hub). :func:`refuse_network` is called
once in each zygote, the build's (:mod:`cookbook.site.recipe_pool`) and the harness's
(:mod:`cookbook.harness.runner`), before any recipe module is imported; each recipe's process
inherits it. Every attempt to resolve a host name or to connect to an internet address raises
``OSError`` and is noted in :data:`ATTEMPTS`, which the recipe's run record (the build's) and
result (the harness's) carry: an attempt that the recipe's code swallowed is still seen, and
``tests/test_recipes.py`` fails on any. Sockets of other families (a Unix socket) are not guarded.

What a recipe prints is the same as under ``python recipe.py`` on a machine without a network:
the guard only acts where the recipe breaks the rule.
"""

from __future__ import annotations

import socket

#: The attempts of this process since :func:`forget_attempts`, as ``"connect ('host', 443)"``.
ATTEMPTS: list[str] = []
_GUARDED_FAMILIES = (socket.AF_INET, socket.AF_INET6)
_installed = False


def _refuse(what: str, detail) -> None:
    attempt = f"{what} {detail!r}"
    ATTEMPTS.append(attempt)
    raise OSError(f"network access refused in a recipe's process: {attempt}")


def refuse_network() -> None:
    """Guard this process's sockets (once; the processes it forks inherit the guard)."""
    global _installed
    if _installed:
        return
    def guarded(method):
        def connect(self, address):
            if self.family in _GUARDED_FAMILIES:
                _refuse("connect", address)
            return method(self, address)
        return connect

    def guarded_getaddrinfo(host, port, *args, **kwargs):
        _refuse("getaddrinfo", (host, port))

    socket.socket.connect = guarded(socket.socket.connect)
    socket.socket.connect_ex = guarded(socket.socket.connect_ex)
    socket.getaddrinfo = guarded_getaddrinfo
    _installed = True


def forget_attempts() -> None:
    """Start a recipe's count afresh (a child inherits its zygote's list)."""
    ATTEMPTS.clear()
