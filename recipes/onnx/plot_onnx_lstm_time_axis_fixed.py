"""
.. _recipe-onnx-lstm-time-axis-fixed:

"Got invalid dimensions for input ... Expected: 6": an LSTM exported to ONNX after a ``torch.export`` call
==========================================================================================================

A model built like a sequence tagger runs an ``nn.LSTM`` over a variable number of time steps.
Exported alone with ``torch.onnx.export(..., dynamo=True)`` and a dynamic time axis, it runs in
onnxruntime at every length. The same call made after a ``torch.export.export`` of the model in
the same Python process (one that failed, or even a static one: a notebook, a test session)
gives a model whose time axis is fixed to the example's length, without an error and without a
warning about it.
onnxruntime then rejects every other length with ``INVALID_ARGUMENT : Got invalid dimensions for
input: x ... index: 1 Got: 9 Expected: 6``.

This recipe reproduces it, explains why ``torch.export.export`` cannot keep the time axis of an
LSTM dynamic (its decomposition loops over the time steps in Python), how the ONNX exporter
usually does (it swaps in a loop of its own), and what the earlier call leaves behind that
defeats it. It ends with the fixes, checked with onnxruntime against eager on new lengths.

Public reports of this kind: pytorch/pytorch#191855 (an ONNX model of a bidirectional LSTM that
fails at other lengths, closed by pytorch/pytorch#193192), google-ai-edge/litert-torch#1062 and
pytorch/pytorch#126339 (``torch.export`` specializing the time axis of an LSTM or GRU; both open),
statuses as seen on 2026-12-04. The order dependence shown here was not in a public report on
that date.

The model and the helpers
-------------------------
"""

import warnings

import numpy as np
import onnxruntime
import torch
from torch.export._patches import register_lstm_while_loop_decomposition

Dim = torch.export.Dim

# Two warnings every export of an LSTM prints with the pinned release, unrelated to this page: a
# deprecation inside the exporter's loop decomposition, and the LSTM's weights list.
warnings.filterwarnings("ignore", message="_check_is_size will be removed", category=FutureWarning)
warnings.filterwarnings("ignore", message="The tensor attributes self.lstm._flat_weights")


class Tagger(torch.nn.Module):
    """An LSTM over the time steps, then a score per step."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(16, 8, batch_first=True)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.lstm(x)[0])


torch.manual_seed(0)
model = Tagger().eval()
x = torch.randn(2, 6, 16)
spec = ({0: Dim("batch"), 1: Dim("time")},)
new_inputs = [(torch.randn(3, 9, 16),), (torch.randn(1, 4, 16),)]
lstm_op = torch.ops.aten.lstm.input


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


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


def cached_kernels(op):
    """The names of the Python kernels an operator has cached (private, shown to find a cause)."""
    return sorted({kernel.__name__ for kernel in op._dispatch_cache.values() if callable(kernel)})


# %%
# First, ``torch.export.export``: the time axis is specialized
# ------------------------------------------------------------
#
# A common first step, before the ONNX export: try ``torch.export.export`` with the same spec.

try:
    torch.export.export(model, (x,), dynamic_shapes=spec)
    raise AssertionError("torch.export now keeps an LSTM's time axis dynamic: update this recipe")
except torch._dynamo.exc.UserError as e:
    lines = str(e).splitlines()
    print("\n".join(lines[:2]))
    assert lines[0].startswith("Constraints violated (time)!"), lines[0]
    assert "You marked time as dynamic but your code specialized it to be a constant (6)" in lines[1], lines[1]
    assert "Suggested fixes:" in lines and "  time = 6" in lines, lines

# %%
# (``torch._dynamo.exc.UserError`` is private; code you keep can catch ``RuntimeError``, its base
# class.) No line of ``Tagger`` uses the length: the constant comes from inside ``nn.LSTM``.
# ``torch.export`` traces ``aten.lstm`` through its default decomposition, which loops over the
# time steps in Python, one iteration per step of the example, so the graph it records only
# holds for 6 steps. The suggested fix, ``time = 6``, is what the model allows under that
# decomposition, not what a tagger wants.
#
# Then the ONNX export: no error, a fixed time axis
# -------------------------------------------------

with warnings.catch_warnings(record=True) as caught:
    onnx_program = torch.onnx.export(model, (x,), dynamo=True, verbose=False, dynamic_shapes=spec, output_names=["scores"])
assert [str(w.message) for w in caught] == [], [str(w.message) for w in caught]
dims = onnx_dims(onnx_program.model_proto)
print(dims)
assert dims == {"x": ["batch", 6, 16], "scores": ["batch", 6, 3]}, dims

try:
    onnx_session(onnx_program).run(None, {"x": new_inputs[0][0].numpy()})
    raise AssertionError("the ONNX model now keeps the time axis: update this recipe")
except onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument as e:
    print(e)
    assert "Got invalid dimensions for input: x for the following indices" in str(e), e
    assert "index: 1 Got: 9 Expected: 6" in str(e), e

# %%
# How to read it: ``index: 1`` is the axis (time, with ``batch_first=True``), ``Expected: 6`` the
# example's length. onnxruntime checks the inputs against the sizes written in the graph before it
# runs any node, so the error names the input, not the LSTM. The batch stayed dynamic; only the
# axis the LSTM loops over was fixed.
#
# The export printed nothing (no warning either: the check after the export). Its capture
# (step 1, ``torch.export.export``) raised the error of the previous section, and the exporter,
# which applies "Suggested fixes" by itself (see
# :ref:`recipe-onnx-lenient-export-unchecked-shapes`), applied ``time = 6`` and exported again.
# The program it converted has a fixed time axis:

user_input = onnx_program.exported_program.graph.find_nodes(op="placeholder")[-1]
print(user_input.name, user_input.meta["val"].shape)
assert user_input.meta["val"].shape[1] == 6, user_input.meta["val"].shape

# %%
# Why the ONNX exporter usually keeps the axis, and why not here
# --------------------------------------------------------------
#
# When ``dynamic_shapes`` is given, the ONNX exporter wraps its capture and its decompositions in
# context managers that register another decomposition of ``aten.lstm``, built on
# ``torch.while_loop``, whose number of iterations is a symbol. They are private
# (``torch.export._patches.register_lstm_while_loop_decomposition`` for the LSTM one).
#
# But an operator remembers, per dispatch key, the Python kernel picked for it the first time it
# ran under a mode such as the fake tensors of export (``OpOverload._dispatch_cache``, private,
# read here only to show the cause). The first export of an LSTM model in a process fills it, a
# static one (no ``dynamic_shapes``) included. Starting from an empty cache:

lstm_op._dispatch_cache.clear()
torch.export.export(model, (x,))
print(cached_kernels(lstm_op))
assert cached_kernels(lstm_op) == ["lstm_impl"], cached_kernels(lstm_op)

# %%
# ``lstm_impl`` is the default decomposition, the loop in Python. The context manager installs
# its own by assigning the operator's Python kernel (``py_kernels``) without clearing that cache
# (``OpOverload.py_impl``, the usual way to register one, clears it), so the cached loop in Python
# still runs. The context manager alone shows it:

try:
    with register_lstm_while_loop_decomposition():
        torch.export.export(model, (x,), dynamic_shapes=spec)
    raise AssertionError("the while_loop decomposition now replaces a cached kernel: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).splitlines()[1])
    assert "You marked time as dynamic but your code specialized it to be a constant (6)" in str(e), e

# %%
# That is what happened inside the ONNX exporter above: its capture ran under the while_loop
# decomposition, but with ``lstm_impl`` already cached by the first ``torch.export.export``.
#
# The fixes
# ---------
#
# * Export to ONNX from a script of its own (a fresh process), not after experiments with
#   ``torch.export.export`` on the same model in a notebook or a test session.
# * Check the ONNX graph's dims right after the export (``onnx_dims`` above), in the export
#   script: a size where ``dynamic_shapes`` asked for a name means a suggested fix was applied.
# * In a process where the cache already holds ``lstm_impl``, clearing the operator's cache
#   (private, ``torch.ops.aten.lstm.input._dispatch_cache.clear()``) gives the export of a fresh
#   process:

lstm_op._dispatch_cache.clear()
fixed = torch.onnx.export(model, (x,), dynamo=True, verbose=False, dynamic_shapes=spec, output_names=["scores"])
fixed_dims = onnx_dims(fixed.model_proto)
print(fixed_dims)
assert fixed_dims == {"x": ["batch", "time", 16], "scores": ["batch", "time", 3]}, fixed_dims
ops = sorted({node.op_type for node in fixed.model_proto.graph.node})
print(ops)
assert "LSTM" in ops, ops
check_onnx_against_eager(fixed, model, new_inputs)

# %%
# The time axis is named ``time`` at the input and the output, the graph holds an ONNX ``LSTM``
# node, and onnxruntime gives what eager PyTorch gives on 9 and 4 time steps.
#
# The order works the other way too: this export cached the exporter's decomposition,
# ``lstm_while_loop_impl``, and a plain ``torch.export.export`` that follows it in the same process
# now keeps the time axis, with no context manager:

print(cached_kernels(lstm_op))
assert cached_kernels(lstm_op) == ["lstm_while_loop_impl"], cached_kernels(lstm_op)
after_onnx_ep = torch.export.export(model, (x,), dynamic_shapes=spec)
out_shape = after_onnx_ep.graph.find_nodes(op="output")[0].args[0][0].meta["val"].shape
print(out_shape)
assert isinstance(out_shape[1], torch.SymInt), out_shape
for (new_x,) in new_inputs:
    torch.testing.assert_close(after_onnx_ep.module()(new_x), model(new_x))
print("the exported program matches eager on the new inputs")

# %%
# For a model that only needs ``torch.export`` (no ONNX), do not rely on that order: enter the
# private context manager before any export of the model in the process (or after clearing the
# cache). That is how the pinned release keeps an LSTM's time axis dynamic in ``torch.export``:

lstm_op._dispatch_cache.clear()
with register_lstm_while_loop_decomposition():
    while_loop_ep = torch.export.export(model, (x,), dynamic_shapes=spec)
out_shape = while_loop_ep.graph.find_nodes(op="output")[0].args[0][0].meta["val"].shape
assert isinstance(out_shape[1], torch.SymInt), out_shape
for (new_x,) in new_inputs:
    torch.testing.assert_close(while_loop_ep.module()(new_x), model(new_x))
print("the program exported under the while_loop decomposition matches eager on the new inputs")
