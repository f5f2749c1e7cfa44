"""
.. _recipe-shapes-spec-compile-mark-dynamic:

``mark_dynamic``, ``maybe_mark_dynamic``, ``mark_unbacked``: how they relate to ``Dim`` and ``ShapesSpec``
==========================================================================================================

Export's errors tell you to use ``mark_dynamic`` or ``maybe_mark_dynamic`` ("If you're using
mark_dynamic, either remove it or use maybe_mark_dynamic. If you're using Dim.DYNAMIC, replace it
with either Dim.STATIC or Dim.AUTO"), and ``torch.compile`` takes ``dynamic_shapes=`` a
``ShapesSpec`` in 2.15. Which marking API matches which ``Dim``, and which one is ``ShapesSpec``?

This recipe compiles small functions with ``torch.compile`` and a backend that only records the
graph it is given (no code generation: seconds, not minutes), marks the input each way, and
pins in one table the symbol each gives (``s`` backed, ``u`` unbacked), what an example of size 1
does, and what code that forces the size does. It also explains a traceback that torch 2.15 logs
when the spec holds a derived size. ``ShapesSpec`` lives in ``torch.fx.experimental.dynamic_spec``
and ``mark_unbacked`` in ``torch._dynamo.decorators``: both are **experimental** in torch 2.15
(``torch._dynamo`` is private), and each behaviour below is pinned.
"""

import json
import logging
import re

import torch
from torch.fx.experimental.dynamic_spec import ShapesSpec, ShapeVar, TensorSpec

graphs = []


def recording_backend(graph_module, example_inputs):
    """Keeps the shape of each input of the graph dynamo made (symbols without their numbers), runs it as is."""
    shapes = []
    for node in graph_module.graph.find_nodes(op="placeholder"):
        value = node.meta["example_value"]
        if isinstance(value, torch.Tensor):
            shapes.append(re.sub(r"\b([su])\d+", r"\1", str(list(value.shape))))
    graphs.append(shapes)
    return graph_module.forward


def compiled_shapes(fn, x, mark=None):
    """The input shapes of the graph compiled for ``fn(x)``, ``x`` marked by ``mark(x, 0)``."""
    torch._dynamo.reset()
    graphs.clear()
    if mark is not None:
        mark(x, 0)
    torch.compile(fn, backend=recording_backend, fullgraph=True)(x)
    (shapes,) = graphs
    return shapes


class ErrorRecorder(logging.Handler):
    """Keeps the message of each record it receives, and the exception the record carries."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        error = record.exc_info[1] if record.exc_info else None
        self.records.append((record.getMessage(), type(error).__name__, str(error)))


def double(x):
    return x * 2


def add_four_rows(x):  # forces the size: only 4 rows add to a (4, 3) tensor
    return x + torch.ones(4, 3)


def shortcut(x):  # a branch on the size
    if x.shape[0] > 2:
        return x * 2
    return x


mark_dynamic = torch._dynamo.mark_dynamic
maybe_mark_dynamic = torch._dynamo.maybe_mark_dynamic
mark_unbacked = torch._dynamo.decorators.mark_unbacked

# %%
# ``torch.compile`` with a ``ShapesSpec``
# ---------------------------------------
#
# The spec names the function's parameters, as for export. One compiled graph serves batches 1
# and 5, and its input has a ``u`` symbol: the unbacked size of export's ``ShapesSpec``.

torch._dynamo.reset()
graphs.clear()
spec = ShapesSpec({"x": TensorSpec([ShapeVar("batch"), 3])})
compiled = torch.compile(double, backend=recording_backend, dynamic_shapes=spec)
for rows in (1, 5):
    x = torch.randn(rows, 3)
    torch.testing.assert_close(compiled(x), double(x))
print(graphs)
assert graphs == [["[u, 3]"]], graphs

# %%
# The marking APIs
# ----------------
#
# ``mark_dynamic`` gives a backed symbol, like a named ``Dim`` (or ``Dim.DYNAMIC``): an example
# of size 1 is compiled static, and code that forces the size is an error.

assert compiled_shapes(double, torch.randn(4, 3), mark_dynamic) == ["[s, 3]"]
assert compiled_shapes(double, torch.randn(1, 3), mark_dynamic) == ["[1, 3]"]
try:
    compiled_shapes(add_four_rows, torch.randn(4, 3), mark_dynamic)
    raise AssertionError("mark_dynamic now lets the size be forced: update this recipe")
except torch.fx.experimental.symbolic_shapes.ConstraintViolationError as e:
    message = str(e)
    print("\n".join(message.splitlines()[:2]))
assert "but your code specialized it to be a constant (4). If you're using mark_dynamic, either remove it or use maybe_mark_dynamic." in message, message

# %%
# The message is the one export gives for a named ``Dim`` (:ref:`recipe-specialized-to-constant`):
# its advice covers both APIs. ``maybe_mark_dynamic`` is ``Dim.AUTO``: backed, and a forced
# size becomes static without a word.

assert compiled_shapes(double, torch.randn(4, 3), maybe_mark_dynamic) == ["[s, 3]"]
assert compiled_shapes(double, torch.randn(1, 3), maybe_mark_dynamic) == ["[1, 3]"]
assert compiled_shapes(add_four_rows, torch.randn(4, 3), maybe_mark_dynamic) == ["[4, 3]"]

# %%
# ``mark_unbacked`` is what ``ShapesSpec`` does to each dynamic size: a ``u`` symbol even for an
# example of size 1, and a branch on the size is a data-dependent error (a ``UserError`` in
# ``torch.compile`` with ``fullgraph=True``).

assert compiled_shapes(double, torch.randn(1, 3), mark_unbacked) == ["[u, 3]"]
try:
    compiled_shapes(shortcut, torch.randn(4, 3), mark_unbacked)
    raise AssertionError("mark_unbacked now compiles a branch on the size: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message.splitlines()[0])
assert "Could not guard on data-dependent expression" in message, message

# %%
# ``ShapesSpec`` in ``torch.compile`` stops the same way on that branch:

torch._dynamo.reset()
try:
    torch.compile(shortcut, backend=recording_backend, fullgraph=True, dynamic_shapes=spec)(torch.randn(4, 3))
    raise AssertionError("a ShapesSpec now compiles a branch on the size: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message.splitlines()[0])
assert "Could not guard on data-dependent expression" in message, message

# %%
# The table
# ---------
#
# ================================================  ================================  ======  ============  ========================================
# marking (``torch.compile``)                       ``torch.export`` spec             symbol  example of 1  code that depends on the size
# ================================================  ================================  ======  ============  ========================================
# ``torch._dynamo.mark_dynamic``                    named ``Dim``, ``Dim.DYNAMIC``    ``s``   static        error: "specialized it to be a constant"
# ``torch._dynamo.maybe_mark_dynamic``              ``Dim.AUTO``                      ``s``   static        static, silently
# ``mark_unbacked`` (``torch._dynamo.decorators``)  ``ShapeVar`` in a ``ShapesSpec``  ``u``   ``u``         a branch on it: data-dependent error
# ``dynamic_shapes=ShapesSpec(...)``                ``ShapesSpec``                    ``u``   ``u``         a branch on it: data-dependent error
# ================================================  ================================  ======  ============  ========================================
#
# Each cell is pinned above, with ``torch.compile``; the export column is pinned in
# :ref:`recipe-zero-one-specialization`, :ref:`recipe-specialized-to-constant` and
# :ref:`recipe-shapes-spec-side-by-side`.
#
# "Object of type SymInt is not JSON serializable"
# ------------------------------------------------
#
# With a derived size in the spec (``batch * 2``), torch 2.15 logs a long traceback on stderr
# while it compiles, from the logger ``torch._dynamo.metrics_context``, and the compiled function
# works. A handler on that logger shows the record (``propagate`` off keeps it off the console):


def doubled_rows(x, y):
    return torch.cat([x, x], 0) + y


batch = ShapeVar("batch")
derived = ShapesSpec({"x": TensorSpec([batch, 3]), "y": TensorSpec([batch * 2, 3])})
recorder = ErrorRecorder()
metrics_logger = logging.getLogger("torch._dynamo.metrics_context")
metrics_logger.addHandler(recorder)
metrics_logger.propagate = False
try:
    torch._dynamo.reset()
    compiled = torch.compile(doubled_rows, backend="eager", dynamic_shapes=derived)
    x, y = torch.randn(5, 3), torch.randn(10, 3)
    torch.testing.assert_close(compiled(x, y), doubled_rows(x, y))
finally:
    metrics_logger.removeHandler(recorder)
    metrics_logger.propagate = True
print(recorder.records)
assert recorder.records == [
    ("Unexpected exception logging compilation metrics", "TypeError", "Object of type SymInt is not JSON serializable")
], recorder.records

# %%
# The record carries the exception of the traceback, a ``TypeError``. After each compilation, torch writes its configuration as JSON for its metrics,
# the configuration now holds the spec, and the spec's JSON form keeps ``batch * 2`` as a
# ``SymInt`` (only a plain ``ShapeVar`` has a JSON form). The spec itself shows it:

jsonable = derived.to_jsonable()
print(jsonable["params"]["params"]["y"]["dims"])
assert type(jsonable["params"]["params"]["y"]["dims"][0]) is torch.SymInt
assert jsonable["params"]["params"]["x"]["dims"][0]["type"] == "ShapeVar"

# %%
# and ``json.dumps`` fails on it with the message of the traceback:

try:
    json.dumps(jsonable)
    raise AssertionError("the JSON form of a derived size now serializes: update this recipe")
except TypeError as e:
    print(e)
    assert str(e) == "Object of type SymInt is not JSON serializable", e

# %%
# Only the metrics record is lost; the compiled function matched eager above. Where the
# traceback gets in your way, silence that logger as above, or keep derived sizes out of the spec
# you give ``torch.compile``.
