"""
.. _recipe-args-must-be-a-tuple:

Expecting ``args`` to be a tuple of example positional inputs, got <class 'torch.Tensor'>
=========================================================================================

``torch.export.export(model, (x), dynamic_shapes=({0: Dim("batch")},))`` raises
``torch._dynamo.exc.UserError: Expecting `args` to be a tuple of example positional inputs, got
<class 'torch.Tensor'>``. The cause is one missing comma: in Python, ``(x)`` is just ``x`` in
parentheses, and only ``(x,)`` is a tuple. This recipe shows the error, the same slip in
``dynamic_shapes`` (another message), what ``torch.onnx.export`` does with a bare tensor, and
ends with the fix, checked against eager on new batch sizes.

The model and the failing call
------------------------------

A small model with one input, named ``a``:
"""

import numpy as np
import onnxruntime
import torch
from torch.export import Dim


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, a):
        return self.linear(a).relu()


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


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


torch.manual_seed(0)
model = Model().eval()
x = torch.randn(4, 8)
batch = Dim("batch")

try:
    torch.export.export(model, (x), dynamic_shapes=({0: batch},))
    raise AssertionError("a bare tensor as args is now accepted: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith(
    "Expecting `args` to be a tuple of example positional inputs, got <class 'torch.Tensor'>"
), message
assert message.endswith("replace your `export()` call with `draft_export()`."), message

# %%
# (Export ends its errors with a paragraph suggesting ``draft_export()``: ignore it here, the
# problem is in the call, not in the model.)
#
# The second argument of ``torch.export.export`` holds the positional arguments of
# ``forward``, and it must be a tuple, even for a single input. Parentheses alone do not make a
# tuple, the comma does: ``(x)`` is the tensor itself, ``(x,)`` a tuple of one tensor.

print(type((x)), type((x,)))
assert (x) is x and isinstance((x,), tuple) and len((x,)) == 1

# %%
# The error is a ``torch._dynamo.exc.UserError``: the class lives in a private module, so code
# you keep can catch its public base class ``RuntimeError`` instead (see
# :ref:`recipe-bounded-dim-min-max`).

assert issubclass(torch._dynamo.exc.UserError, RuntimeError)

# %%
# A list is refused too (``got <class 'list'>``): write ``(x,)``, not ``[x]``.

try:
    torch.export.export(model, [x], dynamic_shapes=({0: batch},))
    raise AssertionError("a list as args is now accepted: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith("Expecting `args` to be a tuple of example positional inputs, got <class 'list'>"), message

# %%
# The same slip in ``dynamic_shapes``
# -----------------------------------
#
# ``dynamic_shapes`` has one entry per argument too. With the comma forgotten there,
# ``({0: batch})`` is a dict, not a tuple holding a dict. Export then reads it as the dict form
# of ``dynamic_shapes``, whose keys must be the names of ``forward``'s arguments, and ``0`` is not
# one of them:

try:
    torch.export.export(model, (x,), dynamic_shapes=({0: batch}))
    raise AssertionError("a tensor's spec as the whole dynamic_shapes is now accepted: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith(
    "When `dynamic_shapes` is specified as a dict, its top-level keys must be the arg names ['a'] of "
    "`inputs`, but here they are [0]."
), message
assert "specify `dynamic_shapes` as a list/tuple matching `inputs`" in message, message

# %%
# The message lists the names it expects (``['a']``) and the keys it got (``[0]``, the dimension
# index), and suggests a tuple instead. Either add the comma, ``({0: batch},)``, or key the spec
# by the argument's name, ``{"a": {0: batch}}``. :ref:`recipe-dynamic-shapes-structure` explains
# both forms for several arguments, keyword arguments and nested inputs.
#
# ``torch.onnx.export`` accepts a bare tensor
# -------------------------------------------
#
# ``torch.onnx.export`` is more forgiving: given one tensor instead of a tuple, it wraps it in a
# tuple itself, so the call that failed above exports:

onnx_program = torch.onnx.export(model, x, dynamo=True, verbose=False, dynamic_shapes=({0: batch},))
dims = onnx_dims(onnx_program.model_proto)
print(dims)
assert [vi.name for vi in onnx_program.model_proto.graph.input] == ["a"], dims
assert list(dims.values()) == [["batch", 8], ["batch", 4]], dims
check_onnx_against_eager(onnx_program, model, [(torch.randn(3, 8),), (torch.randn(9, 8),)])

# %%
# The ONNX model has one input, ``a``, whose first dimension is dynamic and named ``batch``
# after the ``Dim``, like that of the output, and onnxruntime gives what eager gives for batches of 3 and 9. So the slip can go unnoticed until
# code moves from ``torch.onnx.export(model, x, ...)`` to ``torch.export.export(model, x, ...)``:
# the same arguments work with the first and not with the second. Writing ``(x,)`` works with
# both, and gives ONNX the same model:

tuple_program = torch.onnx.export(model, (x,), dynamo=True, verbose=False, dynamic_shapes=({0: batch},))
assert onnx_dims(tuple_program.model_proto) == dims, onnx_dims(tuple_program.model_proto)

# %%
#
# The fix: ``(x,)``, checked on new shapes
# ----------------------------------------
#
# With the comma, export traces the model, and the batch is a symbol (printed ``s`` and a number,
# PyTorch's choice) ranging from 0 to infinity, instead of the constant 4:

ep = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
print(ep.range_constraints)
(a_node,) = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name == "a"]
assert isinstance(a_node.meta["val"].shape[0], torch.SymInt), a_node.meta["val"].shape
assert [str(r) for r in ep.range_constraints.values()] == ["VR[0, int_oo]"], ep.range_constraints
check_against_eager(ep, model, [(torch.randn(3, 8),), (torch.randn(9, 8),)])

# %%
# Keying ``dynamic_shapes`` by the argument's name, which needs no comma, gives a program that
# matches eager too:

named_ep = torch.export.export(model, (x,), dynamic_shapes={"a": {0: batch}})
assert [str(r) for r in named_ep.range_constraints.values()] == ["VR[0, int_oo]"], named_ep.range_constraints
check_against_eager(named_ep, model, [(torch.randn(2, 8),), (torch.randn(17, 8),)])
