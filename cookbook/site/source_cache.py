"""What the build computes from a recipe's source alone, kept from one build to the next.

Every build reads each recipe for several pages: the sentinels it handles (troubleshooting page),
the API names it uses (APIs page, links in its code), the section packages it imports (its
notebook's install line), the operations it calls (the error matcher). Each is a pure function of
the source's text, and parsing plus walking 74 syntax trees cost about a second of every build, the
no-op build included. :func:`kept_across_builds` keeps each result in ``_build/cookbook-cache/``,
keyed by the function, the source's SHA-256 and the SHA-256 of the cookbook's own code (a change
of any module of ``cookbook/`` computes everything again: a result never outlives the code that
made it).

The file is read once, on the first lookup, and written by :func:`save` (``build-finished``) only
when the build computed something new; it then holds only the entries this build used, so that
it does not grow with every edit. A cache that cannot be read (another Python, a truncated file)
is ignored and written again.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from cookbook import BUILD_DIR

CACHE_FILE = BUILD_DIR / "cookbook-cache" / "sources.pickle"
_PACKAGE = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=None)
def code_version(package: Path = _PACKAGE) -> str:
    """The SHA-256 of every module of the cookbook package, in a stable order."""
    digest = hashlib.sha256()
    for module in sorted(package.rglob("*.py")):
        digest.update(module.relative_to(package).as_posix().encode())
        digest.update(module.read_bytes())
    return digest.hexdigest()


class _Store:
    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[tuple[str, str, str], object] | None = None
        self.used: set[tuple[str, str, str]] = set()
        self.computed = 0

    def load(self) -> dict:
        if self.entries is None:
            try:
                entries = pickle.loads(self.path.read_bytes())
                self.entries = entries if isinstance(entries, dict) else {}
            except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
                self.entries = {}
        return self.entries

    def save(self) -> bool:
        """Write the entries this build used, if it computed any; True when written."""
        if not self.computed or self.entries is None:
            return False
        kept = {key: value for key, value in self.entries.items() if key in self.used}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.path.parent, delete=False) as scratch:
            pickle.dump(kept, scratch, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(scratch.name, self.path)  # a reader never sees half a file
        self.computed = 0
        return True


_store = _Store(CACHE_FILE)


def kept_across_builds(function):
    """``function(source: str)``, with its result kept in the build's cache (and in memory)."""
    name = f"{function.__module__}.{function.__qualname__}"

    @functools.lru_cache(maxsize=None)
    @functools.wraps(function)
    def cached(source: str):
        key = (name, code_version(), hashlib.sha256(source.encode("utf-8")).hexdigest())
        entries = _store.load()
        _store.used.add(key)
        if key not in entries:
            entries[key] = function(source)
            _store.computed += 1
        return entries[key]

    return cached


def save(app=None, exception=None) -> None:
    """``build-finished``: write the cache if this build computed something new."""
    _store.save()
