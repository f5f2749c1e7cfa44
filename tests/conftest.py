"""Shared test set-up: the repository on sys.path, and the project's pytest plugins."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# pytester: tests/test_sharding.py runs the sharding plugin in real pytest sessions.
pytest_plugins = ["plugins.sharding", "pytester"]

# The builds of the tests fork their own recipes' zygote: no server of cookbook.site.warm_zygote
# outlives a test (tests/test_warm_zygote.py starts and stops its own).
import os  # noqa: E402

os.environ.setdefault("COOKBOOK_WARM_ZYGOTE", "0")
