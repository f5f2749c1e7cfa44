"""The doc build on small throwaway sites (a copy of conf.py, cookbook/ and _doc/ with a few
recipes), built as few times as the checks allow: a site whose recipes all pass, built once and
then again after each change that must (or must not) re-run its recipes; a second copy of it in
another folder, to compare pages; and a site whose recipes fail in every way the build must report
in the harness's words (a fired sentinel, a swallowed sentinel, a recipe that hangs, one that
ends its process, one that does not parse)."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
from PIL import Image

from cookbook import GALLERY_DIR, REPO_ROOT
from cookbook.environment import build_fingerprint
from cookbook.output_paths import find_machine_paths
from cookbook.site import RELATED_BEGIN, RELATED_END
from cookbook.site.build import command
from cookbook.site.thumbnails import WHAT

DIVIDE = '''
"""
A throwaway recipe
==================

It documents that dividing by zero raises.
"""

try:
    value = 1 / {divisor}
    raise AssertionError("dividing by zero now works: update this recipe")
except ZeroDivisionError as e:
    print(e)
'''

PATHS = '''
"""
Paths in outputs
================
"""
import traceback

import torch


class Model(torch.nn.Module):
    def forward(self, x):
        return x.reshape(-1, 3)


print(torch.export.export(Model(), (torch.ones(2, 3),)))
try:
    torch.export.export(Model(), (torch.ones(2, 4),))
    raise AssertionError("4 columns now reshape to 3: update this recipe")
except RuntimeError as e:
    traceback.print_exc(file=__import__("sys").stdout)
'''

# Both recipes trigger the same warning from the same place of a shared module: in one build
# process Python would show it once, on the first page only.
WARNS = '''
"""
Warns {n}
=========
"""
from legacy_api import old_api

old_api()
'''
LEGACY_API = "import warnings\n\n\ndef old_api():\n    warnings.warn('old_api is deprecated', FutureWarning)\n"

SWALLOWED = '''
"""
A sentinel swallowed by a broad handler
=======================================
"""
import contextlib

with contextlib.suppress(Exception):
    try:
        value = 1 / 2
        raise AssertionError("dividing by zero now works: update this recipe")
    except ZeroDivisionError as e:
        print(e)
'''

LEAVES_STATE = '''
"""
Leaves state behind
===================
"""
import json

json.left_by_another_recipe = True
'''

DOES_NOT_PARSE = '''
"""
A recipe that does not parse
============================
"""
def broken(:
    pass
'''

READS_STATE = '''
"""
Relies on what another recipe left
==================================
"""
import json

print(json.left_by_another_recipe)
'''

EXITS = '''
"""
A recipe whose process ends abruptly
====================================
"""
import os

os._exit(3)
'''

# Killed by SIGABRT, as by a C++ library's std::terminate (which first writes its message to file
# descriptor 2), with a line on the page that the abort loses.
ABORTS = '''
"""
A recipe whose process is killed by a signal
============================================
"""
import os

print("on the page, lost with the page")
os.write(2, b"terminate called after throwing an instance of 'std::system_error'\\n")
os.abort()
'''

HANGS = '''
"""
A recipe that never ends
========================
"""
import time

print("start")
while True:
    time.sleep(0.1)
'''


def make_site(folder, recipes: dict[str, str]):
    """A copy of the site's configuration with one section holding ``recipes`` (name: source)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("conf.py", "cookbook"):
        source = REPO_ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, folder / name)
    shutil.copytree(REPO_ROOT / "_doc", folder / "_doc", ignore=shutil.ignore_patterns(GALLERY_DIR, "behaviour"))
    # The landing page's sentences that link to the cookbook's own recipes: a throwaway site has other recipes.
    index = folder / "_doc" / "index.rst"
    paragraphs = index.read_text().split("\n\n")
    index.write_text("\n\n".join(p for p in paragraphs if ":ref:`recipe-" not in p))
    section = folder / "recipes" / "constraints"
    section.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "recipes" / "README.rst", folder / "recipes" / "README.rst")
    (section / "README.rst").write_text("Constraints\n-----------\n\nA section.\n")
    for name, source in recipes.items():
        (section / name).write_text(source)
    (folder / "lib").mkdir()
    (folder / "lib" / "legacy_api.py").write_text(LEGACY_API)
    return folder


def build(site, **env):
    """Build a throwaway site; one recipe at a time unless asked (the failing site is built with two
    at a time, as make html on 2 cores)."""
    environment = dict(os.environ, PYTHONPATH=str(site / "lib"), **({"COOKBOOK_BUILD_JOBS": "1"} | env))
    process = subprocess.run(command(), cwd=site, env=environment, capture_output=True, text=True, timeout=600)
    return process.returncode, process.stdout + process.stderr


def page(site, name):
    return (site / "_doc" / GALLERY_DIR / "constraints" / f"{name}.rst").read_text()


def ran(output):
    """How many recipes a build ran (sphinx-gallery: 'executed N out of M file(s)')."""
    match = re.search(r"executed (\d+) out of (\d+) file", output)
    assert match, output[-2000:]
    return int(match.group(1))


PASSING = {"plot_divide.py": DIVIDE.format(divisor=0), "plot_paths.py": PATHS,
           "plot_warns_1.py": WARNS.format(n=1), "plot_warns_2.py": WARNS.format(n=2)}


@pytest.fixture(scope="module")
def passing_site(tmp_path_factory):
    site = make_site(tmp_path_factory.mktemp("builds") / "first-checkout", PASSING)
    code, output = build(site)
    assert code == 0, output
    return site, output


def test_every_recipe_runs_in_the_first_build_with_its_output_on_its_page(passing_site):
    site, output = passing_site
    assert ran(output) == len(PASSING), output
    assert "division by zero" in page(site, "plot_divide")
    recorded = site / "_doc" / GALLERY_DIR / ".build-environment.json"
    assert json.loads(recorded.read_text()).items() >= build_fingerprint().items()


def test_each_page_shows_its_warnings_whatever_ran_before_it(passing_site):
    """Each recipe runs in a fresh fork, where no recipe showed a warning before it."""
    site, _ = passing_site
    for n in (1, 2):
        assert "FutureWarning: old_api is deprecated" in page(site, f"plot_warns_{n}"), page(site, f"plot_warns_{n}")[-800:]


def test_two_builds_in_two_folders_give_the_same_pages_without_machine_paths(passing_site):
    site, _ = passing_site
    other = make_site(site.parent / "elsewhere" / "second-checkout", {"plot_paths.py": PATHS})
    code, output = build(other)
    assert code == 0, output
    pages = []
    for checkout in (site, other):
        text = page(checkout, "plot_paths")
        assert find_machine_paths(text) == [] and str(checkout) not in text
        assert "# File: recipes/constraints/plot_paths.py:" in text
        assert 'File "torch/' in text  # a traceback frame of site-packages, shown from the package root
        text = re.sub(f"{RELATED_BEGIN}.*{RELATED_END}", "", text, flags=re.DOTALL)  # the sections differ
        text = re.sub(r"\n{3,}", "\n\n", text)
        pages.append("\n".join(line for line in text.splitlines() if "Total running time" not in line))
    assert pages[0] == pages[1]


def test_a_warning_shown_before_a_recipe_runs_is_shown_again_on_its_page(tmp_path):
    """cookbook.site.execution._forget_shown_warnings, before each recipe: a warning that the
    recipe's process showed before the recipe (in the zygote that forked it, say) is shown again
    (Python shows a warning once per place, then remembers it). The filters are set once: a
    change of them would make Python forget on its own."""
    code = textwrap.dedent("""
        import sys, warnings
        from legacy_api import old_api
        from cookbook.site.execution import around_recipe

        shown = []
        warnings.showwarning = lambda message, *args, **kwargs: shown.append(str(message))
        warnings.simplefilter("default")
        old_api()  # shown, then remembered
        around_recipe({}, "plot_not_a_recipe.py", "before")
        old_api()
        around_recipe({}, "plot_not_a_recipe.py", "after")
        print(len(shown))
    """)
    (tmp_path / "legacy_api.py").write_text(LEGACY_API)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(tmp_path)]))
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2"], (done.stdout, done.stderr)


def is_card(site, name) -> bool:
    thumb = site / "_doc" / GALLERY_DIR / "constraints" / "images" / "thumb" / f"sphx_glr_{name}_thumb.png"
    with Image.open(thumb) as image:
        return WHAT in image.text


def test_each_recipe_gets_its_card_as_thumbnail(passing_site):
    """cookbook.site.draw_cards: every recipe's thumbnail is its card, not sphinx-gallery's
    placeholder (drawn while the zygote imports torch, and again after the gallery where
    sphinx-gallery replaced it). Whether a card is there before its recipe's child starts is a
    race (it saves the child a little work), so it is not asserted."""
    site, _ = passing_site
    assert all(is_card(site, name.removesuffix(".py")) for name in PASSING)


def passed_in_build(site) -> dict:
    """What the site's own cookbook says of each recipe: the seconds it took in the last build when
    that run counts for the harness (cookbook.site.execution.passed_in_build), else None."""
    script = ("import json; from cookbook import RECIPES_DIR; from cookbook.site.execution import passed_in_build; "
              "print(json.dumps({p.name: passed_in_build(p) for p in sorted(RECIPES_DIR.glob('*/plot_*.py'))}))")
    process = subprocess.run([sys.executable, "-c", script], cwd=site, capture_output=True, text=True, check=True)
    return json.loads(process.stdout)


def test_a_recipe_that_passed_in_the_build_counts_for_the_harness_until_it_or_the_cookbook_changes(passing_site):
    site, _ = passing_site
    assert all(isinstance(seconds, float) for seconds in passed_in_build(site).values()), passed_in_build(site)
    recipe, conf = site / "recipes" / "constraints" / "plot_divide.py", site / "conf.py"
    for changed in (recipe, conf):
        original = changed.read_text()
        try:
            changed.write_text(original + "\n# a change\n")
            assert passed_in_build(site)["plot_divide.py"] is None, changed
        finally:
            changed.write_text(original)
    assert passed_in_build(site)["plot_divide.py"] is not None


def test_each_recipe_runs_in_a_fresh_process_so_none_sees_what_another_left(tmp_path):
    """The build runs a recipe as the harness does: what a recipe leaves in a module is gone for the next."""
    site = make_site(tmp_path / "site", {"plot_a_leaves_state.py": LEAVES_STATE, "plot_b_reads_state.py": READS_STATE})
    code, output = build(site)
    assert code != 0, output
    assert "plot_b_reads_state.py" in output and "AttributeError" in output, output
    verdicts = passed_in_build(site)
    assert verdicts["plot_a_leaves_state.py"] is not None and verdicts["plot_b_reads_state.py"] is None, verdicts


def copy_of(site, tmp_path):
    """A copy of a built site, for a test that changes it (the module's sites are shared)."""
    return shutil.copytree(site, tmp_path / site.name, symlinks=True)


def test_the_build_reruns_a_recipe_exactly_when_it_or_the_environment_changed(passing_site, tmp_path):
    site = copy_of(passing_site[0], tmp_path)
    code, output = build(site)  # nothing changed: nothing runs
    assert code == 0 and ran(output) == 0, output
    # Nor is anything finished again (cookbook.site.finishing_inputs), unless what it wrote is missing.
    # (The build above may have: another test of the module rewrites the shared site's recipe and conf.py.)
    code, output = build(site)
    assert code == 0 and "[cookbook] troubleshooting page" not in output and "documented errors indexed" not in output, output
    index = site / "_build" / "html" / "_static" / "error-index.js"
    index.unlink()
    code, output = build(site)
    assert code == 0 and ran(output) == 0 and "documented errors indexed" in output and index.exists(), output
    # One edited recipe: only that one runs, and its page is finished.
    edited = site / "recipes" / "constraints" / "plot_divide.py"
    edited.write_text(edited.read_text() + "\n# an edit\n")
    code, output = build(site)
    assert code == 0 and ran(output) == 1 and "[cookbook] troubleshooting page" in output, output
    # A new torch (simulated: the previous build recorded another version) makes every recipe run again.
    recorded = site / "_doc" / GALLERY_DIR / ".build-environment.json"
    recorded.write_text(json.dumps(json.loads(recorded.read_text()) | {"torch": "2.12.0"}))
    code, output = build(site)
    assert code == 0 and "torch 2.12.0 -> " in output and ran(output) == len(PASSING), output
    assert json.loads(recorded.read_text())["torch"] == build_fingerprint()["torch"]
    # So does a change of the build configuration (conf.py): it may change what recipes print.
    with open(site / "conf.py", "a") as conf:
        conf.write("\n# a change\n")
    code, output = build(site)
    assert code == 0 and "conf.py " in output and ran(output) == len(PASSING), output


def files_named(site, name):
    """The files and folders of a site's gallery, build output and run records whose name holds ``name``."""
    roots = [site / "_doc" / GALLERY_DIR, site / "_build"]
    return sorted(str(path.relative_to(site)) for root in roots for path in root.rglob(f"*{name}*"))


def test_a_renamed_recipe_leaves_nothing_of_its_old_name_and_the_next_builds_pass(tmp_path):
    """cookbook.site.leftovers: the old name's page, notebook, sources, md5, thumbnail, HTML page,
    downloads, images and run record are deleted by the next build (otherwise its page is in no
    toctree, and warnings are errors)."""
    site = make_site(tmp_path / "site", {"plot_old_name.py": DIVIDE.format(divisor=0),
                                         "plot_other.py": DIVIDE.format(divisor=0)})
    code, output = build(site)
    assert code == 0, output
    assert files_named(site, "plot_old_name"), "the first build wrote nothing under the old name"
    section = site / "recipes" / "constraints"
    (section / "plot_old_name.py").rename(section / "plot_new_name.py")
    code, output = build(site)
    assert code == 0, output
    assert files_named(site, "plot_old_name") == []
    assert (site / "_build" / "html" / GALLERY_DIR / "constraints" / "plot_new_name.html").exists()
    assert "plot_old_name" not in (site / "_build" / "html" / GALLERY_DIR / "constraints" / "index.html").read_text()
    code, output = build(site)  # and the build after it is a no-op
    assert code == 0 and ran(output) == 0, output


def test_run_stale_examples_is_refused_before_any_recipe_runs(tmp_path):
    """cookbook.site.gallery_internals.refuse_run_stale_examples: sphinx-gallery would run the recipes
    in Sphinx's process, without the fresh fork and the time limit."""
    site = make_site(tmp_path / "site", {"plot_divide.py": DIVIDE.format(divisor=0)})
    process = subprocess.run(command(("-D", "sphinx_gallery_conf.run_stale_examples=1")), cwd=site,
                             capture_output=True, text=True, timeout=300)
    output = process.stdout + process.stderr
    assert process.returncode != 0 and "run_stale_examples'] is not supported by the cookbook" in output, output
    assert not (site / "_build" / "recipe-runs").exists(), "a recipe ran"


@pytest.fixture(scope="module")
def failing_site(tmp_path_factory):
    recipes = {"plot_divide.py": DIVIDE.format(divisor=2), "plot_swallowed.py": SWALLOWED, "plot_hangs.py": HANGS,
               "plot_passes.py": DIVIDE.format(divisor=0), "plot_exits.py": EXITS, "plot_syntax.py": DOES_NOT_PARSE,
               "plot_aborts.py": ABORTS}
    site = make_site(tmp_path_factory.mktemp("failing"), recipes)
    start = time.monotonic()
    code, output = build(site, COOKBOOK_RECIPE_TIMEOUT="3", COOKBOOK_BUILD_JOBS="2")
    return site, code, output, time.monotonic() - start


def test_a_failing_build_exits_non_zero_and_still_renders_the_other_recipes(failing_site):
    site, code, output, seconds = failing_site
    assert code != 0, output
    assert "division by zero" in page(site, "plot_passes")
    verdicts = passed_in_build(site)  # only what passed counts for the harness
    assert verdicts["plot_passes.py"] is not None and verdicts["plot_divide.py"] is None, verdicts
    assert verdicts["plot_swallowed.py"] is None and verdicts["plot_hangs.py"] is None, verdicts
    assert seconds < 180, f"the build took {seconds:.0f} s: the hanging recipe was not stopped"
    # sphinx-gallery gave the recipes that failed its "broken" thumbnail: the build drew their cards again.
    assert is_card(site, "plot_divide") and is_card(site, "plot_swallowed"), "a failing recipe lost its card"


def test_a_fired_sentinel_is_reported_in_the_harness_words(failing_site):
    _, _, output, _ = failing_site
    assert "recipes/constraints/plot_divide.py:11: a sentinel fired: PyTorch's behaviour changed." in output, output
    assert "AssertionError: dividing by zero now works: update this recipe" in output
    assert "Versions: python 3." in output and ", torch 2." in output, output


def test_a_swallowed_sentinel_fails_the_build_and_the_next_build_too(failing_site, tmp_path):
    _, _, output, _ = failing_site
    message = "recipes/constraints/plot_swallowed.py:11: a sentinel fired"
    assert message in output and "caught by a handler elsewhere" in output, output
    site = copy_of(failing_site[0], tmp_path)
    (site / "recipes" / "constraints" / "plot_hangs.py").unlink()
    code, output = build(site)  # not cached as a success: the next build runs it again and fails again
    assert code != 0 and message in output, output


def test_a_recipe_whose_process_ends_abruptly_fails_the_build_by_name(failing_site):
    _, _, output, _ = failing_site
    assert "recipes/constraints/plot_exits.py: the recipe's process ended (exit code 3) before its page was written" in output, output


def test_a_recipe_killed_by_a_signal_fails_the_build_with_its_line_and_the_end_of_its_log(failing_site):
    """The build's error holds what the recipe's process wrote last (its log is in _build, which a
    scratch copy of the tree takes with it): the C++ message, and faulthandler's traceback of the
    fatal signal, whose innermost frame of the recipe names its line."""
    _, _, output, _ = failing_site
    assert ("recipes/constraints/plot_aborts.py:10: the recipe's process ended (killed by signal SIGABRT) "
            "before its page was written") in output, output
    end = output[output.index("plot_aborts.py:10: the recipe's process ended"):]
    assert "terminate called after throwing an instance of 'std::system_error'" in end, end
    assert "Fatal Python error: Aborted" in end, end
    assert 'File "recipes/constraints/plot_aborts.py", line 10 in <module>' in end, end
    assert "on the page, lost with the page" not in end  # sphinx-gallery's capture, not the log


def test_the_end_of_a_log_quotes_the_message_before_a_fatal_signal_and_the_recipes_thread():
    """cookbook.verdicts.end_of_log, on a log shaped as the one of the SIGABRT in a cold build (a C++
    exception that escaped a thread of torch's): the lines before the dump without the C++ frames;
    of the dump, the thread that runs the recipe (not the C++ thread that received the signal,
    which has no Python frame), its innermost frames and its frames in the recipe; not the list
    of extension modules (one long line). The last lines of a log without a dump."""
    from cookbook.verdicts import FATAL_FRAMES, LAST_LINES, LINES_BEFORE_FATAL, end_of_log

    recipe = "/checkout/recipes/onnx/plot_x.py"
    torch_frames = [f'  File "torch/autograd/f{n}.py", line {n} in f{n}' for n in range(20)]
    in_recipe = [f'  File "{recipe}", line 165 in forward', f'  File "{recipe}", line 189 in forward']
    log = "\n".join([*(f"torch log line {n}" for n in range(30)),
                     "terminate called after throwing an instance of 'c10::Error'",
                     "  what():  pool INTERNAL ASSERT FAILED at ParallelOpenMP.cpp:64. Invalid thread pool!",
                     "Exception raised from set_num_threads at ParallelOpenMP.cpp:64 (most recent call first):",
                     *(f"frame #{n}: <unknown function> + 0x{n}" for n in range(9)), "",
                     "Fatal Python error: Aborted", "",
                     "Current thread 0x0002 (most recent call first):", "  <no Python frame>", "",
                     "Thread 0x0001 (most recent call first):", *torch_frames, in_recipe[0], *torch_frames,
                     in_recipe[1], '  File "sphinx_gallery/gen_rst.py", line 1 in execute_script', "",
                     "Extension modules: numpy, torch._C (total: 2)", ""])
    end = end_of_log(log, recipe).splitlines()
    assert end == [*(f"torch log line {n}" for n in range(30 - LINES_BEFORE_FATAL + 3, 30)),
                   "terminate called after throwing an instance of 'c10::Error'",
                   "  what():  pool INTERNAL ASSERT FAILED at ParallelOpenMP.cpp:64. Invalid thread pool!",
                   "Exception raised from set_num_threads at ParallelOpenMP.cpp:64 (most recent call first):",
                   "Fatal Python error: Aborted", "", "Thread 0x0001 (most recent call first):",
                   *torch_frames[:FATAL_FRAMES], "  ...", *in_recipe, "  ..."], end
    # Without the recipe's file, the thread that received the signal.
    assert end_of_log(log)[-len("Current thread 0x0002 (most recent call first):\n  <no Python frame>"):] == (
        "Current thread 0x0002 (most recent call first):\n  <no Python frame>")
    assert end_of_log("\n".join(f"line {n}" for n in range(40))).splitlines() == [
        f"line {n}" for n in range(40 - LAST_LINES, 40)]
    assert end_of_log("") == ""


def test_a_recipe_that_does_not_parse_fails_the_build_named_with_its_line(failing_site):
    _, _, output, _ = failing_site
    assert "recipes/constraints/plot_syntax.py:6: SyntaxError: invalid syntax" in output, output


def test_a_hanging_recipe_is_stopped_at_its_limit_and_named_with_its_line(failing_site):
    _, _, output, _ = failing_site
    # Stopped inside its loop (line 9 or 10), named with the limit.
    assert re.search(r"recipes/constraints/plot_hangs.py:(9|10): ran past its time limit of 3 s and was stopped", output), output


def test_what_sphinx_holds_is_frozen_before_reading_unless_there_is_nothing_to_read():
    """cookbook.site.freeze_before_reading: a build that reads pages freezes the heap of Sphinx's
    process (its readers and writers then skip it in every collection); a no-op build does not
    pay for the collection that comes first."""
    code = (
        "import gc\n"
        "from cookbook.site import freeze_before_reading\n"
        "freeze_before_reading(None, None, [])\n"
        "print(gc.get_freeze_count())\n"
        "freeze_before_reading(None, None, ['index'])\n"
        "print(gc.get_freeze_count() > 0)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "True"], done.stdout
