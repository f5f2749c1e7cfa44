"""
.. _recipe-zero-one-specialization:

An example input with batch size 1: 0/1 specialization
======================================================

You export with a single example, ``torch.randn(1, 8)``, and mark the batch dynamic. Depending on
how you mark it, export raises a ``UserError`` ("specialized it to be a constant (1)"), a
``ValueError`` ("0/1 specialized"), or silently exports a program that only accepts batch 1.
The cause is the example, not the model: export treats sizes 0 and 1 as special. This recipe
shows the three behaviours, explains them, and ends with two fixes checked on batches of 1 and 5:
an example of size 2 or more, and the private, experimental switch ``backed_size_oblivious``,
which the ONNX exporter turns on by itself.
"""

import logging

import numpy as np
import onnxruntime
import torch

Dim = torch.export.Dim


class Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.linear(x).relu()


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class Recorder(logging.Handler):
    """Keeps the messages of the records it receives."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


model = Classifier().eval()
one = torch.randn(1, 8)
batches_1_and_5 = [(torch.randn(1, 8),), (torch.randn(5, 8),)]

# %%
# A named ``Dim``: "specialized it to be a constant (1)"
# ------------------------------------------------------

try:
    torch.export.export(model, (one,), dynamic_shapes=({0: Dim("batch")},))
    raise AssertionError("a named Dim with an example of size 1 now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert "You marked batch as dynamic but your code specialized it to be a constant (1)" in message, message
assert "Suggested fixes:\n  batch = 1" in message, message

# %%
# ``torch._dynamo.exc.UserError`` is the class export raises (a private class, a subclass of
# ``RuntimeError``: see :ref:`recipe-bounded-dim-min-max`). Nothing in this model depends on
# the batch size. Export creates a symbol for a dynamic dimension only when the example's size is
# 2 or more: a size of 0 or 1 changes how tensors behave (a dimension of size 1 *broadcasts*, a
# size 0 makes a tensor empty), so export keeps such a size as a constant. The suggested fix,
# ``batch = 1``, would give up the dynamic batch.
#
# ``Dim.DYNAMIC``: a ``ValueError``
# ---------------------------------

try:
    torch.export.export(model, (one,), dynamic_shapes=({0: Dim.DYNAMIC},))
    raise AssertionError("Dim.DYNAMIC with an example of size 1 now exports: update this recipe")
except ValueError as e:
    message = str(e)
    print(message)

assert "Received user-specified dim hint Dim.DYNAMIC" in message, message
assert "but export 0/1 specialized due to hint of 1 for dimension" in message, message

# %%
# Same cause, other class, and a message that names it: "0/1 specialized due to hint of 1".
# (The *hint* is the example's size.)
#
# ``Dim.AUTO``: silently static
# -----------------------------
#
# ``Dim.AUTO`` means "dynamic if possible", so it does not raise. It only logs a warning, not a
# Python warning but a line on stderr from the logger of a private module,
# ``torch._export.non_strict_utils`` (a handler on that logger records it here), and exports a
# batch of exactly 1:

recorder = Recorder()
logging.getLogger("torch._export.non_strict_utils").addHandler(recorder)
ep = torch.export.export(model, (one,), dynamic_shapes=({0: Dim.AUTO},))
logging.getLogger("torch._export.non_strict_utils").removeHandler(recorder)
print(recorder.messages)
print(ep.range_constraints)
x_placeholder = [node for node in ep.graph.nodes if node.op == "placeholder"][-1]
print(x_placeholder.meta["val"].shape)
hint = "0/1 specialized; Dim.AUTO was specified along with a sample input with hint = 1"
assert any(hint in m for m in recorder.messages), recorder.messages
assert ep.range_constraints == {}, ep.range_constraints

# %%
# No range, and a placeholder of shape ``[1, 8]``. Batch 5 is refused when the program runs,
# possibly long after export:

try:
    ep.module()(torch.randn(5, 8))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] == 1", e
else:
    raise AssertionError("the AUTO program now accepts batch 5: update this recipe")

# %%
# Fix 1: an example with batch 2 or more
# --------------------------------------
#
# The simplest fix: export with a batch of 2 (any size >= 2). The ``Dim``'s range still starts at
# 0 and batch 1 runs:

two = torch.randn(2, 8)
ep = torch.export.export(model, (two,), dynamic_shapes=({0: Dim("batch")},))
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[0, int_oo]"]
check_against_eager(ep, model, batches_1_and_5)

# %%
# With ``Dim.AUTO`` or ``Dim.DYNAMIC`` the inferred range starts at 2, yet batch 1 runs too: the
# lower bound 2 comes from the 0/1 assumption and is not checked when the module runs.

ep = torch.export.export(model, (two,), dynamic_shapes=({0: Dim.AUTO},))
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[2, int_oo]"]
check_against_eager(ep, model, batches_1_and_5)

# %%
# Batch 1 gives the same result as eager here because nothing in ``Classifier`` behaves
# differently for one row.
#
# Fix 2: keep the example of size 1 with ``backed_size_oblivious``
# ----------------------------------------------------------------
#
# When the only example you have has a size of 1 (a recorded input, a test fixture), the
# configuration flag ``backed_size_oblivious`` tells export not to specialize sizes 0 and 1 of the
# example. Two warnings come with it. It lives in ``torch.fx.experimental._config``, a
# **private** module, so it may change without notice. And PyTorch's own ``torch.export``
# tutorial presents it as *experimental*, in a section titled "(experimental) Avoiding 0/1
# specialization", which warns that the exported program may then behave differently from eager
# on inputs of size 0 or 1 (a broadcast, for instance). The check below pins its existence and
# its default:

assert torch.fx.experimental._config.backed_size_oblivious is False

with torch.fx.experimental._config.patch(backed_size_oblivious=True):
    ep = torch.export.export(model, (one,), dynamic_shapes=({0: Dim.DYNAMIC},))
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[0, int_oo]"]
check_against_eager(ep, model, batches_1_and_5)
assert torch.fx.experimental._config.backed_size_oblivious is False

# %%
# With the flag, the batch stays dynamic although the example has one row, and batches of 1 and 5
# match eager. ``patch`` restores the default when the ``with`` block ends (checked above). The
# flag changes the trace: where the code asks "is this size 1?", export answers "no" (the general
# case) instead of looking at the example, so compare with eager at size 1 when the model
# broadcasts. Prefer fix 1 when you can choose the example.
#
# The ONNX exporter sets the flag by itself
# -----------------------------------------
#
# ``torch.onnx.export(..., dynamo=True)`` turns ``backed_size_oblivious`` on during its own call
# to ``torch.export.export``, so the example of batch 1 exports without any flag of yours, and
# the batch stays dynamic in the ONNX model:

onnx_program = torch.onnx.export(model, (one,), dynamo=True, verbose=False, dynamic_shapes=({0: "batch"},))
(onnx_input,) = onnx_program.model_proto.graph.input
x_dims = [d.dim_param or d.dim_value for d in onnx_input.type.tensor_type.shape.dim]
print(x_dims)
assert x_dims == ["batch", 8], x_dims
assert torch.fx.experimental._config.backed_size_oblivious is False


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


check_onnx_against_eager(onnx_program, model, batches_1_and_5)

# %%
# onnxruntime matches eager at batch 1 and 5. The flag is off again after the call (checked
# above): the exporter patches it for its own capture only. The same caution applies: the ONNX
# model was traced under the general-case answers, so compare it with eager at size 1 when the
# model broadcasts.

# %%
# With ShapesSpec (2.15+)
# -----------------------
#
# A ``ShapesSpec`` (``torch.fx.experimental.dynamic_spec``, experimental in torch 2.15) gives
# the batch an unbacked symbol that export never reads from the example, so the example of one
# row is no longer special. :ref:`recipe-shapes-spec-size-one` exports this classifier from that
# example with a ``ShapesSpec``, checks it on batches 0, 1 and 5, and shows what it costs: a
# branch on a size becomes a data-dependent error.
