"""The error matcher (cookbook/errors.py, `python -m cookbook.explain`): a reader's error, with
their names, sizes, symbols and paths, finds the recipe that documents it.

Two kinds of queries: the cookbook's own documented errors rewritten as a reader's would read
(other names, other sizes, other symbols, wrapped in a traceback), and real errors that users
pasted into PyTorch's issue tracker (tests/data/errors/*.txt, each with its issue number, the
recipe that documents it and, in ``# also:``, other recipes whose pages show the same message)."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from cookbook import DOC_DIR, GALLERY_DIR, RECIPES_DIR, REPO_ROOT
from cookbook.errors import error_lines, features, index_entries, matcher_from_index
from cookbook.recipes import discover_recipes
from cookbook.site.troubleshooting import collect, parse_sentinels

DATA = Path(__file__).parent / "data" / "errors"
pytestmark = pytest.mark.needs_site

RENAMES = {r"\bx\b": "input_ids", r"\by\b": "attention_mask", r"\bbatch\b": "batch_size", r"\bseq\b": "seq_len"}


def as_a_reader_would_paste_it(text: str) -> str:
    """A documented error with a reader's names, sizes and symbols, inside a traceback."""
    for pattern, name in RENAMES.items():
        text = re.sub(pattern, name, text)
    text = re.sub(r"\b([suqz])(\d+)\b", lambda m: f"{m.group(1)}{int(m.group(2)) * 3 + 44}", text)
    text = re.sub(r"(?<![\w.])(\d+)(?![\w.])", lambda m: str(int(m.group(1)) * 2 + 6), text)
    frames = ('Traceback (most recent call last):\n  File "/home/reader/project/export_model.py", line 88, in <module>\n'
              "    ep = torch.export.export(model, args, dynamic_shapes=spec)\n            ^^^^^^^^^^^^^^^^^^^^\n")
    return frames + text


@lru_cache(maxsize=1)
def index() -> list[dict]:
    return index_entries(collect(DOC_DIR / GALLERY_DIR, RECIPES_DIR))


def own_errors() -> list[dict]:
    """One documented error per distinct first line (the same line may be documented twice)."""
    seen, chosen = set(), []
    for entry in index() if (DOC_DIR / GALLERY_DIR).exists() else []:
        first = entry["text"].splitlines()[0]
        if first not in seen:
            seen.add(first)
            chosen.append(entry)
    return chosen


def page_of(recipe: str) -> str:
    path = Path(recipe.strip())
    return f"{GALLERY_DIR}/{path.parent}/{path.stem}.html"


def real_errors() -> list[tuple[str, tuple[str, ...], str]]:
    """(file name, the pages that document it (the recipe first), text) of each stored real error."""
    found = []
    for path in sorted(DATA.glob("*.txt")):
        header = dict(re.findall(r"^# (\w+): (.*)$", path.read_text(), re.MULTILINE))
        text = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("# "))
        also = re.findall(r"[\w/]+\.py", header.get("also", ""))
        found.append((path.name, tuple(page_of(recipe) for recipe in [header["recipe"], *also]), text))
    return found


@pytest.mark.reads_named_recipes
def test_the_stored_real_errors_name_their_issue_and_an_existing_recipe():
    assert len(real_errors()) >= 10
    for path in sorted(DATA.glob("*.txt")):
        header = dict(re.findall(r"^# (\w+): (.*)$", path.read_text(), re.MULTILINE))
        assert re.fullmatch(r"pytorch/pytorch#\d+", header["issue"]), path.name
        for recipe in [header["recipe"], *re.findall(r"[\w/]+\.py", header.get("also", ""))]:
            assert (RECIPES_DIR / recipe).exists(), f"{path.name}: {recipe}"


def test_the_index_holds_an_error_of_every_recipe_that_documents_one():
    """Without it, the matcher's tests below would pass on an empty index (no site built)."""
    expected = {page_of(str(recipe.relative_to(RECIPES_DIR))) for recipe in discover_recipes()
                if parse_sentinels(recipe.read_text(encoding="utf-8"))}
    indexed = {entry["page"] for entry in index()}
    assert expected, "no recipe documents an error"
    assert expected <= indexed, f"documented errors missing from the index (build the site first): {sorted(expected - indexed)}"


def test_a_reader_version_of_each_documented_error_finds_its_recipe_first():
    """The first recipe documents that very message (several recipes may show the same one)."""
    assert own_errors(), "no documented error: build the site first (make html)"
    matcher = matcher_from_index(index())
    documenting = {}
    for entry in index():
        documenting.setdefault(frozenset(features(entry["text"]).items()), set()).add(entry["page"])
    misses = []
    for entry in own_errors():
        results = matcher.match(as_a_reader_would_paste_it(entry["text"]), limit=1)
        if not results or results[0].page not in documenting[frozenset(features(entry["text"]).items())]:
            misses.append(f"{entry['page']}: {entry['text'].splitlines()[0][:80]} -> {results[0].page if results else None}")
    assert not misses, "\n".join(misses)


@pytest.mark.reads_named_recipes
@pytest.mark.parametrize("name, pages, text", real_errors(), ids=lambda value: value if str(value).endswith(".txt") else "")
def test_a_real_error_from_pytorch_issues_finds_its_recipe_in_the_first_three(name, pages, text):
    results = matcher_from_index(index()).match(text, limit=3)
    assert set(pages) & {result.page for result in results}, [(r.page, r.score) for r in results]


def test_frames_paths_names_sizes_and_symbols_do_not_count():
    ours = "AssertionError: Guard failed: x.size()[0] == 4"
    theirs = ('Traceback (most recent call last):\n  File "/srv/app/run.py", line 12, in main\n    module(batch)\n'
              "AssertionError: Guard failed: input_ids.size()[0] == 512")
    assert error_lines(theirs) == ["AssertionError: Guard failed: input_ids.size()[0] == 512"]
    assert features(ours) == features(theirs)
    assert features("Could not guard on data-dependent expression Eq(u0, 1)") == features(
        "Could not guard on data-dependent expression Eq(u17, 3)")


def test_the_command_line_prints_the_best_recipes_with_their_pages(tmp_path):
    entry = own_errors()[0]
    query = tmp_path / "error.txt"
    query.write_text(as_a_reader_would_paste_it(entry["text"]))
    process = subprocess.run([sys.executable, "-m", "cookbook.explain", str(query)], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    assert f"_build/html/{entry['page']}" in process.stdout, process.stdout
    assert process.stdout.startswith("1. "), process.stdout
    piped = subprocess.run([sys.executable, "-m", "cookbook.explain"], input=query.read_text(), cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=120)
    assert piped.stdout == process.stdout


@pytest.mark.reads_named_recipes
@pytest.mark.parametrize("name, pages, text", real_errors(), ids=lambda value: value if str(value).endswith(".txt") else "")
def test_the_command_line_finds_each_real_error(name, pages, text, tmp_path):
    query = tmp_path / "error.txt"
    query.write_text(text)
    process = subprocess.run([sys.executable, "-m", "cookbook.explain", str(query)], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=120)
    assert any(f"_build/html/{page}" in process.stdout for page in pages), process.stdout


def test_the_index_and_the_page_list_errors_in_the_same_order_whatever_the_hash_seed():
    """Two errors of one recipe may share a first line: their order must not come from a set's."""
    script = (
        "import json; from cookbook import DOC_DIR, GALLERY_DIR, RECIPES_DIR; "
        "from cookbook.site.troubleshooting import collect; "
        "print(json.dumps([e.text for e in collect(DOC_DIR / GALLERY_DIR, RECIPES_DIR)]))"
    )
    orders = {
        subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout
        for seed in ("1", "2", "3", "4")
    }
    assert len(orders) == 1
