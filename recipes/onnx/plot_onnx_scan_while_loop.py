"""
.. _recipe-onnx-scan-while-loop:

``torch.while_loop`` and ``scan`` in ONNX: "Expected body_fn_output and carried_inputs to have same metadata"
=============================================================================================================

A recurrent model walks over its sequence and returns one hidden state per step. Written as a
Python ``for`` loop, it exports with the sequence length fixed to the example's (see
:ref:`recipe-loop-over-dynamic-dim`). To get an ONNX model that accepts any length, the loop
must stay a loop in the graph: PyTorch has ``torch.while_loop`` (public, a prototype) and
``scan`` (private in the pinned PyTorch), and the ONNX exporter turns them into the ONNX
operators ``Loop`` and ``Scan``.

The natural way to collect the states in ``torch.while_loop``, appending to a carried tensor,
fails with "Expected body_fn_output and carried_inputs to have same metadata". This recipe shows
why, fixes it with a buffer allocated before the loop, then writes the same model with ``scan``.
Both ONNX models are run with onnxruntime on new lengths and compared with the Python loop.

The model and the helpers
-------------------------
"""

import numpy as np
import onnxruntime
import torch

Dim = torch.export.Dim


class Recurrence(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(3, 3) * 0.5)

    def forward(self, x):
        h = torch.zeros(x.shape[1])
        states = []
        for i in range(x.shape[0]):
            h = torch.tanh(h @ self.weight + x[i])
            states.append(h)
        return torch.stack(states)


torch.manual_seed(0)
model = Recurrence().eval()
x = torch.randn(4, 3)


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


new_inputs = [(torch.randn(2, 3),), (torch.randn(7, 3),)]

# %%
# ``model``, the Python loop, is the eager reference for the whole recipe: every ONNX model below
# is compared with it, on sequences of 2 and 7 steps (the example has 4).
#
# ``torch.while_loop``: carried values keep their shape
# -----------------------------------------------------
#
# ``torch.while_loop(cond_fn, body_fn, carried_inputs)`` runs ``body_fn`` on the carried values
# while ``cond_fn`` is true (see :ref:`recipe-loop-over-dynamic-dim`; it is a public function
# of the pinned PyTorch, documented as a prototype). The natural way to collect the states is to
# carry a tensor and append to it:

assert "prototype feature" in torch.while_loop.__doc__


class GrowingStates(Recurrence):
    def forward(self, x):
        def cond_fn(i, h, states):
            return i < x.shape[0]

        def body_fn(i, h, states):
            h = torch.tanh(h @ self.weight + x.index_select(0, i.reshape(1)).squeeze(0))
            return i + 1, h, torch.cat([states, h.unsqueeze(0)])

        carried = (torch.tensor(0), torch.zeros(x.shape[1]), x.new_zeros(0, x.shape[1]))
        return torch.while_loop(cond_fn, body_fn, carried)[2]


try:
    torch.export.export(GrowingStates(), (x,), dynamic_shapes=({0: Dim("seq")},))
    raise AssertionError("while_loop now accepts a carried tensor that grows: update this recipe")
except torch._dynamo.exc.UncapturedHigherOrderOpError as e:
    print("\n".join(str(e).splitlines()[:2]))
    assert str(e).startswith("Expected body_fn_output and carried_inputs to have same metadata"), e
    assert "differ in 'shape: torch.Size([1, 3]) vs torch.Size([0, 3])'" in str(e), e
    assert isinstance(e, RuntimeError), type(e).__mro__

# %%
# The recipe shows the error with ``torch.export.export``, which the ONNX exporter runs first.
# ``torch._dynamo.exc.UncapturedHigherOrderOpError`` is a private class (code you keep can catch
# ``RuntimeError``, its base class). ``while_loop`` traces its body once, and what the body
# returns must have the shapes of what it received: the traced body is the same function at every
# step. ``states`` received with 0 rows and returned with 1 breaks that rule, and no spec can
# fix it.
#
# The fix is a buffer of the final size, ``torch.zeros_like(x)``, filled one row per step with
# ``index_copy`` (out of place, so the body returns a new tensor of the same shape):


class WhileLoopStates(Recurrence):
    def forward(self, x):
        def cond_fn(i, h, states):
            return i < x.shape[0]

        def body_fn(i, h, states):
            h = torch.tanh(h @ self.weight + x.index_select(0, i.reshape(1)).squeeze(0))
            return i + 1, h, states.index_copy(0, i.reshape(1), h.unsqueeze(0))

        carried = (torch.tensor(0), torch.zeros(x.shape[1]), torch.zeros_like(x))
        return torch.while_loop(cond_fn, body_fn, carried)[2]


# %%
# This loop is exported to ONNX below, together with the ``scan`` version.
#
# ``scan``: one output per step, stacked
# --------------------------------------
#
# A loop that reads one row per step and stacks one result per step is a *scan*:
# ``scan(combine_fn, init, xs)`` calls ``combine_fn(carry, xs[i])`` for each row, which returns
# the next carry and the output of the step, and returns the last carry and the stacked outputs.
# No counter, no buffer. The pinned PyTorch has it only in a private module,
# ``torch._higher_order_ops.scan``: there is no ``torch.scan``.

assert not hasattr(torch, "scan"), "torch.scan is now public: use it in this recipe"
from torch._higher_order_ops import scan  # noqa: E402 (private: pinned by the assert above)


class ScanStates(Recurrence):
    def forward(self, x):
        def step(h, row):
            h = torch.tanh(h @ self.weight + row)
            return h, h.clone()

        return scan(step, torch.zeros(x.shape[1]), x)[1]


# %%
# The step returns ``h.clone()`` rather than ``h`` twice, as the documentation of ``scan`` asks:
# its outputs must not alias each other.

assert "output-output" in scan.__doc__  # "shouldn't have any aliasing between ... output-output"

# %%
# Both loops in ONNX
# ------------------
#
# Each ONNX export takes a couple of seconds, so the recipe exports the two versions at once, as
# two submodules of one module with two outputs. Both get the weights of the Python loop.


class BothLoops(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.while_model = WhileLoopStates()
        self.scan_model = ScanStates()

    def forward(self, x):
        return self.while_model(x), self.scan_model(x)


both = BothLoops().eval()
both.while_model.load_state_dict(model.state_dict())
both.scan_model.load_state_dict(model.state_dict())
onnx_program = torch.onnx.export(
    both, (x,), dynamo=True, verbose=False, dynamic_shapes=({0: "seq"},), output_names=["while_states", "scan_states"]
)
dims = onnx_dims(onnx_program.model_proto)
ops = [node.op_type for node in onnx_program.model_proto.graph.node]
print(dims)
print(ops)
assert dims == {"x": ["seq", 3], "while_states": ["seq", 3], "scan_states": ["seq", 3]}, dims
assert ops.count("Loop") == 1 and ops.count("Scan") == 1, ops
assert ops.index("Shape") < ops.index("Less") < ops.index("Loop"), ops
check_onnx_against_eager(onnx_program, lambda x: (model(x), model(x)), new_inputs)

# %%
# ``torch.while_loop`` became the ``Loop`` node, after the nodes that compute the length
# (``Shape``) and the first condition (``Less``); ``scan`` became the ``Scan`` node, alone. Both
# outputs keep the name ``seq``, and onnxruntime gives the states of the Python loop for 2 and 7
# steps with either.
#
# Which one? ``scan`` fits a loop over the rows of a tensor and gives the simpler graph, but it
# is private in the pinned PyTorch and may change. ``torch.while_loop`` is public and also
# handles loops whose number of steps depends on the data (a condition on a tensor value); its
# carried values must keep their shapes, so allocate the outputs before the loop. Both are
# prototypes: test the ONNX model on several lengths, as here.
