"""The runner must tell a maintainer the truth about each way a recipe can end.

Each test writes a throwaway recipe into a temporary folder and runs the real runner on it.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from cookbook import REPO_ROOT
from cookbook.harness.runner import run_recipe


def write_recipe(tmp_path, body, name="plot_fault.py"):
    path = tmp_path / name
    path.write_text('"""\nA throwaway recipe\n==================\n"""\n' + textwrap.dedent(body))
    return path


def assert_versions_named(message):
    assert "Versions: python 3." in message and ", torch 2." in message, message
    for package in ("onnx ", "onnxscript ", "onnxruntime "):
        assert package in message, message


def test_sentinel_that_fires_names_recipe_line_message_and_versions(tmp_path):
    recipe = write_recipe(tmp_path, """
        value = 1
        try:
            value = value + 1
            raise AssertionError("adding now works: update this recipe")
        except TypeError as e:
            print(e)
    """)
    result = run_recipe(recipe)
    assert not result.passed and result.kind == "sentinel"
    assert result.line == 9
    assert f"{recipe}:9: a sentinel fired: PyTorch's behaviour changed." in result.message
    assert "AssertionError: adding now works: update this recipe" in result.message
    assert_versions_named(result.message)


def test_sentinel_in_else_branch_is_recognised(tmp_path):
    recipe = write_recipe(tmp_path, """
        try:
            pass
        except KeyError as e:
            print(e)
        else:
            raise AssertionError("no KeyError any more: update this recipe")
    """)
    result = run_recipe(recipe)
    assert result.kind == "sentinel" and result.line == 11, result.message


def test_expected_exception_of_another_class_says_behaviour_changed(tmp_path):
    recipe = write_recipe(tmp_path, """
        try:
            {}["missing"]
            raise AssertionError("no error any more: update this recipe")
        except ValueError as e:
            print(e)
    """)
    result = run_recipe(recipe)
    assert result.kind == "exception" and result.line == 7
    assert "the recipe expects ValueError here, but PyTorch raised another exception" in result.message
    assert "KeyError: 'missing'" in result.message


def test_failed_check_is_reported_as_such(tmp_path):
    recipe = write_recipe(tmp_path, """
        ranges = "VR[0, int_oo]"
        assert ranges == "VR[2, int_oo]", ranges
    """)
    result = run_recipe(recipe)
    assert result.kind == "failed-check" and result.line == 7
    assert "a check of the recipe failed" in result.message and "VR[0, int_oo]" in result.message


def test_syntax_error_names_the_line(tmp_path):
    recipe = write_recipe(tmp_path, """
        x = 1
        def broken(:
            pass
    """)
    result = run_recipe(recipe)
    assert result.kind == "syntax-error" and result.line == 7
    assert f"{recipe}:7: SyntaxError:" in result.message


def test_hanging_recipe_is_killed_at_its_time_limit_and_the_run_goes_on(tmp_path):
    hang = write_recipe(tmp_path, "import time\ntime.sleep(600)\n", name="plot_hang.py")
    result = run_recipe(hang, timeout=2)
    assert result.kind == "timeout" and result.line == 6, result.message
    assert f"{hang}:6: ran past its time limit of 2 s and was killed" in result.message
    assert 2 <= result.duration < 10
    fine = write_recipe(tmp_path, "print('still running recipes')\n", name="plot_fine.py")
    after = run_recipe(fine)
    assert after.passed and "still running recipes" in after.stdout


def test_a_recipe_that_catches_its_time_out_or_blocks_signals_is_killed_and_named_with_its_line(tmp_path):
    recipe = write_recipe(tmp_path, """
        import signal
        import time
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM, signal.SIGINT})
        while True:
            try:
                time.sleep(0.05)
            except BaseException:
                pass
    """)
    result = run_recipe(recipe, timeout=2)
    assert result.kind == "timeout" and result.line in (11, 12, 13, 14), result.message
    assert f"{recipe}:{result.line}: ran past its time limit of 2 s and was killed" in result.message


def test_sys_exit_fails(tmp_path):
    recipe = write_recipe(tmp_path, """
        import sys
        print("before")
        sys.exit(3)
        print("never printed")
    """)
    result = run_recipe(recipe)
    assert not result.passed and result.kind == "exit" and result.line == 8
    assert "sys.exit(3)" in result.message
    assert "never printed" not in result.stdout


def test_exit_zero_before_the_end_fails_too(tmp_path):
    recipe = write_recipe(tmp_path, "import os\nos._exit(0)\nprint('the end')\n")
    result = run_recipe(recipe)
    assert not result.passed and result.kind == "incomplete"
    assert "without reporting how the recipe ended" in result.message


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGSEGV", "SIGABRT"])
def test_process_killed_by_a_signal_names_the_signal(tmp_path, signal_name):
    recipe = write_recipe(tmp_path, f"""
        import os, signal
        os.write(2, b"the last words on file descriptor 2\\n")
        os.kill(os.getpid(), signal.{signal_name})
    """)
    result = run_recipe(recipe)
    assert not result.passed and result.kind == "signal"
    assert f"killed by signal {signal_name}" in result.message
    assert "the last words on file descriptor 2" in result.report()
    if signal_name != "SIGKILL":  # a fatal signal that the process receives: faulthandler dumps the recipe's stack
        assert result.line == 8 and result.message.startswith(f"{result.recipe}:8: "), result.message
        assert "Fatal Python error: " in result.stderr and "line 8 in <module>" in result.stderr, result.stderr


def test_the_report_of_an_abort_deep_in_a_call_shows_what_came_before_the_dump(tmp_path):
    """A recipe aborted 70 calls deep (as in torch's export): faulthandler's dump is longer than the
    60 last lines of stderr a report shows, and the message written before it comes first."""
    recipe = write_recipe(tmp_path, """
        import os

        def deeper(n):
            if n:
                return deeper(n - 1)
            os.write(2, b"terminate called after throwing an instance of 'c10::Error'\\n")
            os.abort()

        deeper(70)
    """)
    result = run_recipe(recipe)
    assert not result.passed and result.kind == "signal" and result.line == 12, result.message
    report = result.report()
    assert "terminate called after throwing an instance of 'c10::Error'" in report, report
    assert "Fatal Python error: Aborted" in report and "plot_fault.py\", line 14 in <module>" in report, report


def test_printed_traceback_of_a_handled_error_is_no_false_alarm(tmp_path):
    recipe = write_recipe(tmp_path, """
        import sys, traceback
        try:
            1 / 0
        except ZeroDivisionError:
            traceback.print_exc()
            traceback.print_exc(file=sys.stdout)
        print("Traceback (most recent call last): printed on purpose")
    """)
    result = run_recipe(recipe)
    assert result.passed, result.report()
    assert "ZeroDivisionError" in result.stderr and "ZeroDivisionError" in result.stdout


def test_files_written_by_a_recipe_stay_out_of_the_repository(tmp_path):
    status_before = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True).stdout
    recipe = write_recipe(tmp_path, """
        import os, tempfile
        with open("written-by-recipe.txt", "w") as f:
            f.write("data")
        with open(os.path.join(tempfile.gettempdir(), "temp-by-recipe.txt"), "w") as f:
            f.write("data")
        print(os.path.abspath("written-by-recipe.txt"))
    """)
    result = run_recipe(recipe)
    assert result.passed, result.report()
    status_after = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True).stdout
    assert status_after == status_before
    assert not (tmp_path / "written-by-recipe.txt").exists()
    assert not list(REPO_ROOT.rglob("written-by-recipe.txt"))


def test_output_shows_no_path_of_this_machine(tmp_path):
    recipe = write_recipe(tmp_path, """
        import torch

        class M(torch.nn.Module):
            def forward(self, x):
                return x + 1

        print(torch.export.export(M(), (torch.ones(2),)))
    """)
    result = run_recipe(recipe)
    assert result.passed, result.report()
    assert "# File: " in result.stdout
    assert str(REPO_ROOT) not in result.stdout and "site-packages" not in result.stdout


def test_recipe_globals_are_those_of_a_real_main_module(tmp_path):
    # torch.cond / torch.while_loop bodies resolve globals such as `torch` through sys.modules["__main__"].
    recipe = write_recipe(tmp_path, """
        import sys
        import torch

        assert sys.modules["__main__"].torch is torch


        class Model(torch.nn.Module):
            def forward(self, x):
                return torch.cond(x.sum() > 0, lambda x: torch.tanh(x), lambda x: torch.sin(x), (x,))


        ep = torch.export.export(Model(), (torch.ones(3),))
        print(ep.module()(-torch.ones(3)))
    """)
    result = run_recipe(recipe)
    assert result.passed, result.report()


# A sentinel (any `raise AssertionError` of the recipe, in a `try` or not) whose AssertionError is
# swallowed still fails the run, at the sentinel's line: the runner compiles each sentinel so that it
# notes its raise (cookbook.sentinels.mark_sentinels).
SWALLOWED = {
    "contextlib.suppress": """
        import contextlib
        with contextlib.suppress(Exception):
            try:
                value = 1 + 1
                raise AssertionError("adding now works: update this recipe")
            except TypeError as e:
                print(e)
        print("went on")
    """,
    "a caller's handler": """
        def documented_failure():
            try:
                value = 1 + 1
                raise AssertionError("adding now works: update this recipe")
            except TypeError as e:
                print(e)

        try:
            documented_failure()
        except Exception as e:  # a broad handler around a helper
            print("swallowed", e)
    """,
    "contextlib.suppress, no try": """
        import contextlib
        with contextlib.suppress(Exception):
            value = 1 + 1  # documented to fail
            raise AssertionError("adding now works: update this recipe")
        print("went on")
    """,
    "a helper without a try, under a caller's handler": """
        def documented_failure():
            value = 1 + 1  # documented to fail
            raise AssertionError("adding now works: update this recipe")

        try:
            documented_failure()
        except Exception as e:
            print("swallowed", e)
    """,
    "a method of a class, in a with block": """
        import contextlib

        class Case:
            def check(self):
                if 1 + 1 == 2:
                    raise AssertionError("adding now works: update this recipe")

        with contextlib.suppress(BaseException):
            Case().check()
    """,
    "a cell-wide try": """
        try:
            try:
                value = 1 + 1
                raise AssertionError("adding now works: update this recipe")
            except TypeError as e:
                print(e)
            print("rest of the cell")
        except BaseException:
            pass
    """,
}


@pytest.mark.parametrize("how", SWALLOWED)
def test_a_swallowed_sentinel_still_fails_at_its_line(tmp_path, how):
    recipe = write_recipe(tmp_path, SWALLOWED[how])
    source_lines = recipe.read_text().splitlines()
    line = next(number for number, text in enumerate(source_lines, 1) if "raise AssertionError" in text)
    result = run_recipe(recipe)
    assert not result.passed and result.kind == "sentinel", result.report()
    assert result.line == line, result.message
    assert f"{recipe}:{line}: a sentinel fired: PyTorch's behaviour changed." in result.message
    assert "caught by a handler elsewhere" in result.message and "adding now works" in result.message
    assert_versions_named(result.message)


def test_an_assertion_error_caught_on_purpose_is_not_a_sentinel(tmp_path):
    recipe = write_recipe(tmp_path, """
        try:
            assert 1 == 2, "a check the recipe expects to fail"
        except AssertionError as e:
            print(e)
        try:
            {}["missing"]
        except KeyError as e:
            print(e)
        else:
            raise AssertionError("no KeyError any more: update this recipe")
    """)
    result = run_recipe(recipe)
    assert result.passed, result.report()


def test_nothing_a_recipe_leaves_behind_reaches_the_next_one(tmp_path):
    """Each recipe starts from the zygote's clean state: what a recipe changes in a module, in the
    environment or in torch's settings does not reach the next recipe run by the same zygote."""
    first = write_recipe(tmp_path, """
        import os
        import json
        import torch
        json.left_behind = "state"
        os.environ["COOKBOOK_LEFT_BEHIND"] = "1"
        torch.set_default_dtype(torch.float64)
    """, name="plot_first.py")
    second = write_recipe(tmp_path, """
        import os
        import json
        import torch
        assert not hasattr(json, "left_behind"), "a module attribute leaked"
        assert "COOKBOOK_LEFT_BEHIND" not in os.environ, "an environment variable leaked"
        assert torch.get_default_dtype() == torch.float32, "torch's default dtype leaked"
    """, name="plot_second.py")
    assert run_recipe(first).passed
    result = run_recipe(second)
    assert result.passed, result.report()


def test_a_recipe_starts_with_the_garbage_collector_on_as_python_starts_it(tmp_path):
    """The zygote imports with the collector off (cookbook.recipes.preload_recipe_modules): a
    recipe must still start with it on, or its exports would keep every cycle they make."""
    recipe = write_recipe(tmp_path, """
        import gc
        assert gc.isenabled(), "the recipe started with the garbage collector off"
    """)
    result = run_recipe(recipe)
    assert result.passed, result.report()


def test_the_zygotes_imports_leave_no_garbage_behind_to_freeze(tmp_path):
    """What the imports left as garbage is collected before the zygote freezes its heap (frozen, it
    would never be freed), and the collector is left as the imports found it."""
    (tmp_path / "cycles_at_import.py").write_text(
        "class Node:\n    pass\n\nfor _ in range(1000):\n    node = Node()\n    node.itself = node\ndel node\n"
    )
    code = textwrap.dedent("""
        import gc
        from cookbook.recipes import preload_recipe_modules
        preload_recipe_modules(("cycles_at_import", "a_module_that_does_not_exist"))
        print(gc.isenabled(), gc.collect())
        gc.disable()
        preload_recipe_modules(("json",))
        print(gc.isenabled())
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO_ROOT)]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "0", "False"], done.stdout


def test_a_recipe_can_read_its_own_source_as_python_would(tmp_path):
    # torch.jit.script and inspect read a function's source. The harness compiles a recipe of the
    # repository under its relative name and runs it in another directory, where no file has that
    # name: the source must be found without the file (this recipe moves its own away to show it).
    recipe = write_recipe(tmp_path, """
        import inspect
        import os

        def double(x):
            return 2 * x

        os.rename(__file__, __file__ + ".away")
        try:
            assert inspect.getsource(double).startswith("def double(x):")
        finally:
            os.rename(__file__ + ".away", __file__)
    """)
    result = run_recipe(recipe)
    assert result.passed, result.message
