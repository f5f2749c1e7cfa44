"""The recording mode of the behaviour tracker (:mod:`cookbook.harness.behaviour`): an instrumented
copy of a recipe's syntax tree in which expectations are recorded instead of stopping the recipe.

- a sentinel (``raise AssertionError(...)`` in the body or ``else:`` of a ``try``) records
  ``changed`` with its message instead of raising, and the recipe goes on;
- entering a handler of that ``try`` records ``holds``; an ``AssertionError`` raised in the
  handler (a pinned message that no longer matches) records ``changed``; any other exception
  escaping the ``try`` records ``failed``, and the recipe goes on after the ``try``;
- a top-level ``assert`` (a positive check) records ``holds`` or ``changed`` and the recipe goes on;
- before the first statement of each cell (``# %%``), the recorder notes where the output stands,
  so that the output of each cell can be recorded apart (what a reader sees on the page).

The recipe file itself stays plain Python; the runner compiles this copy in recording mode.
"""

from __future__ import annotations

import ast
import os
import sys

from cookbook.sentinels import handler_names, sentinels_of_try

#: The name under which the recorder is injected into the recipe's globals.
RECORDER = "__cookbook_behaviour__"


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
        expects = ", ".join(name for handler in node.handlers for name in handler_names(handler))
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


def cell_starts(source: str) -> list[int]:
    """The line of each ``# %%`` cell separator of a recipe (the docstring is cell 0)."""
    return [number for number, line in enumerate(source.splitlines(), 1) if line.startswith("# %%")]


def _mark_cells(tree: ast.Module, starts: list[int]) -> None:
    """Insert ``__cookbook_behaviour__.cell(n)`` before the first statement of cell ``n``."""
    body, pending = [], list(enumerate(starts, 1))
    for statement in tree.body:
        while pending and statement.lineno > pending[0][1]:
            index = pending.pop(0)[0]
            if not pending or statement.lineno <= pending[0][1]:
                body.append(ast.copy_location(_call("cell", ast.Constant(index)), statement))
        body.append(statement)
    tree.body = body


def instrument(source: str, filename: str):
    """(code object, expectations) of the recording copy of a recipe."""
    tree = ast.parse(source, filename=filename)
    instrumenter = _Instrumenter()
    tree = instrumenter.visit(tree)
    _mark_cells(tree, cell_starts(source))
    ast.fix_missing_locations(tree)
    return compile(tree, filename, "exec", dont_inherit=True), instrumenter.expectations


class Recorder:
    """Injected into the instrumented recipe as ``__cookbook_behaviour__``."""

    def __init__(self, expectations: dict[str, dict]) -> None:
        self.expectations = expectations
        #: ``[cell, stdout offset, stderr offset]`` where each cell's output starts (in the files
        #: behind sys.stdout and sys.stderr: the runner's page output in recording mode).
        self.cells: list[list[int]] = [[0, 0, 0]]

    def cell(self, index: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self.cells.append([index, *(os.lseek(stream.fileno(), 0, os.SEEK_CUR) for stream in (sys.stdout, sys.stderr))])

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


