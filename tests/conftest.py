"""Shared test set-up: the repository on sys.path, and the project's pytest plugins."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# pytester: tests/test_sharding.py runs the sharding plugin in real pytest sessions.
pytest_plugins = ["plugins.sharding", "pytester"]
