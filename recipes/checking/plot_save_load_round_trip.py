"""
.. _recipe-save-load-round-trip:

Does a saved ExportedProgram keep its dynamic shapes? ``torch.export.save`` and ``load``
========================================================================================

You export once and ship the program as a file with ``torch.export.save``, to be loaded with
``torch.export.load`` elsewhere, without the model's code. The question is whether the file
keeps what makes the program dynamic: the symbolic shapes of the inputs, the range of every
dimension, the relations between dimensions, and the checks that reject a bad input. This
recipe saves a program with a named, a bounded and a derived dimension, loads it back, and
checks all of that: the loaded program matches eager on new shapes and rejects bad shapes with
the same messages.

The program to ship
-------------------
"""

import os
import tempfile

import torch

Dim = torch.export.Dim


class Model(torch.nn.Module):
    def forward(self, x, y):
        # y carries one more column than x: a per-row scale, then the values to add.
        return x * y[:, :1] + y[:, 1:]


model = Model()
batch = Dim("batch", max=32)
n = Dim("n", min=2, max=100)
spec = {"x": {0: batch, 1: n}, "y": {0: batch, 1: n + 1}}
ep = torch.export.export(model, (torch.randn(4, 5), torch.randn(4, 6)), dynamic_shapes=spec)
print(ep.range_constraints)


def placeholder_shapes(program):
    return {
        node.name: [str(d) for d in node.meta["val"].shape]
        for node in program.graph.nodes
        if node.op == "placeholder"
    }


print(placeholder_shapes(ep))

# %%
# Three entries in the range constraints: ``batch`` (0 to 32), ``n`` (2 to 100) and the derived
# ``n + 1``; ``y`` has ``s + 1`` columns where ``x`` has ``s``.
#
# Save and load
# -------------

with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "model.pt2")
    torch.export.save(ep, path)
    print(f"saved {os.path.basename(path)}")
    loaded = torch.export.load(path)

print(loaded.range_constraints)
print(placeholder_shapes(loaded))

assert {str(k): str(v) for k, v in loaded.range_constraints.items()} == {
    str(k): str(v) for k, v in ep.range_constraints.items()
}, loaded.range_constraints
assert placeholder_shapes(loaded) == placeholder_shapes(ep)
assert loaded.graph_module.code == ep.graph_module.code
assert [tuple(t.shape) for t in loaded.example_inputs[0]] == [(4, 5), (4, 6)]

# %%
# The ranges, the symbolic shapes and the graph code are identical after the round trip, and
# the file also keeps the example inputs (``loaded.example_inputs``, real tensors of the
# export-time sizes).
#
# The loaded program against eager
# --------------------------------

loaded_module = loaded.module()
for b, width in [(1, 2), (7, 9), (32, 100)]:
    inputs = torch.randn(b, width), torch.randn(b, width + 1)
    torch.testing.assert_close(loaded_module(*inputs), model(*inputs))
print("loaded program matches eager on 3 new (batch, n) pairs, edges of the ranges included")

# %%
# The checks survive too
# ----------------------
#
# A ``y`` without its extra column breaks the derived dimension. The loaded module rejects it
# with the message of the original one:


def guard_message(module, inputs):
    try:
        module(*inputs)
    except AssertionError as e:
        return str(e)
    return None


bad = torch.randn(4, 5), torch.randn(4, 5)
try:
    loaded_module(*bad)
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed"), e
    assert str(e) == guard_message(ep.module(), bad), (str(e), guard_message(ep.module(), bad))
else:
    raise AssertionError("the loaded module no longer checks n + 1: update this recipe")

# %%
# And the bounds of the ranges, here a batch above 32 and a width above 100:

too_big = [(torch.randn(33, 5), torch.randn(33, 6)), (torch.randn(4, 101), torch.randn(4, 102))]
messages = [guard_message(loaded_module, inputs) for inputs in too_big]
print(messages)
assert messages == [guard_message(ep.module(), inputs) for inputs in too_big], messages
assert all(m is not None and m.startswith("Guard failed") for m in messages), messages

# %%
# Custom input classes need a serialized name
# -------------------------------------------
#
# The file keeps the graph, not Python code. A program whose inputs include a class of your own
# (a dataclass or a pytree node, see :ref:`recipe-custom-cache-class`) records the class by a
# name, given as ``serialized_type_name`` when the class is registered. Without one, ``save``
# refuses:

import dataclasses  # noqa: E402


@dataclasses.dataclass
class Pair:
    x: torch.Tensor
    y: torch.Tensor


torch.export.register_dataclass(Pair)


class PairModel(torch.nn.Module):
    def forward(self, pair):
        return model(pair.x, pair.y)


pair_ep = torch.export.export(PairModel(), (Pair(torch.randn(4, 5), torch.randn(4, 6)),))
with tempfile.TemporaryDirectory() as folder:
    try:
        torch.export.save(pair_ep, os.path.join(folder, "pair.pt2"))
        raise AssertionError("save now works without serialized_type_name: update this recipe")
    except NotImplementedError as e:
        print(e)
        assert str(e).startswith("No registered serialization name for <class") and "Pair" in str(e), e

# %%
# Register the class with ``torch.export.register_dataclass(Pair, serialized_type_name="Pair")``
# (the name is yours to choose), and register it the same way in the process that loads the
# file, before ``torch.export.load``: a process that does not know the name fails to load it
# (``RuntimeError: We ran into an error when deserializing the saved file...``).
