"""
.. _recipe-dynamic-shapes-structure:

How to write dynamic_shapes for keyword arguments, dicts and lists
==================================================================

``dynamic_shapes`` must have the same structure as the inputs: one entry per argument of
``forward`` (keyword arguments included), the same dicts, lists and tuples inside, and one spec
per tensor. Export checks the structure before tracing anything and raises a
``torch._dynamo.exc.UserError`` when it does not match: "its top-level keys must be the arg
names", "Detected mismatch between the structure of `inputs` and `dynamic_shapes`", "to have
the same length as the actual tensor shape". This recipe writes the spec of a model with a
nested input and a keyword-only argument, in both accepted forms, shows the error of each common
mistake, and checks the exported model against eager on new shapes.

A model with nested and keyword inputs
--------------------------------------

``inputs`` is a dict holding a tensor and a list of two tensors, ``mask`` is an optional
argument, ``bias`` is keyword-only. The batch and the sequence length vary, the 4 features and
``bias`` do not.
"""

import logging

import torch
from torch.export import Dim


class Model(torch.nn.Module):
    def forward(self, inputs, mask=None, *, bias):
        x = inputs["x"]  # [batch, seq, 4]
        left, right = inputs["pair"]  # [batch, 4] each
        if mask is not None:
            x = x * mask.unsqueeze(-1)  # mask: [batch, seq]
        return x.sum(1) + left * right + bias  # bias: [4]


def make_nested_inputs(batch_size, seq_len):
    pair = [torch.randn(batch_size, 4), torch.randn(batch_size, 4)]
    inputs = {"x": torch.randn(batch_size, seq_len, 4), "pair": pair}
    return (inputs, torch.ones(batch_size, seq_len)), {"bias": torch.randn(4)}


model = Model()
args, kwargs = make_nested_inputs(3, 5)
print(model(*args, **kwargs).shape)


def user_input_shapes(ep):
    """The shape of each input of the program, by placeholder name."""
    user_inputs = set(ep.graph_signature.user_inputs)
    return {
        n.name: tuple(n.meta["val"].shape) for n in ep.graph.nodes if n.op == "placeholder" and n.name in user_inputs
    }


def check_against_eager_with_kwargs(ep, model, args_and_kwargs):
    """The exported program gives what eager gives on each pair of new (args, kwargs)."""
    module = ep.module()
    for args, kwargs in args_and_kwargs:
        torch.testing.assert_close(module(*args, **kwargs), model(*args, **kwargs))
    print(f"the exported program matches eager on {len(args_and_kwargs)} new input sets")


# %%
# The dict form: keyed by ``forward``'s argument names
# ----------------------------------------------------
#
# The top-level keys are the names of ``forward``'s arguments, all of them: ``inputs``, ``mask``
# and the keyword-only ``bias``. Below a key, the spec mirrors the input: a dict with the same
# keys for ``inputs``, a list of two specs for ``inputs["pair"]``. Each tensor gets a dict
# ``{dimension index: Dim}``; the dimensions it does not list stay static. ``None`` for a tensor
# makes the whole tensor static.

batch, seq = Dim("batch"), Dim("seq")
spec = {
    "inputs": {"x": {0: batch, 1: seq}, "pair": [{0: batch}, {0: batch}]},
    "mask": {0: batch, 1: seq},
    "bias": None,
}
ep = torch.export.export(model, args, kwargs, dynamic_shapes=spec)
shapes = user_input_shapes(ep)
for name, shape in shapes.items():
    print(f"{name}: {shape}")
print(ep.range_constraints)
assert list(shapes) == ["inputs_x", "inputs_pair_0", "inputs_pair_1", "mask", "bias"], shapes
batch_symbol, seq_symbol = shapes["inputs_x"][:2]
assert all(isinstance(d, torch.SymInt) for d in (batch_symbol, seq_symbol)), shapes
assert str(batch_symbol) != str(seq_symbol), shapes
assert {name: [str(d) for d in shape] for name, shape in shapes.items()} == {
    "inputs_x": [str(batch_symbol), str(seq_symbol), "4"],
    "inputs_pair_0": [str(batch_symbol), "4"],
    "inputs_pair_1": [str(batch_symbol), "4"],
    "mask": [str(batch_symbol), str(seq_symbol)],
    "bias": ["4"],
}, shapes

# %%
# The nested input is flattened into five placeholders named after their path
# (``inputs_pair_0``). The ``batch`` of all four tensors is one symbol (printed ``s10`` here),
# and ``seq`` another: using the same ``Dim`` object in several places says that these
# dimensions are equal.
#
# The tuple form, and tuple specs for tensors
# -------------------------------------------
#
# Instead of a dict, ``dynamic_shapes`` can be a tuple with one entry per argument: the
# positional arguments, then the keyword arguments. A tensor's spec can also be a tuple with one
# entry per dimension, ``Dim.STATIC`` marking a static one:

tuple_spec = (
    {"x": (batch, seq, Dim.STATIC), "pair": [(batch, Dim.STATIC), (batch, Dim.STATIC)]},
    (batch, seq),
    (Dim.STATIC,),
)
tuple_ep = torch.export.export(model, args, kwargs, dynamic_shapes=tuple_spec)
print(user_input_shapes(tuple_ep))
assert str(user_input_shapes(tuple_ep)) == str(shapes)

# %%
# Same program. Avoid ``None`` for a single dimension (``(batch, None)``): it still works but
# is deprecated. The deprecation is not a Python warning but a line logged by the logger
# ``torch.export.dynamic_shapes`` (on stderr by default); a handler on that logger shows it:


class Recorder(logging.Handler):
    """Keeps the messages of the records it receives."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


recorder = Recorder()
logging.getLogger("torch.export.dynamic_shapes").addHandler(recorder)
none_spec = {**spec, "bias": (None,)}
none_ep = torch.export.export(model, args, kwargs, dynamic_shapes=none_spec)
logging.getLogger("torch.export.dynamic_shapes").removeHandler(recorder)
print(recorder.messages)
assert any("Using None as a dynamic shape dimension is deprecated" in m for m in recorder.messages), recorder.messages
assert str(user_input_shapes(none_ep)) == str(shapes), user_input_shapes(none_ep)

# %%
# ``(None,)`` for ``bias`` gives the same program as ``None`` for the whole tensor, with the
# message, which asks for ``Dim.STATIC`` instead.
#
# The common mistakes and their errors
# ------------------------------------
#
# Each of the following specs differs from the correct one by one mistake. Export raises a
# ``torch._dynamo.exc.UserError`` for each (a private class, a subclass of ``RuntimeError``: see
# :ref:`recipe-bounded-dim-min-max` for what to catch in code you keep). First, a wrong
# top-level key, ``"input"`` instead of ``"inputs"``:

try:
    wrong_key = {"input": spec["inputs"], "mask": spec["mask"], "bias": None}
    torch.export.export(model, args, kwargs, dynamic_shapes=wrong_key)
    raise AssertionError("a wrong top-level key is now accepted: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith(
    "When `dynamic_shapes` is specified as a dict, its top-level keys must be the arg names "
    "['inputs', 'mask', 'bias'] of `inputs`, but here they are ['input', 'mask', 'bias']."
), message

# %%
# The message lists the names export expects (a missing ``"bias"`` gives the same message,
# ending with ``['inputs', 'mask']``). In these messages, the word inputs in backquotes stands
# for all the arguments of the call, and ``inputs['inputs']`` is our argument named ``inputs``.
#
# In the tuple form, forgetting the keyword arguments gives a structure mismatch:

try:
    torch.export.export(model, args, kwargs, dynamic_shapes=tuple_spec[:2])
    raise AssertionError("a tuple spec without the keyword arguments is now accepted: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith(
    "Detected mismatch between the structure of `inputs` and `dynamic_shapes`: "
    "`inputs` has 3 elements, but `dynamic_shapes` has 2 elements"
), message

# %%
# A list of the wrong length, one spec for the two tensors of ``pair``:

try:
    torch.export.export(
        model, args, kwargs, dynamic_shapes={**spec, "inputs": {"x": {0: batch, 1: seq}, "pair": [{0: batch}]}}
    )
    raise AssertionError("a list spec of the wrong length is now accepted: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith(
    "Detected mismatch between the structure of `inputs` and `dynamic_shapes`: "
    "`inputs['inputs']['pair']` has 2 elements, but `dynamic_shapes['inputs']['pair']` has 1 elements"
), message

# %%
# The wrong container type. A tuple is not accepted where the input is a list, even with the
# right length:

try:
    torch.export.export(
        model,
        args,
        kwargs,
        dynamic_shapes={**spec, "inputs": {"x": {0: batch, 1: seq}, "pair": ({0: batch}, {0: batch})}},
    )
    raise AssertionError("a tuple spec for a list input is now accepted: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith(
    "Detected mismatch between the structure of `inputs` and `dynamic_shapes`: "
    "`inputs['inputs']['pair']` is a <class 'list'>, but `dynamic_shapes['inputs']['pair']` is a <class 'tuple'>"
), message

# %%
# ``None`` only stands for a tensor, not for a container: to make all of ``pair`` static, write
# ``[None, None]``, not ``None``:

try:
    torch.export.export(
        model, args, kwargs, dynamic_shapes={**spec, "inputs": {"x": {0: batch, 1: seq}, "pair": None}}
    )
    raise AssertionError("None for a list input is now accepted: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith(
    "Detected mismatch between the structure of `inputs` and `dynamic_shapes`: "
    "`inputs['inputs']['pair']` is a <class 'list'>, but `dynamic_shapes['inputs']['pair']` is not"
), message

# %%
# A tensor spec longer than the tensor's rank: ``mask`` is 2-D, its tuple has 3 entries:

try:
    torch.export.export(model, args, kwargs, dynamic_shapes={**spec, "mask": (batch, seq, Dim.STATIC)})
    raise AssertionError("a spec longer than the tensor's rank is now accepted: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith(
    "Expected dynamic shape spec (Dim('batch', min=0), Dim('seq', min=0), DimHint(STATIC))"
), message
assert (
    "specified at `dynamic_shapes['mask']` to have the same length as the actual tensor shape "
    "torch.Size([3, 5]) (expected 2, but got 3 instead)"
) in message, message

# %%
# A bare ``Dim`` where a tensor's spec is expected (``batch`` instead of ``{0: batch}``):

try:
    torch.export.export(
        model, args, kwargs, dynamic_shapes={**spec, "inputs": {"x": {0: batch, 1: seq}, "pair": [batch, batch]}}
    )
    raise AssertionError("a bare Dim as a tensor spec is now accepted: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith(
    "Unexpected input tensor shape Dim('batch', min=0) specified at `dynamic_shapes['inputs']['pair'][0]`"
), message

# %%
# Below the top level, the messages name the faulty place as a path,
# ``dynamic_shapes['inputs']['pair']``: compare it with the same path in your inputs.
#
# The correct spec, checked on new shapes
# ---------------------------------------
#
# The program exported with the correct spec gives the same result as eager for new batch sizes
# and sequence lengths:

check_against_eager_with_kwargs(ep, model, [make_nested_inputs(2, 7), make_nested_inputs(6, 3)])
