"""Static checks of the recipes, on their syntax tree (nothing is run).

Each problem is reported as ``path:line: reason``. A recipe fails when:

- a sentinel (any ``raise AssertionError``, :mod:`cookbook.sentinels`) could be swallowed by
  something of the same file: a handler of a ``try`` around it (bare ``except:``, ``Exception``,
  ``BaseException``, ``AssertionError``, or a tuple holding one of them), a ``with`` whose manager
  suppresses it (``contextlib.suppress(Exception)``, ``assertRaises(Exception)``, a
  ``@contextmanager`` of the file whose ``yield`` stands in such a ``try``, a class whose
  ``__exit__`` can return a true value), or
  either of them around a call to the function (or class) of the file that holds it. The run
  fails anyway when such a sentinel fires (the runner and the build watch every sentinel's
  ``raise``); this rule gives the early message. An ``assert`` caught on purpose is allowed;
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


#: Calls that return a context manager which swallows the exceptions it is given as arguments
#: (``contextlib.suppress``; ``pytest.raises`` and unittest's ``assertRaises`` catch them too).
SUPPRESSING_MANAGERS = frozenset({"suppress", "raises", "assertRaises", "assertRaisesRegex"})
#: Nodes whose body does not run where they stand (it runs when the function is called).
_DEFERRED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _executed(statements: list[ast.AST]):
    """Every node that runs when ``statements`` run: the bodies of the functions they define are
    left out (they run where the function is called), their decorators and defaults are not."""
    stack = list(statements)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _DEFERRED):
            stack.extend(getattr(node, "decorator_list", []) + node.args.defaults
                         + [d for d in node.args.kw_defaults if d is not None])
        else:
            stack.extend(ast.iter_child_nodes(node))


def _called_name(call: ast.Call) -> str | None:
    """``f`` for ``f(...)``, ``m`` for ``obj.m(...)``."""
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _sentinels_reached(functions: dict[str, list[ast.AST]]) -> dict[str, list[ast.Raise]]:
    """``{name: sentinels}``: the sentinels that a call to a function (or class) of the file named
    ``name`` can raise, its own or those of the functions it calls, by name, at any depth."""
    own = {name: [node for fn in defs for node in _executed(fn.body) if is_sentinel_raise(node)]
           for name, defs in functions.items()}
    calls = {name: {_called_name(node) for fn in defs for node in _executed(fn.body) if isinstance(node, ast.Call)}
             for name, defs in functions.items()}
    reached = {name: list(found) for name, found in own.items()}
    changed = True
    while changed:
        changed = False
        for name in functions:
            for callee in calls[name] & functions.keys():
                for sentinel in reached[callee]:
                    if sentinel not in reached[name]:
                        reached[name].append(sentinel)
                        changed = True
    return reached


def _swallowing_managers(tree: ast.AST) -> dict[str, str]:
    """``{name: how}`` for each context manager the file defines that can swallow an exception: a
    ``@contextmanager`` generator whose ``yield`` stands in a ``try`` with a broad handler, or a
    class whose ``__exit__`` can return a true value."""
    managers = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in _executed(node.body):
                if isinstance(inner, TRY_NODES) and any(isinstance(y, (ast.Yield, ast.YieldFrom))
                                                        for y in _executed(inner.body)):
                    culprit = next(filter(None, map(swallows_sentinels, inner.handlers)), None)
                    if culprit:
                        managers[node.name] = f"its {culprit} around `yield` at line {inner.lineno}"
        elif isinstance(node, ast.ClassDef):
            for method in node.body:
                if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and method.name in ("__exit__", "__aexit__"):
                    for inner in _executed(method.body):
                        if isinstance(inner, ast.Return) and inner.value is not None and not (
                                isinstance(inner.value, ast.Constant) and not inner.value.value):
                            managers[node.name] = f"its {method.name} returns a true value at line {inner.lineno}"
    return managers


def _swallowing_with(item: ast.withitem, managers: dict[str, str]) -> str | None:
    """How the context manager of a ``with`` item swallows an AssertionError (as the lint says it), or None."""
    expr = item.context_expr
    if not isinstance(expr, ast.Call):
        return None
    name = _called_name(expr)
    if name in SUPPRESSING_MANAGERS:
        handler = ast.ExceptHandler(type=ast.Tuple(elts=list(expr.args), ctx=ast.Load()))
        return f"`{ast.unparse(expr)}`" if expr.args and swallows_sentinels(handler) else None
    if name in managers:
        return f"`{ast.unparse(expr)}` ({managers[name]})"
    return None


def _swallowing_blocks(tree: ast.AST, managers: dict[str, str]):
    """``(statements, culprit, line)`` for each block whose exceptions something can swallow: the
    body of a ``try`` with a broad handler, the body of a ``with`` whose manager suppresses them."""
    for node in ast.walk(tree):
        if isinstance(node, TRY_NODES):
            for handler in node.handlers:
                culprit = swallows_sentinels(handler)
                if culprit:
                    yield node.body, culprit, handler.lineno
                    break
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                culprit = _swallowing_with(item, managers)
                if culprit:
                    yield node.body, culprit, node.lineno
                    break


def check_swallowed_sentinels(tree: ast.AST) -> list[tuple[int, str]]:
    """Sentinels that something of the same file can swallow: a broad handler of a ``try`` or a
    suppressing ``with`` around them, or around a call to the function (or class) that holds them.
    The run would still catch them firing (:class:`cookbook.sentinels.SentinelWatch`): this rule
    gives the early message. An ``assert`` is not a sentinel: a recipe may catch one on purpose."""
    functions: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            functions.setdefault(node.name, []).append(node)
    reached = _sentinels_reached(functions)
    problems = {}
    for statements, culprit, line in _swallowing_blocks(tree, _swallowing_managers(tree)):
        fix = ("name the specific exception the recipe expects, or raise the sentinel in an `else:`"
               if culprit.startswith("`except") or culprit.startswith("a bare") else
               "suppress only the specific exception the recipe expects, or use a `try` that names it")
        for node in _executed(statements):
            if is_sentinel_raise(node):
                problems.setdefault((node.lineno, culprit, line), (
                    f"sentinel can never fire: {culprit} at line {line} catches its AssertionError ({fix})"))
            elif isinstance(node, ast.Call) and reached.get(_called_name(node)):
                for sentinel in reached[_called_name(node)]:
                    problems.setdefault((sentinel.lineno, culprit, line), (
                        f"sentinel can never fire: {culprit} at line {line} catches the AssertionError of the "
                        f"call to {_called_name(node)}() at line {node.lineno}, which can raise it ({fix})"))
    return [(key[0], reason) for key, reason in problems.items()]


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
