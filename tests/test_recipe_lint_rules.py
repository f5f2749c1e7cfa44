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


@pytest.mark.parametrize("statement,name", [("import matplotlib.pyplot as plt", "matplotlib.pyplot"),
                                            ("from transformers import AutoModel", "transformers"),
                                            ("from cookbook import REPO_ROOT", "cookbook")])
def test_import_outside_the_allowed_packages(section, statement, name):
    problems = lint(section, GOOD.replace("import math", statement))
    assert len(problems) == 1 and problems[0].endswith(
        f":8: imports {name!r}: a recipe may only import the standard library and numpy, onnx, onnxruntime, "
        "onnxscript, torch (a downloaded notebook must run standalone)"), problems


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
