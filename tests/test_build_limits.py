"""What a recipe does cannot fool the doc build, nor reach its console (a throwaway site, built
once, with the helpers of tests/test_build.py):

- a sentinel outside a ``try`` (in a ``with contextlib.suppress(Exception):``, in a helper called
  under a caller's ``except Exception``) fails the build at its line, in its own file when another
  section holds a recipe of the same name;
- a recipe that catches the build's time-out, or blocks SIGALRM, is killed with its process group
  by the backstop, ``COOKBOOK_BACKSTOP_SECONDS`` past the time limit, and named with its line;
- a recipe that tries to reach the network fails the build, even when it swallowed the refusal;
- what a recipe's process logs below sphinx-gallery's capture (torch's log lines, C++ writes to
  file descriptor 2 such as onnxruntime's) goes to the recipe's log, never to the build's console.

And, in this process (no build): the time-out is raised only in the recipe's own code, and
SIGALRM's previous handler is restored after the recipe.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_build import build, make_site, page
from test_network import DOWNLOADS

LIMIT, BACKSTOP = 3, 5

SUPPRESSED = '''
"""
A sentinel in a suppress block, without a try
=============================================
"""
import contextlib

with contextlib.suppress(Exception):
    value = 1 / 2  # documented to fail
    raise AssertionError("dividing by two now fails: update this recipe")
print("went on")
'''

HELPER = '''
"""
A sentinel in a helper, under a caller's broad handler
======================================================
"""


def documented_failure():
    value = 1 / 2  # documented to fail
    raise AssertionError("dividing by two now fails: update this recipe")


try:
    documented_failure()
except Exception as e:
    print("swallowed", e)
'''

CATCHES_TIMEOUT = '''
"""
A recipe that catches its time-out
==================================
"""
import time

print("start")
while True:
    try:
        time.sleep(0.05)
    except Exception:
        pass
'''

# Blocks SIGALRM, so the time-out is never raised, after starting a process of its own that
# would outlive it unless its whole process group is killed.
BLOCKS_ALARM = '''
"""
A recipe that blocks SIGALRM
============================
"""
import signal
import subprocess
from pathlib import Path

helper = subprocess.Popen(["sleep", "300"])
Path({pid_file!r}).write_text(str(helper.pid))
signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGALRM}})
while True:
    signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGALRM}})
    __import__("time").sleep(0.05)
'''

# Another section's recipe of the same file name as HELPER, which passes.
SAME_NAME = '''
"""
Same name, other section
========================
"""
print("passes")
'''

LOGS = '''
"""
Logs below Python
=================
"""
import logging
import os

import torch

logging.getLogger("torch._dynamo").warning("a torch log line for the recipe's log")
os.write(2, b"[E:onnxruntime:, fake.cc:1] a C++ line written to file descriptor 2\\n")
print("printed on the page")
'''


@pytest.fixture(scope="module")
def limits_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("limits")
    pid_file = folder / "helper.pid"
    recipes = {"plot_suppressed.py": SUPPRESSED, "plot_helper.py": HELPER, "plot_catches_timeout.py": CATCHES_TIMEOUT,
               "plot_blocks_alarm.py": BLOCKS_ALARM.format(pid_file=str(pid_file)), "plot_logs.py": LOGS,
               "plot_downloads.py": DOWNLOADS}
    site = make_site(folder / "site", recipes)
    other = site / "recipes" / "checking"
    other.mkdir()
    (other / "README.rst").write_text("Checking\n--------\n\nAnother section.\n")
    (other / "plot_helper.py").write_text(SAME_NAME)
    start = time.monotonic()
    code, output = build(site, COOKBOOK_RECIPE_TIMEOUT=str(LIMIT), COOKBOOK_BACKSTOP_SECONDS=str(BACKSTOP),
                         COOKBOOK_BUILD_JOBS="2")
    return site, code, output, time.monotonic() - start, pid_file


def passed_in_build(site, recipe: str):
    """What the site's own cookbook says of ``recipe`` (section/plot_x.py): the seconds it took
    in the build if it passed there (cookbook.site.execution.passed_in_build), else None."""
    script = ("import json, sys; from cookbook import RECIPES_DIR; from cookbook.site.execution import passed_in_build; "
              "print(json.dumps(passed_in_build(RECIPES_DIR / sys.argv[1])))")
    process = subprocess.run([sys.executable, "-c", script, recipe], cwd=site, capture_output=True, text=True, check=True)
    return json.loads(process.stdout)


def line_of(source: str, text: str) -> int:
    return next(number for number, line in enumerate(source.splitlines(), 1) if text in line)


@pytest.mark.parametrize("name, source", [("plot_suppressed", SUPPRESSED), ("plot_helper", HELPER)])
def test_a_sentinel_outside_a_try_fails_the_build_at_its_line(limits_site, name, source):
    site, code, output, _, _ = limits_site
    line = line_of(source, "raise AssertionError")
    assert code != 0
    assert f"recipes/constraints/{name}.py:{line}: a sentinel fired: PyTorch's behaviour changed." in output, output
    assert "caught by a handler elsewhere" in output
    if name == "plot_helper":  # the recipe of the same name in another section passed, and only it
        assert "[cookbook] recipes/checking/plot_helper.py" not in output, output
        assert "checking/plot_helper.py failed" not in output, output
        assert passed_in_build(site, "checking/plot_helper.py") is not None
        assert passed_in_build(site, "constraints/plot_helper.py") is None


@pytest.mark.parametrize("name, source", [("plot_catches_timeout", CATCHES_TIMEOUT), ("plot_blocks_alarm", BLOCKS_ALARM)])
def test_a_recipe_that_catches_or_blocks_its_time_out_is_killed_and_named_with_its_line(limits_site, name, source):
    site, code, output, seconds, _ = limits_site
    lines = range(line_of(source, "while True:"), source.count("\n") + 1)  # somewhere in its loop
    assert code != 0
    said = re.search(rf"recipes/constraints/{name}.py:(\d+): ran past its time limit of {LIMIT} s and was killed "
                     rf"with its processes {BACKSTOP} s later", output)
    assert said and int(said.group(1)) in lines, output
    # The build went on: the other recipes have their pages.
    assert "printed on the page" in page(site, "plot_logs")
    # Each recipe of the site took under a second, but for the two that the backstop stopped.
    assert seconds < LIMIT + BACKSTOP + 60, f"the build took {seconds:.0f} s"


def alive(pid: int) -> bool:
    """``pid`` runs (a zombie, which PID 1 of a container may never reap, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_backstop_kills_what_the_recipe_started_too(limits_site):
    _, _, _, _, pid_file = limits_site
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the process the recipe started outlived the build: the backstop killed the recipe, not its group")


def test_what_a_recipe_logs_goes_to_its_log_not_to_the_console(limits_site):
    site, _, output, _, _ = limits_site
    assert "[E:onnxruntime" not in output, output
    assert "a torch log line" not in output and not re.search(r"^W\d{4} ", output, re.MULTILINE), output
    log = (site / "_build" / "recipe-runs" / "constraints__plot_logs.py.log").read_text()
    assert "[E:onnxruntime:, fake.cc:1] a C++ line written to file descriptor 2" in log, log
    assert re.search(r"^W\d{4} .*a torch log line for the recipe's log", log, re.MULTILINE), log
    # The page shows what sphinx-gallery captured (what the recipe printed), not the log: the
    # C++ line is on the page once, in the recipe's code.
    text = page(site, "plot_logs")
    assert "    printed on the page" in text and text.count("[E:onnxruntime") == 1, text


# ---------------------------------------------------------------------------------------------
# The time-out itself, in this process
# ---------------------------------------------------------------------------------------------

RECIPE_FILE = "recipes/constraints/plot_in_process.py"
# A loop compiled as if it were the recipe's code.
RECIPE_LOOP = compile("import time\nend = time.monotonic() + 3\nwhile time.monotonic() < end:\n    pass\n",
                      RECIPE_FILE, "exec")


@pytest.fixture
def armed():
    from cookbook.site import execution

    def previous(signum, frame):
        raise AssertionError("the previous handler ran")

    before = signal.signal(signal.SIGALRM, previous)
    execution._state.update(file=RECIPE_FILE, limit=0.2)
    yield execution, previous
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, before)
    execution._state.clear()


def test_the_time_out_waits_for_the_recipes_code_and_the_previous_handler_comes_back(armed):
    execution, previous = armed
    execution.arm_time_limit(0.2)
    end = time.monotonic() + 0.6
    while time.monotonic() < end:  # sphinx-gallery's code, past the limit: no time-out here
        pass
    start = time.monotonic()
    with pytest.raises(execution.RecipeTimeout):
        exec(RECIPE_LOOP, {})
    assert time.monotonic() - start < 0.5, "the time-out came late in the recipe's code"
    assert execution._state["timed_out_line"] in (3, 4)
    execution.disarm_time_limit()
    assert signal.getsignal(signal.SIGALRM) is previous


def test_the_build_fails_a_recipe_that_tried_to_reach_the_network(limits_site):
    site, code, output, _, _ = limits_site
    assert code != 0
    assert ("recipes/constraints/plot_downloads.py: the recipe tried to reach the network, which was refused: "
            "getaddrinfo ('example.com', 80)") in output, output
    assert "went on" in page(site, "plot_downloads")  # the recipe swallowed the refusal, its page is there
