"""The history of every expectation across PyTorch releases: for each release of :data:`RELEASES`,
one at a time, a throwaway virtualenv with that torch (and the pinned onnx, onnxscript,
onnxruntime, numpy and transformers of requirements-docs.txt) records every recipe into ``_doc/behaviour/``
(:mod:`cookbook.harness.behaviour`), then is removed.

    python -m cookbook.harness.history                 # every release of RELEASES (make history)
    python -m cookbook.harness.history 2.14.1 2.15.0   # some of them
    python -m cookbook.harness.history latest          # the newest release on the index
    python -m cookbook.harness.history nightly --pre --index-url URL   # a nightly build from another index

The virtualenvs are made by uv (pinned in requirements-docs.txt, installed in .venv by make): it
reads no pip configuration and hard-links packages from one cache, so a release costs its download
once. On PyPI, Linux wheels of torch are CUDA builds (about 3 GB to download, 6 GB installed,
linked from uv's cache); they run on the CPU. A recipe that cannot run on an old release (an API
it uses is missing) is recorded with its error; one that stops at its import of transformers, with
the outcome ``needs-later-release`` and the import's message.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cookbook import BEHAVIOUR_DIR, REPO_ROOT

#: The latest patch of each minor release since 2.9, the oldest first.
RELEASES = ("2.9.1", "2.10.0", "2.11.0", "2.12.1", "2.13.0", "2.14.1", "2.15.0")
#: The packages installed beside torch, at the versions pinned in requirements-docs.txt: those the
#: recipes import, and transformers with its direct requirements (on a release where transformers
#: cannot be imported, its recipes are recorded as ``needs-later-release``, cookbook.harness.behaviour).
COMPANIONS = (
    "onnx", "onnxscript", "onnxruntime", "numpy",
    "transformers", "huggingface-hub", "tokenizers", "safetensors", "regex", "pyyaml", "tqdm", "typer", "packaging",
)
REQUIREMENTS = REPO_ROOT / "requirements-docs.txt"


def pinned(names=COMPANIONS, requirements: Path = REQUIREMENTS) -> list[str]:
    """``["onnx==1.23.2", ...]`` as requirements-docs.txt pins them."""
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", requirements.read_text(), re.MULTILINE))
    lowered = {name.lower(): f"{name}=={version}" for name, version in pins.items()}
    missing = [name for name in names if name.lower() not in lowered]
    if missing:
        raise SystemExit(f"{requirements}: no exact pin for {', '.join(missing)}")
    return [lowered[name.lower()] for name in names]


def uv() -> list[str]:
    """How to call uv: the one installed beside this Python (make installs it), else on PATH."""
    beside = Path(sys.executable).parent / "uv"
    if beside.exists():
        return [str(beside)]
    if shutil.which("uv"):
        return ["uv"]
    return [sys.executable, "-m", "uv"]


def run(command: list[str], **kwargs) -> None:
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, check=True, **kwargs)


def torch_requirement(release: str) -> str:
    """``torch==2.14.1`` for a version; plain ``torch`` (the newest) for ``latest`` or ``nightly``."""
    return "torch" if release in ("latest", "nightly") else f"torch=={release}"


def record_release(release: str, out_dir: Path, index_options: tuple[str, ...] = ()) -> float:
    """Make a virtualenv with torch ``release``, record every recipe with it, remove it; seconds."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"cookbook-torch-{release}-") as scratch:
        venv = Path(scratch) / "venv"
        python = venv / "bin" / "python"
        run([*uv(), "venv", "--quiet", "--python", sys.executable, str(venv)])
        run([*uv(), "pip", "install", "--quiet", "--python", str(python), *pinned()])
        # --compile-bytecode: without .pyc files each recipe's process compiles torch from source.
        run([*uv(), "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python), *index_options, torch_requirement(release)])
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        env.pop("VIRTUAL_ENV", None)
        run([str(python), "-m", "cookbook.harness.behaviour", "record", "--out", str(out_dir)], cwd=REPO_ROOT, env=env)
        size = subprocess.run(["du", "-sh", str(venv)], capture_output=True, text=True).stdout.split()[0]
        print(f"torch {release}: virtualenv {size} (hard links to uv's cache count once on disk)", flush=True)
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cookbook.harness.history", description=__doc__.split("\n\n")[0])
    parser.add_argument("releases", nargs="*", default=list(RELEASES), help="torch releases (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=BEHAVIOUR_DIR)
    parser.add_argument("--index-url", help="install torch from this index instead of PyPI (e.g. a nightly index)")
    parser.add_argument("--pre", action="store_true", help="accept a pre-release of torch (nightly builds)")
    args = parser.parse_args(argv)
    index_options = (*(("--index-url", args.index_url) if args.index_url else ()), *(("--pre",) if args.pre else ()))
    timings = {}
    for release in args.releases:
        timings[release] = record_release(release, args.out, index_options)
        print(f"torch {release}: recorded in {timings[release]:.0f} s", flush=True)
    print("; ".join(f"{release} {seconds:.0f} s" for release, seconds in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
