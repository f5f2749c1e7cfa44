"""Static checks of the recipes, on their syntax tree (nothing is run).

Each problem is reported as ``path:line: reason``. A recipe fails when:

- a sentinel would be caught by a handler of its own ``try`` (bare ``except:``, ``Exception``,
  ``BaseException``, ``AssertionError``, or a tuple holding one of them), so that it could never
  fire (:mod:`cookbook.sentinels`; the runner also catches at run time a sentinel swallowed
  elsewhere, this rule gives the early message);
- an asserted string holds a symbol's name (``s17``, ``u0``): PyTorch numbers its symbols as it
  goes, so such a pin breaks on a harmless rename of an argument;
- it imports anything but the standard library and :data:`cookbook.recipes.RECIPE_PACKAGES`, and
  the packages :data:`cookbook.recipes.SECTION_PACKAGES` allows in its own section (transformers in
  ``transformers/``);
- its docstring has no title (:data:`cookbook.recipes.TITLE`), or it is not a ``plot_*.py`` file
  directly inside a section folder of ``recipes/`` that has a ``README.rst``;
- a helper copied into recipes on purpose (:data:`cookbook.recipes.SHARED_HELPERS`, each recipe
  is standalone) differs from its other copies: one name, one signature, one body.

Run as ``python -m cookbook.harness.lint [files...]`` (all recipes by default).
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

from cookbook import RECIPES_DIR, display_path
from cookbook.recipes import FILENAME, RECIPE_PACKAGES, SECTION_PACKAGES, SHARED_HELPERS, allowed_packages
from cookbook.recipes import discover_recipes, imports_of, section_of, title_of
from cookbook.sentinels import TRY_NODES, is_sentinel_raise, swallows_sentinels

#: A symbol PyTorch names as it traces: ``s17`` (backed size), ``u0`` (unbacked), ``q3``...
SYMBOL = re.compile(r"(?<![\w.])[suqz]\d+(?!\w)")


def check_swallowed_sentinels(tree: ast.AST) -> list[tuple[int, str]]:
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, TRY_NODES):
            continue
        sentinels = [inner for statement in node.body for inner in ast.walk(statement) if is_sentinel_raise(inner)]
        for handler in node.handlers:
            culprit = swallows_sentinels(handler)
            if culprit:
                for sentinel in sentinels:
                    problems.append((
                        sentinel.lineno,
                        f"sentinel can never fire: {culprit} at line {handler.lineno} catches its AssertionError "
                        "(name the specific exception the recipe expects, or raise the sentinel in an `else:`)",
                    ))
    return problems


def check_symbol_pins(tree: ast.AST) -> list[tuple[int, str]]:
    """String literals of ``assert`` statements that name a symbol such as ``s17`` or ``u0``."""
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assert):
            continue
        for inner in ast.walk(node.test):
            if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                symbols = SYMBOL.findall(inner.value)
                if symbols:
                    problems.append((
                        node.lineno,
                        f"asserts the symbol name {symbols[0]!r}: PyTorch numbers symbols as it traces, so the pin "
                        "breaks on a harmless rename; assert what the page teaches (the dim is symbolic, two dims "
                        "share a symbol, the range)",
                    ))
    return problems


def check_imports(tree: ast.AST, section: str = "") -> list[tuple[int, str]]:
    """Imports outside the standard library and what a recipe of ``section`` may import."""
    problems = []
    stdlib = sys.stdlib_module_names
    allowed = allowed_packages(section)
    for line, name, level in imports_of(tree):
        if level:
            problems.append((line, "relative import: a recipe must run on its own"))
            continue
        top = name.split(".")[0]
        if top not in stdlib and top not in allowed:
            elsewhere = sorted(folder for folder, packages in SECTION_PACKAGES.items() if top in packages)
            problems.append((
                line,
                f"imports {name!r}: a recipe may only import the standard library and "
                f"{', '.join(sorted(RECIPE_PACKAGES))} (a downloaded notebook must run standalone)"
                + (f"; {top} only in the recipes of {', '.join(f + '/' for f in elsewhere)}" if elsewhere else ""),
            ))
    return problems


def check_title(tree: ast.Module) -> list[tuple[int, str]]:
    docstring = ast.get_docstring(tree, clean=True)
    if not docstring:
        return [(1, "no module docstring: a recipe starts with a docstring holding its title and introduction")]
    if not title_of(docstring):
        return [(1, "the docstring has no reST title (a line underlined with '=' at least as long as it)")]
    return []


def check_location(path: Path, recipes_dir: Path) -> list[tuple[int, str]]:
    if not FILENAME.fullmatch(path.name):
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


def _parse(path: Path) -> ast.Module:
    return ast.parse(Path(path).read_text(encoding="utf-8"), filename=display_path(path))


def lint_recipe(path: Path, recipes_dir: Path = RECIPES_DIR) -> list[str]:
    """Problems of one recipe, each as ``path:line: reason``."""
    shown = display_path(path)
    try:
        tree = _parse(path)
    except SyntaxError as error:
        return [f"{shown}:{error.lineno}: SyntaxError: {error.msg}"]
    problems = check_location(Path(path), recipes_dir) + check_title(tree)
    problems += check_swallowed_sentinels(tree) + check_symbol_pins(tree) + check_imports(tree, section_of(path))
    return [f"{shown}:{line}: {reason}" for line, reason in sorted(problems)]


def helper_copies(paths: list[Path]) -> dict[str, list[tuple[Path, int, str]]]:
    """``{name: [(recipe, line, source), ...]}`` for each shared helper defined in several recipes."""
    copies = defaultdict(list)
    for path in paths:
        try:
            tree = _parse(path)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in SHARED_HELPERS:
                copies[node.name].append((Path(path), node.lineno, ast.unparse(node)))
    return {name: found for name, found in copies.items() if len(found) > 1}


def lint_helper_copies(paths: list[Path]) -> list[str]:
    """A problem for each copy of a shared helper that differs from the most common version."""
    problems = []
    for name, found in sorted(helper_copies(paths).items()):
        versions = [source for _, _, source in found]
        reference = max(versions, key=lambda source: (versions.count(source), -versions.index(source)))
        first = next((path, line) for path, line, source in found if source == reference)
        for path, line, source in found:
            if source != reference:
                problems.append(
                    f"{display_path(path)}:{line}: the helper {name}() differs from its copy in "
                    f"{display_path(first[0])}:{first[1]}: copies of a helper keep one name, one signature and one "
                    "body (give a different helper a different name)"
                )
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    paths = [Path(p) for p in argv] or discover_recipes()
    problems = [problem for path in paths for problem in lint_recipe(path)]
    shown = {display_path(path) for path in paths}
    problems += [p for p in lint_helper_copies(sorted(set(paths) | set(discover_recipes()))) if p.split(":")[0] in shown]
    print("\n".join(problems) if problems else f"{len(paths)} recipe(s) checked: no problem")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
