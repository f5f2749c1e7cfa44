"""The behaviour tracker: record every expectation of every recipe, not only the first that breaks.

In the normal run a fired sentinel stops its recipe, so a maintainer learns of one change at a
time. The recording mode runs each recipe on an *instrumented* copy of its syntax tree (the recipe
file itself stays plain Python) in which:

- a sentinel (``raise AssertionError(...)`` in the body or ``else:`` of a ``try``) records
  ``changed`` with its message instead of raising, and the recipe goes on;
- entering a handler of that ``try`` records ``holds``; an ``AssertionError`` raised in the
  handler (a pinned message that no longer matches) records ``changed``; any other exception
  escaping the ``try`` records ``failed``, and the recipe goes on after the ``try``;
- a top-level ``assert`` (a positive check) records ``holds`` or ``changed`` and the recipe goes on.

An expectation never reached (the recipe stopped earlier) is ``not-reached``. Each expectation is
keyed by its kind and its text (the sentinel's message, the assert's source), so that keys survive
edits that move lines.

The JSON file of one environment (``_doc/behaviour/<key>.json``, format 1)::

    {"format": 1,
     "recorded": "2026-11-26",
     "environment": {"python": "3.11.7", "torch": "2.13.0+cpu", "onnx": ..., "onnxscript": ..., "onnxruntime": ...},
     "recipes": {
       "constraints/plot_dx_plus_dy.py": {
         "outcome": "completed",            # or the runner's verdict (exception, timeout, ...)
         "message": "",                     # the runner's message when the outcome is not completed
         "expectations": {
           "sentinel: Dim + Dim now works: update this recipe": {
             "line": 49, "status": "holds", "expects": "NotImplementedError", "message": ""},
           ...}}}}

Commands::

    python -m cookbook.behaviour record [--out _doc/behaviour]   # this environment's JSON
    python -m cookbook.behaviour compare BASE.json NEW.json       # exit 1 and list what changed
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import re
import sys
from pathlib import Path

from cookbook import RECIPES_DIR, REPO_ROOT
from cookbook.recipe_runner import sentinels_of_try

FORMAT = 1
STATUSES = ("holds", "changed", "failed", "not-reached")
RECORDER = "__cookbook_behaviour__"
DEFAULT_DIR = REPO_ROOT / "_doc" / "behaviour"


# --------------------------------------------------------------------------------------------
# Instrumentation
# --------------------------------------------------------------------------------------------


def _call(method: str, *args: ast.expr) -> ast.Expr:
    return ast.Expr(ast.Call(ast.Attribute(ast.Name(RECORDER, ast.Load()), method, ast.Load()), list(args), []))


def _sentinel_label(node: ast.Raise) -> str:
    exc = node.exc
    if isinstance(exc, ast.Call) and exc.args:
        argument = exc.args[0]
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            return argument.value
        return ast.unparse(argument)
    return ast.unparse(exc)


class _Instrumenter(ast.NodeTransformer):
    """Rewrites sentinel ``try`` statements and top-level asserts; leaves functions alone."""

    def __init__(self) -> None:
        self.expectations: dict[str, dict] = {}

    def _new(self, kind: str, label: str, line: int, expects: str = "") -> str:
        key, count = f"{kind}: {' '.join(label.split())}", 2
        base = key
        while key in self.expectations:
            key, count = f"{base} ({count})", count + 1
        self.expectations[key] = {"line": line, "status": "not-reached", "expects": expects, "message": ""}
        return key

    def visit_FunctionDef(self, node):  # helpers run whenever they are called: keep them as they are
        return node

    visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = visit_FunctionDef

    def visit_Assert(self, node: ast.Assert):
        key = self._new("check", ast.unparse(node.test), node.lineno)
        handler = ast.ExceptHandler(
            ast.Name("AssertionError", ast.Load()), "__cookbook_error__",
            [_call("changed", ast.Constant(key), ast.Name("__cookbook_error__", ast.Load()))],
        )
        wrapped = ast.Try([node, _call("held", ast.Constant(key))], [handler], [], [])
        return ast.fix_missing_locations(ast.copy_location(wrapped, node))

    def visit_Try(self, node: ast.Try):
        sentinels = sentinels_of_try(node)
        if not sentinels:
            return self.generic_visit(node)
        expects = ", ".join(ast.unparse(h.type) if h.type is not None else "<bare except>" for h in node.handlers)
        keys = [self._new("sentinel", _sentinel_label(raise_), raise_.lineno, expects) for raise_ in sentinels]
        by_node = dict(zip(map(id, sentinels), keys))

        class ReplaceSentinels(ast.NodeTransformer):
            def visit_Raise(self, raise_):
                if id(raise_) in by_node:
                    message = raise_.exc.args[0] if isinstance(raise_.exc, ast.Call) and raise_.exc.args else ast.Constant("")
                    return ast.copy_location(_call("changed", ast.Constant(by_node[id(raise_)]), message), raise_)
                return raise_

        node.body = [ReplaceSentinels().visit(statement) for statement in node.body]
        node.orelse = [ReplaceSentinels().visit(statement) for statement in node.orelse]
        key_list = ast.List([ast.Constant(k) for k in keys], ast.Load())
        for handler in node.handlers:
            handler.body.insert(0, _call("held", key_list))
        guard = ast.ExceptHandler(
            ast.Name("BaseException", ast.Load()), "__cookbook_error__",
            [_call("escaped", key_list, ast.Name("__cookbook_error__", ast.Load()))],
        )
        wrapped = ast.Try([node], [guard], [], [])
        return ast.fix_missing_locations(ast.copy_location(wrapped, node))


def instrument(source: str, filename: str):
    """(code object, expectations) of the recording copy of a recipe."""
    tree = ast.parse(source, filename=filename)
    instrumenter = _Instrumenter()
    tree = instrumenter.visit(tree)
    ast.fix_missing_locations(tree)
    return compile(tree, filename, "exec", dont_inherit=True), instrumenter.expectations


class Recorder:
    """Injected into the instrumented recipe as ``__cookbook_behaviour__``."""

    def __init__(self, expectations: dict[str, dict]) -> None:
        self.expectations = expectations

    def _set(self, key: str, status: str, message: str = "") -> None:
        self.expectations[key].update(status=status, message=str(message).strip()[:2000])

    def held(self, keys) -> None:
        for key in [keys] if isinstance(keys, str) else keys:
            if self.expectations[key]["status"] == "not-reached":
                self._set(key, "holds")

    def changed(self, key: str, message) -> None:
        self._set(key, "changed", message)

    def escaped(self, keys, error: BaseException) -> None:
        """An exception left a sentinel's ``try``: a failed message pin, or an unexpected error."""
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise error
        text = f"{type(error).__qualname__}: {error}"
        for key in keys:
            if self.expectations[key]["status"] == "holds" and isinstance(error, AssertionError):
                self._set(key, "changed", f"the error's message changed: {text}")
            elif self.expectations[key]["status"] != "changed":
                self._set(key, "failed", text)


# --------------------------------------------------------------------------------------------
# Recording and comparing
# --------------------------------------------------------------------------------------------


def environment_key(environment: dict[str, str]) -> str:
    parts = [f"{name}-{environment.get(name, 'none')}" for name in ("torch", "onnx", "onnxscript", "onnxruntime", "python")]
    return re.sub(r"[^\w.+-]", "_", "_".join(parts))


def record(out_dir: Path, recipes: list[Path] | None = None) -> Path:
    from cookbook.environment import versions
    from cookbook.recipe_lint import discover_recipes
    from cookbook.recipe_runner import run_recipe

    report = {
        "format": FORMAT,
        "recorded": datetime.date.today().isoformat(),
        "environment": versions(),
        "recipes": {},
    }
    for recipe in recipes or discover_recipes():
        result = run_recipe(recipe, record=True)
        name = str(Path(recipe).resolve().relative_to(RECIPES_DIR)) if RECIPES_DIR in Path(recipe).resolve().parents else str(recipe)
        outcome = "completed" if result.passed else result.kind
        report["recipes"][name] = {
            "outcome": outcome,
            "message": "" if result.passed else result.message.split("\nVersions:")[0],
            "expectations": result.expectations,
        }
        counts = {status: sum(e["status"] == status for e in result.expectations.values()) for status in STATUSES}
        print(f"{name}: {outcome}; " + ", ".join(f"{n} {s}" for s, n in counts.items() if n), flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{environment_key(report['environment'])}.json"
    target.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return target


def differences(base: dict, new: dict) -> list[str]:
    """One line per expectation (or recipe outcome) whose status differs from ``base`` to ``new``."""
    lines = []
    for recipe in sorted(set(base["recipes"]) | set(new["recipes"])):
        old_recipe, new_recipe = base["recipes"].get(recipe), new["recipes"].get(recipe)
        if old_recipe is None or new_recipe is None:
            lines.append(f"{recipe}: {'new recipe' if old_recipe is None else 'recipe removed'}")
            continue
        if old_recipe["outcome"] != new_recipe["outcome"]:
            lines.append(f"{recipe}: {old_recipe['outcome']} -> {new_recipe['outcome']}: {new_recipe['message']}")
        for key in sorted(set(old_recipe["expectations"]) | set(new_recipe["expectations"])):
            old = old_recipe["expectations"].get(key, {}).get("status", "absent")
            now = new_recipe["expectations"].get(key, {}).get("status", "absent")
            if old != now:
                message = new_recipe["expectations"].get(key, {}).get("message", "")
                message = " ".join(message.split())
                lines.append(f"{recipe}: [{key}] {old} -> {now}" + (f": {message[:300]}" if message else ""))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cookbook.behaviour", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    record_parser = commands.add_parser("record", help="run every recipe in recording mode and write this environment's JSON")
    record_parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    record_parser.add_argument("recipes", nargs="*", type=Path)
    compare_parser = commands.add_parser("compare", help="list the expectations whose status differs; exit 1 if any")
    compare_parser.add_argument("base", type=Path)
    compare_parser.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    if args.command == "record":
        target = record(args.out, args.recipes or None)
        print(f"written: {target}")
        return 0
    lines = differences(json.loads(args.base.read_text()), json.loads(args.new.read_text()))
    print("\n".join(lines) if lines else "no expectation changed")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
