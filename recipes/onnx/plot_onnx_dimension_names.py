"""
.. _recipe-onnx-dimension-names:

Why are my ONNX dimensions named ``s17``? Readable names for dynamic dimensions
===============================================================================

The ONNX graph stores a dynamic dimension as a name, its ``dim_param``. Tools that load the
model (onnxruntime, Netron, serving frameworks) show that name, and a model whose inputs read
``['s31', 's27', 8]`` tells its users nothing. These names are ``torch.export``'s symbols: you
get them with ``Dim.AUTO`` and ``Dim.DYNAMIC``, which have no name to give.

This recipe shows where the names come from, names the dimensions three ways (strings or
``Dim`` objects in ``dynamic_shapes``, ``ONNXProgram.rename_axes`` after export), and ends with
dimensions that are related to each other (``n`` and ``n + 1``), where a derived ``Dim`` gives
correct names and separate strings give a wrong one.

The model and the helpers
-------------------------
"""

import re
import warnings

import numpy as np
import onnxruntime
import torch

Dim = torch.export.Dim


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x, mask):
        h = self.linear(x) * mask.unsqueeze(-1)
        return h, h.reshape(h.shape[0], -1)


torch.manual_seed(0)
model = Model().eval()
x, mask = torch.randn(2, 3, 8), torch.ones(2, 3)


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


def export_onnx(model, args, dynamic_shapes, output_names):
    return torch.onnx.export(
        model, args, dynamo=True, verbose=False, dynamic_shapes=dynamic_shapes, output_names=output_names
    )


def onnx_session(onnx_program):
    """An onnxruntime session on the CPU for an ``ONNXProgram``."""
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def check_onnx_against_eager(onnx_program, model, input_sets):
    """onnxruntime, running the ONNX model, gives what eager gives on each tuple of new inputs."""
    session = onnx_session(onnx_program)
    names = [node.name for node in session.get_inputs()]
    for inputs in input_sets:
        expected = model(*inputs)
        expected = expected if isinstance(expected, (tuple, list)) else [expected]
        feeds = {name: tensor.numpy() for name, tensor in zip(names, inputs, strict=True)}
        for got, wanted in zip(session.run(None, feeds), expected, strict=True):
            np.testing.assert_allclose(got, wanted.detach().numpy(), rtol=1e-4, atol=1e-5)
    print(f"onnxruntime matches eager on {len(input_sets)} new input sets")


new_inputs = [(torch.randn(b, s, 8), torch.ones(b, s)) for b, s in [(5, 3), (1, 7), (4, 2)]]

# %%
# The model has two outputs: ``h`` of shape (batch, seq, 4), and ``flat``, the same values
# flattened to (batch, 4 * seq).
#
# ``Dim.AUTO`` and ``Dim.DYNAMIC``: names of symbols
# --------------------------------------------------

auto = {"x": {0: Dim.AUTO, 1: Dim.AUTO}, "mask": {0: Dim.AUTO, 1: Dim.AUTO}}
auto_program = export_onnx(model, (x, mask), auto, ["h", "flat"])
auto_dims = onnx_dims(auto_program.model_proto)
print(auto_dims)

batch_symbol, seq_symbol = auto_dims["x"][:2]
assert re.fullmatch(r"s\d+", batch_symbol) and re.fullmatch(r"s\d+", seq_symbol), auto_dims
assert auto_dims == {
    "x": [batch_symbol, seq_symbol, 8],
    "mask": [batch_symbol, seq_symbol],
    "h": [batch_symbol, seq_symbol, 4],
    "flat": [batch_symbol, f"4*{seq_symbol}"],
}, auto_dims

dynamic = {"x": {0: Dim.DYNAMIC, 1: Dim.DYNAMIC}, "mask": {0: Dim.DYNAMIC, 1: Dim.DYNAMIC}}
assert onnx_dims(export_onnx(model, (x, mask), dynamic, ["h", "flat"]).model_proto) == auto_dims
check_onnx_against_eager(auto_program, model, new_inputs)

# %%
# The model is dynamic and correct, but its dimensions are named after the symbols printed above
# (an ``s`` and a number): ``torch.export`` creates one symbol per independent size (``x`` and
# ``mask`` share theirs), and the ONNX exporter writes each symbol as the ``dim_param``, or an
# expression of symbols for a computed size (the second dimension of ``flat`` is 4 times the
# sequence's symbol). ``Dim.DYNAMIC`` gives the same names. The numbers are not meaningful, and
# they change when the argument names of ``forward`` change. The same model with its arguments
# renamed, exported by ``torch.export`` (whose symbols the ONNX exporter writes), gets other
# symbols:


class RenamedArguments(Model):
    def forward(self, tokens, padding):
        return super().forward(tokens, padding)


renamed_spec = {"tokens": auto["x"], "padding": auto["mask"]}
renamed_ep = torch.export.export(RenamedArguments(), (x, mask), dynamic_shapes=renamed_spec)
renamed_symbols = sorted(str(symbol) for symbol in renamed_ep.range_constraints)
print(renamed_symbols, "instead of", sorted([batch_symbol, seq_symbol]))
assert all(re.fullmatch(r"s\d+", symbol) for symbol in renamed_symbols), renamed_symbols
assert renamed_symbols != sorted([batch_symbol, seq_symbol]), renamed_symbols

# %%
# So a name such as ``s31`` can change with a harmless rename, which is one more reason to name
# the dimensions yourself.
#
# Names in ``dynamic_shapes``: strings or ``Dim`` objects
# -------------------------------------------------------
#
# Give the name where you declare the dimension. A string is enough for ``torch.onnx.export``
# (``Dim("batch")`` gives the same names). The exporter replaces each symbol by your name, in
# the inputs, in the outputs, and inside expressions:

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    named = {"x": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}}
    named_program = export_onnx(model, (x, mask), named, ["h", "flat"])

named_dims = onnx_dims(named_program.model_proto)
print(named_dims)
assert named_dims == {
    "x": ["batch", "seq", 8],
    "mask": ["batch", "seq"],
    "h": ["batch", "seq", 4],
    "flat": ["batch", "4*seq"],
}, named_dims
check_onnx_against_eager(named_program, model, new_inputs)

# %%
# Naming the same dimension on two inputs logs a warning per shared name. It only says that
# the symbol was already named by the first input; nothing is lost:

axis_warnings = [str(w.message) for w in caught if str(w.message).startswith("# The axis name:")]
print("\n".join(axis_warnings))
shared = "will not be used, since it shares the same shape constraints with another axis"
assert axis_warnings == [
    f"# The axis name: batch {shared}: batch.",
    f"# The axis name: seq {shared}: seq.",
], axis_warnings

# %%
# Renaming after export: ``ONNXProgram.rename_axes``
# --------------------------------------------------
#
# When the spec is not yours to change (``Dim.AUTO``, or a program exported elsewhere), rename
# the dimensions of the ``ONNXProgram`` itself. The keys are the old names or, better, the
# dimensions taken from the graph (``onnx_program.model`` is the in-memory ONNX IR model), so
# the code does not depend on the ``s``-numbers. A key can also be a whole expression, which
# gives an output dimension a name of its own:

x_shape = auto_program.model.graph.inputs[0].shape
auto_program.rename_axes({x_shape[0]: "batch", x_shape[1]: "seq"})
auto_program.rename_axes({"4*seq": "features"})

renamed_dims = onnx_dims(auto_program.model_proto)
print(renamed_dims)
assert renamed_dims == {**named_dims, "flat": ["batch", "features"]}, renamed_dims
check_onnx_against_eager(auto_program, model, new_inputs)

# %%
# Related dimensions: ``n`` and ``n + 1``
# ---------------------------------------
#
# A second model takes ``n`` values and ``n + 1`` boundaries, and returns the values scaled by
# the width of each interval, and the concatenation of both (``2n + 1`` elements). A derived
# ``Dim`` says how the sizes are related, and the exporter carries the relation to the names:


class Intervals(torch.nn.Module):
    def forward(self, values, bounds):
        return values * (bounds[1:] - bounds[:-1]), torch.cat([values, bounds])


intervals = Intervals().eval()
values, bounds = torch.randn(4), torch.randn(5)

n = Dim("n")
derived_spec = {"values": {0: n}, "bounds": {0: n + 1}}
derived_program = export_onnx(intervals, (values, bounds), derived_spec, ["scaled", "both"])
derived_dims = onnx_dims(derived_program.model_proto)
print(derived_dims)
expected_dims = {"values": ["n"], "bounds": ["n + 1"], "scaled": ["n"], "both": ["2*n + 1"]}
assert derived_dims == expected_dims, derived_dims


interval_inputs = [(torch.randn(size), torch.randn(size + 1)) for size in (6, 9)]
check_onnx_against_eager(derived_program, intervals, interval_inputs)
print("sizes of both:", [len(intervals(*inputs)[1]) for inputs in interval_inputs])

# %%
# With ``n`` = 6, ``both`` has 13 = 2 * 6 + 1 elements, as its name says.
#
# Separate strings for related dimensions give a wrong name
# ---------------------------------------------------------
#
# Strings cannot express ``n + 1``. Naming each size on its own still exports (the exporter
# lets ``torch.export`` find the relation), but look at the name of the second output:

strings_spec = {"values": {0: "n"}, "bounds": {0: "n_bounds"}}
strings_program = export_onnx(intervals, (values, bounds), strings_spec, ["scaled", "both"])
strings_dims = onnx_dims(strings_program.model_proto)
print(strings_dims)
expected_dims = {"values": ["n"], "bounds": ["n_bounds"], "scaled": ["n"], "both": ["2*n_bounds"]}
assert strings_dims == expected_dims, strings_dims
check_onnx_against_eager(strings_program, intervals, interval_inputs)

# %%
# The program the exporter made (``strings_program.exported_program``) shows the sizes as
# ``torch.export`` wrote them, before the renaming:

values_node, bounds_node = strings_program.exported_program.graph.find_nodes(op="placeholder")
scaled_node, both_node = strings_program.exported_program.graph.output_node().args[0]
n_symbol, bounds_size, both_size = (
    node.meta["val"].shape[0] for node in (values_node, bounds_node, both_node)
)
print(n_symbol, "|", bounds_size, "|", both_size)
assert bounds_size.node.expr == n_symbol.node.expr + 1, bounds_size
assert both_size.node.expr == 2 * n_symbol.node.expr + 1, both_size

# %%
# The model computes the right values, but ``both`` is named ``2*n_bounds``, which would be
# 14 for ``n_bounds`` = 7, while it has 13 elements. ``torch.export`` wrote the sizes as a
# symbol ``s``, ``s + 1`` and ``2*s + 1`` (printed above). The exporter renames by replacing
# text, longest known name first: ``s + 1`` became ``n_bounds``, also inside ``2*s + 1``. A
# ``dim_param`` is only a label (onnxruntime does not compute it), so nothing fails, but the
# name misleads.
#
# Name independent sizes with strings or ``Dim`` objects, and sizes that depend on others
# with derived ``Dim`` objects (``n + 1``, ``2 * n``), so that every name in the graph is
# an expression of the independent names.

# %%
# With ShapesSpec (2.15+)
# -----------------------
#
# A program exported with a ``ShapesSpec`` (``torch.fx.experimental.dynamic_spec``,
# experimental in torch 2.15) has ``u`` symbols, and the ONNX model's dimensions take those names:
# :ref:`recipe-shapes-spec-onnx` converts such a program and renames them.
