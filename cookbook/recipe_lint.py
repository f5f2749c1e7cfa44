"""Static checks of the recipes, on their syntax tree (nothing is run).

Each problem is reported as ``path:line: reason``. A recipe fails when:

- a sentinel (``raise AssertionError(...)`` in the body of a ``try``) would be caught by a handler
  of that same ``try`` (bare ``except:``, ``Exception``, ``BaseException``, ``AssertionError``,
  or a tuple holding one of them), so that it could never fire;
- it imports anything but the standard library, torch, onnx, onnxscript, onnxruntime and numpy
  (a downloaded notebook must run with only those installed);
- its docstring has no title, or it is not a ``plot_*.py`` file directly inside a section folder
  of ``recipes/`` that has a ``README.rst``.

Run as ``python -m cookbook.recipe_lint [files...]`` (all recipes by default).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from cookbook import RECIPES_DIR
from cookbook.recipe_runner import display_path, is_sentinel_raise

ALLOWED_PACKAGES = {"torch", "onnx", "onnxscript", "onnxruntime", "numpy"}
SWALLOWING_HANDLERS = {"Exception", "BaseException", "AssertionError"}
_TITLE_UNDERLINE = re.compile(r"^(?P<title>\S.*)\n(?P<line>[=\-~^#*+]{3,})\s*$", re.MULTILINE)


def discover_recipes(root: Path = RECIPES_DIR) -> list[Path]:
    """Every recipe of the gallery, in a stable order."""
    return sorted(root.rglob("plot_*.py"))


def _handler_catches_assertion(handler: ast.ExceptHandler) -> str | None:
    """The name that makes ``handler`` catch an AssertionError, or None."""
    if handler.type is None:
        return "a bare `except:`"
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for node in types:
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
        if name in SWALLOWING_HANDLERS:
            return f"`except {ast.unparse(handler.type)}`"
    return None


def check_swallowed_sentinels(tree: ast.AST) -> list[tuple[int, str]]:
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            continue
        sentinels = [inner for statement in node.body for inner in ast.walk(statement) if is_sentinel_raise(inner)]
        for handler in node.handlers:
            culprit = _handler_catches_assertion(handler)
            if culprit:
                for sentinel in sentinels:
                    problems.append((
                        sentinel.lineno,
                        f"sentinel can never fire: {culprit} at line {handler.lineno} catches its AssertionError "
                        "(name the specific exception the recipe expects, or raise the sentinel in an `else:`)",
                    ))
    return problems


def check_imports(tree: ast.AST) -> list[tuple[int, str]]:
    problems = []
    stdlib = sys.stdlib_module_names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                problems.append((node.lineno, "relative import: a recipe must run on its own"))
                continue
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in stdlib and top not in ALLOWED_PACKAGES:
                problems.append((
                    node.lineno,
                    f"imports {name!r}: a recipe may only import the standard library and "
                    f"{', '.join(sorted(ALLOWED_PACKAGES))} (a downloaded notebook must run standalone)",
                ))
    return problems


def check_title(tree: ast.Module) -> list[tuple[int, str]]:
    docstring = ast.get_docstring(tree, clean=True)
    if not docstring:
        return [(1, "no module docstring: a recipe starts with a docstring holding its title and introduction")]
    match = _TITLE_UNDERLINE.search(docstring)
    if not match or len(match.group("line")) < len(match.group("title").rstrip()):
        return [(1, "the docstring has no reST title (a line underlined with '=' at least as long as it)")]
    return []


def check_location(path: Path, recipes_dir: Path) -> list[tuple[int, str]]:
    if not re.fullmatch(r"plot_\w+\.py", path.name):
        return [(1, "a recipe's file name must match plot_<name>.py (sphinx-gallery runs only those)")]
    try:
        relative = path.resolve().relative_to(recipes_dir.resolve())
    except ValueError:
        return [(1, f"a recipe must live in a section folder of {display_path(recipes_dir)}/")]
    if len(relative.parts) != 2:
        return [(1, "a recipe must be directly inside a section folder: recipes/<section>/plot_<name>.py")]
    if not (path.parent / "README.rst").exists():
        return [(1, f"its section folder {relative.parts[0]}/ has no README.rst (the section's title and intro)")]
    return []


def lint_recipe(path: Path, recipes_dir: Path = RECIPES_DIR) -> list[str]:
    """Problems of one recipe, each as ``path:line: reason``."""
    shown = display_path(path)
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=shown)
    except SyntaxError as error:
        return [f"{shown}:{error.lineno}: SyntaxError: {error.msg}"]
    problems = check_location(Path(path), recipes_dir) + check_title(tree)
    problems += check_swallowed_sentinels(tree) + check_imports(tree)
    return [f"{shown}:{line}: {reason}" for line, reason in sorted(problems)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    paths = [Path(p) for p in argv] or discover_recipes()
    problems = [problem for path in paths for problem in lint_recipe(path)]
    print("\n".join(problems) if problems else f"{len(paths)} recipe(s) checked: no problem")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
