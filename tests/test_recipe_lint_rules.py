"""The static checks catch each mistake, with file, line and reason, and accept a correct recipe."""

import textwrap

import pytest

from cookbook.harness.lint import lint_recipe

GOOD = '''
"""
A good recipe
=============

Its introduction.
"""
import math
import torch

try:
    torch.export.Dim("a") + torch.export.Dim("b")
    raise AssertionError("Dim + Dim now works: update this recipe")
except NotImplementedError as e:
    print(e)

try:
    assert math.pi > 4, "guard"
except AssertionError as e:
    print(e)
else:
    raise AssertionError("the check now passes: update this recipe")
'''


@pytest.fixture
def section(tmp_path):
    folder = tmp_path / "recipes" / "section"
    folder.mkdir(parents=True)
    (folder / "README.rst").write_text("Section\n-------\n")
    return folder


def lint(folder, source, name="plot_case.py"):
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return lint_recipe(path, recipes_dir=folder.parent)


def test_a_correct_recipe_passes(section):
    assert lint(section, GOOD) == []


@pytest.mark.parametrize("handler", ["except:", "except Exception:", "except BaseException as e:",
                                     "except AssertionError:", "except (ValueError, Exception):",
                                     "except builtins.Exception:"])
def test_sentinel_swallowed_by_its_own_handler(section, handler):
    source = GOOD.replace("except NotImplementedError as e:", handler)
    problems = lint(section, source)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{section / 'plot_case.py'}:13: sentinel can never fire"), problems
    assert "at line 14" in problems[0]


# Each case: a source appended to GOOD, and what the problem says after "sentinel can never fire: ",
# where {culprit} and {call} are the lines marked "# culprit" and "# call" (found in the source).
# The problem is reported at the sentinel's line: a sentinel is any `raise AssertionError`.
SWALLOWED_ELSEWHERE = {
    "suppress, no try": ("""
        import contextlib
        with contextlib.suppress(Exception):  # culprit
            torch.export.Dim("a") + torch.export.Dim("b")
            raise AssertionError("Dim + Dim now works: update this recipe")
    """, "`contextlib.suppress(Exception)` at line {culprit} catches its AssertionError"),
    "suppress of a tuple": ("""
        from contextlib import suppress
        with suppress(KeyError, BaseException):  # culprit
            raise AssertionError("now works: update this recipe")
    """, "`suppress(KeyError, BaseException)` at line {culprit} catches its AssertionError"),
    "unittest's assertRaises": ("""
        import unittest
        with unittest.TestCase().assertRaises(Exception):  # culprit
            raise AssertionError("now works: update this recipe")
    """, "`unittest.TestCase().assertRaises(Exception)` at line {culprit} catches its AssertionError"),
    "a helper under a caller's handler": ("""
        def documented_failure():
            torch.export.Dim("a") + torch.export.Dim("b")
            raise AssertionError("Dim + Dim now works: update this recipe")

        try:
            documented_failure()  # call
        except Exception as e:  # culprit
            print(e)
    """, "`except Exception` at line {culprit} catches the AssertionError of the call to documented_failure() "
         "at line {call}, which can raise it"),
    "a helper called by a helper, in a suppress": ("""
        import contextlib

        def inner():
            raise AssertionError("now works: update this recipe")

        def outer():
            inner()

        with contextlib.suppress(AssertionError):  # culprit
            outer()  # call
    """, "`contextlib.suppress(AssertionError)` at line {culprit} catches the AssertionError of the call to "
         "outer() at line {call}"),
    "a method called in a suppress": ("""
        import contextlib

        class Case:
            def check(self):
                if True:
                    raise AssertionError("now works: update this recipe")

        with contextlib.suppress(Exception):  # culprit
            Case().check()  # call
    """, "`contextlib.suppress(Exception)` at line {culprit} catches the AssertionError of the call to check() "
         "at line {call}"),
    "the file's own contextmanager": ("""
        import contextlib

        @contextlib.contextmanager
        def tolerant():
            try:  # call
                yield
            except Exception as e:
                print(e)

        with tolerant():  # culprit
            raise AssertionError("now works: update this recipe")
    """, "`tolerant()` (its `except Exception` around `yield` at line {call}) at line {culprit} catches its "
         "AssertionError"),
    "the file's own __exit__": ("""
        class Tolerant:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return True  # call

        with Tolerant():  # culprit
            raise AssertionError("now works: update this recipe")
    """, "`Tolerant()` (its __exit__ returns a true value at line {call}) at line {culprit} catches its "
         "AssertionError"),
}


@pytest.mark.parametrize("how", SWALLOWED_ELSEWHERE)
def test_a_sentinel_that_something_of_the_file_can_swallow_is_refused_with_the_reason(section, how):
    appended, reason = SWALLOWED_ELSEWHERE[how]
    source = GOOD + textwrap.dedent(appended)
    lines = source.splitlines()

    def line_of(text):
        return next((number for number, line in enumerate(lines, 1) if text in line), None)

    reason = reason.format(culprit=line_of("# culprit"), call=line_of("# call"))
    sentinel = max(number for number, line in enumerate(lines, 1) if "raise AssertionError" in line)
    problems = lint(section, source)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{section / 'plot_case.py'}:{sentinel}: sentinel can never fire: {reason}"), (
        problems, reason)


def test_an_assert_caught_on_purpose_and_a_narrow_suppress_are_allowed(section):
    appended = """
        import contextlib
        with contextlib.suppress(AssertionError):
            assert 1 == 2, "a check the recipe expects to fail"
        with contextlib.suppress(KeyError):
            {}["missing"]
            raise AssertionError("no KeyError any more: update this recipe")

        def helper():
            raise AssertionError("now works: update this recipe")

        try:
            helper()
        except KeyError as e:
            print(e)
    """
    assert lint(section, GOOD + textwrap.dedent(appended)) == []


@pytest.mark.parametrize("statement,name", [("import matplotlib.pyplot as plt", "matplotlib.pyplot"),
                                            ("from cookbook import REPO_ROOT", "cookbook")])
def test_import_outside_the_allowed_packages(section, statement, name):
    problems = lint(section, GOOD.replace("import math", statement))
    assert len(problems) == 1 and problems[0].endswith(
        f":8: imports {name!r}: a recipe may only import the standard library and numpy, onnx, onnxruntime, "
        "onnxscript, torch (a downloaded notebook must run standalone)"), problems


def test_transformers_only_in_its_own_section(tmp_path):
    """cookbook/recipes.py SECTION_PACKAGES: the recipes of transformers/ may import it, no other."""
    folders = {}
    for name in ("transformers", "models"):
        folders[name] = tmp_path / "recipes" / name
        folders[name].mkdir(parents=True)
        (folders[name] / "README.rst").write_text("Section\n-------\n")
    source = GOOD.replace("import math", "import math\nfrom transformers import LlamaConfig")
    assert lint(folders["transformers"], source) == []
    problems = lint(folders["models"], source)
    assert len(problems) == 1 and problems[0].endswith(
        ":9: imports 'transformers': a recipe may only import the standard library and numpy, onnx, onnxruntime, "
        "onnxscript, torch (a downloaded notebook must run standalone); transformers only in the recipes of "
        "transformers/"), problems


def test_docstring_without_title(section):
    problems = lint(section, GOOD.replace("A good recipe\n=============\n", "A good recipe\n"))
    assert problems == [f"{section / 'plot_case.py'}:1: the docstring has no reST title "
                        "(a line underlined with '=' at least as long as it)"]


def test_file_not_named_plot(section):
    problems = lint(section, GOOD, name="recipe_case.py")
    assert any("plot_<name>.py" in p for p in problems), problems


def test_recipe_outside_a_section_folder(section):
    path = section.parent / "plot_case.py"
    path.write_text(GOOD)
    problems = lint_recipe(path, recipes_dir=section.parent)
    assert any("directly inside a section folder" in p for p in problems), problems


def test_syntax_error_is_reported_with_its_line(section):
    problems = lint(section, GOOD + "\ndef broken(:\n")
    assert len(problems) == 1 and ":24: SyntaxError" in problems[0], problems


@pytest.mark.parametrize("asserted, refused", [
    ('assert "s17" in str(ep.range_constraints)', True),
    ('assert str(e).startswith("Could not guard on data-dependent expression u0 < 0")', True),
    ('assert names == ["s27", "s27"], names', True),
    ('assert "Eq(u1, 2)" not in text', True),
    ('assert str(vr) == "VR[2, int_oo]"', False),
    ('assert "batch" in message and "s" in prefixes', False),
    ('assert "torch.float32" in text and "cuda:0" not in text', False),
])
def test_an_asserted_symbol_number_is_refused_with_its_line(section, asserted, refused):
    source = GOOD + f"ep = e = names = text = message = vr = prefixes = None\n{asserted}\n"
    problems = lint(section, source)
    symbol_problems = [p for p in problems if "asserts the symbol name" in p]
    assert bool(symbol_problems) == refused, problems
    if refused:
        line = source.count("\n")
        assert f"plot_case.py:{line}: asserts the symbol name" in symbol_problems[0], symbol_problems


def test_two_copies_of_a_shared_helper_that_differ_are_refused(section):
    from cookbook.harness.lint import lint_helper_copies

    helper = ('def check_against_eager(ep, model, input_sets):\n    module = ep.module()\n'
              '    for inputs in input_sets:\n        torch.testing.assert_close(module(*inputs), model(*inputs))\n')
    first, second, third = (section / f"plot_{n}.py" for n in ("a", "b", "c"))
    first.write_text(GOOD + helper)
    second.write_text(GOOD + helper)
    third.write_text(GOOD + helper.replace("model(*inputs))", "model(*inputs), rtol=1)"))
    problems = lint_helper_copies([first, second, third])
    assert len(problems) == 1 and "plot_c.py" in problems[0] and "check_against_eager() differs" in problems[0], problems
    assert lint_helper_copies([first, second]) == []
