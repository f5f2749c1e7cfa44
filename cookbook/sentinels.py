"""What a sentinel is, the project's central idea, in one place.

A sentinel is any ``raise AssertionError(...)`` in a recipe's own code: at module level, in a
function, a method or a class body, at any depth, inside any ``try`` or ``with``. Most stand in a
``try`` whose body (or ``else:``) ends with ``raise AssertionError("... now works: update this
recipe")``: the code above it is expected to raise, so the ``raise`` runs only if PyTorch's
behaviour changed. Others follow a check (``if not lost: raise AssertionError(...)``) or sit in a
helper. When one executes, the recipe fails at its line, whatever then catches its
``AssertionError`` (``except Exception``, ``contextlib.suppress(Exception)``, a caller's handler):
:func:`mark_sentinels` and :class:`SentinelWatch` see it raise.

The sentinels that stand in a ``try`` (:func:`sentinel_tries`) also say which error the recipe
documents (the ``try``'s handlers): the troubleshooting page and the behaviour recorder read those.

The runner, the lint, the behaviour tracker and the troubleshooting page all read recipes
through these functions.
"""

from __future__ import annotations

import ast

#: Names whose ``except`` would catch a sentinel's ``AssertionError``.
SWALLOWING_HANDLERS = frozenset({"Exception", "BaseException", "AssertionError"})
#: The ``try`` statements (``try``/``except*`` included).
TRY_NODES = (ast.Try, ast.TryStar)


def is_sentinel_raise(node: ast.AST) -> bool:
    """``raise AssertionError(...)`` (or a bare ``raise AssertionError``)."""
    if not isinstance(node, ast.Raise) or node.exc is None:
        return False
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return isinstance(exc, ast.Name) and exc.id == "AssertionError"


def handler_names(handler: ast.ExceptHandler) -> list[str]:
    """The exception names an ``except`` clause lists, as written (``<bare except>`` for none)."""
    if handler.type is None:
        return ["<bare except>"]
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return [ast.unparse(t) for t in types]


def expected_exceptions(node: ast.AST) -> list[str]:
    """Every exception name the handlers of a ``try`` list, in order, without repeats."""
    return list(dict.fromkeys(name for handler in getattr(node, "handlers", []) for name in handler_names(handler)))


def swallows_sentinels(handler: ast.ExceptHandler) -> str | None:
    """How ``handler`` would catch a sentinel's AssertionError (``a bare `except:```...), or None."""
    if handler.type is None:
        return "a bare `except:`"
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for node in types:
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
        if name in SWALLOWING_HANDLERS:
            return f"`except {ast.unparse(handler.type)}`"
    return None


def sentinels_of_try(node: ast.AST) -> list[ast.Raise]:
    """The sentinels of a ``try``: ``raise AssertionError(...)`` in its body (the code above it was
    expected to raise) or in its ``else:`` (the ``try`` was expected to raise)."""
    if not isinstance(node, TRY_NODES):
        return []
    return [inner for statement in node.body + node.orelse for inner in ast.walk(statement) if is_sentinel_raise(inner)]


def sentinel_tries(tree: ast.AST) -> list[ast.Try]:
    """Every ``try`` of a recipe that holds a sentinel in its body or ``else:`` (the ``try``s that
    document an error)."""
    return [node for node in ast.walk(tree) if sentinels_of_try(node)]


def sentinel_lines(tree: ast.AST) -> set[int]:
    """Lines of every sentinel of a recipe: every ``raise AssertionError`` of its code, in a ``try``
    or not."""
    return {node.lineno for node in ast.walk(tree) if is_sentinel_raise(node)}


def enclosing_try(tree: ast.AST, line: int) -> ast.Try | None:
    """The innermost ``try`` whose body (not its handlers) contains ``line``."""
    best = None
    for node in ast.walk(tree):
        if isinstance(node, TRY_NODES) and node.body:
            first, last = node.body[0].lineno, node.body[-1].end_lineno
            if first <= line <= last and (best is None or first >= best.body[0].lineno):
                best = node
    return best


#: The name under which a running recipe finds the :class:`SentinelWatch` that notes its sentinels.
FIRED_HOOK = "__cookbook_sentinel_fired__"


class SentinelWatch:
    """Notes a sentinel's ``raise`` when it executes, even when a handler elsewhere catches its
    ``AssertionError`` (``contextlib.suppress(Exception)``, a caller's ``except Exception``, a
    ``try`` around a whole cell), which the static lint cannot see.

    The recipe's code is compiled from :func:`mark_sentinels`'s tree, where each sentinel reads
    ``raise __cookbook_sentinel_fired__(LINE, AssertionError(...))``, and this object is that name
    in the recipe's globals. Nothing else is traced, so the recipe runs at full speed (a
    ``sys.settrace`` watch doubled the time of an export). ``fired`` lists ``(line, message)``."""

    def __init__(self) -> None:
        self.fired: list[tuple[int, str]] = []

    def __call__(self, line: int, error):
        if isinstance(error, type):  # a bare ``raise AssertionError``
            error = error()
        self.fired.append((line, str(error)))
        return error


class _MarkSentinels(ast.NodeTransformer):
    def __init__(self, lines: set[int]) -> None:
        self.lines = lines

    def visit_Raise(self, node: ast.Raise) -> ast.Raise:
        if node.lineno in self.lines and is_sentinel_raise(node):
            hook = ast.Name(id=FIRED_HOOK, ctx=ast.Load())
            node.exc = ast.copy_location(ast.Call(func=hook, args=[ast.Constant(node.lineno), node.exc], keywords=[]), node.exc)
            ast.fix_missing_locations(node)
        return node


def mark_sentinels(tree: ast.Module, lines: set[int]) -> ast.Module:
    """``tree`` (changed in place) with each sentinel on ``lines`` reporting to :class:`SentinelWatch`
    as it raises. Line numbers are kept, so tracebacks show the recipe's own lines."""
    return _MarkSentinels(lines).visit(tree)
