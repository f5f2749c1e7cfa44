"""Split the tests into n stable, balanced shards for CI (``make test SHARD=i/n``).

Recipe tests weigh what they took last time they were measured (``tests/recipe-times.json``,
refreshed by copying ``_build/test-results/recipe-durations.json`` after a full run); a recipe
not listed there weighs :data:`DEFAULT_RECIPE_SECONDS`. Tests that read the built site go to
shard 1, which also builds the site. The assignment is a greedy longest-first packing over a
sorted list, so the same tests always land in the same shards, and every test in exactly one.
"""

from __future__ import annotations

import json
from pathlib import Path

TIMES_FILE = Path(__file__).resolve().parent.parent / "tests" / "recipe-times.json"
DEFAULT_RECIPE_SECONDS = 3.0
OTHER_TEST_SECONDS = 0.5


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard expects i/n with whole numbers, e.g. 1/3, not {text!r}") from None
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text}: i must be between 1 and n")
    return index, count


def _weight(item, times: dict[str, float]) -> float:
    if "test_recipe_runs[" in item.nodeid:
        return times.get(item.nodeid.split("[", 1)[1].rstrip("]"), DEFAULT_RECIPE_SECONDS)
    return OTHER_TEST_SECONDS


def assign_shards(items, count: int, times: dict[str, float] | None = None) -> dict[str, int]:
    """``{nodeid: shard}`` with shards numbered from 1."""
    if times is None:
        times = json.loads(TIMES_FILE.read_text()) if TIMES_FILE.exists() else {}
    loads = [0.0] * count
    chosen = {}
    pinned = [item for item in items if item.get_closest_marker("needs_site")]
    free = [item for item in items if not item.get_closest_marker("needs_site")]
    for item in sorted(pinned, key=lambda item: item.nodeid):
        chosen[item.nodeid] = 1
        loads[0] += _weight(item, times)
    for item in sorted(free, key=lambda item: (-_weight(item, times), item.nodeid)):
        shard = min(range(count), key=lambda i: (loads[i], i))
        chosen[item.nodeid] = shard + 1
        loads[shard] += _weight(item, times)
    return chosen
