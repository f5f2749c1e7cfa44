"""Shared test set-up: the repository on sys.path, and the project's pytest plugins."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

pytest_plugins = ["plugins.sharding"]
