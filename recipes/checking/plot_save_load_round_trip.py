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
the same messages. It ends with a program whose input is a class of your own, saved with the
name that class is registered under, and loaded in another Python process.

The program to ship
-------------------
"""

import dataclasses
import os
import subprocess
import sys
import tempfile

import torch

Dim = torch.export.Dim


class Model(torch.nn.Module):
    def forward(self, x, y):
        # y carries one more column than x: a per-row scale, then the values to add.
        return x * y[:, :1] + y[:, 1:]


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


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

check_against_eager(loaded, model, [(torch.randn(b, n), torch.randn(b, n + 1)) for b, n in [(1, 2), (7, 9), (32, 100)]])
loaded_module = loaded.module()

# %%
# Three new (batch, n) pairs, the edges of the ranges included.

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


@dataclasses.dataclass
class UnnamedPair:
    x: torch.Tensor
    y: torch.Tensor


torch.export.register_dataclass(UnnamedPair)


class UnnamedPairModel(torch.nn.Module):
    def forward(self, pair):
        return model(pair.x, pair.y)


unnamed_ep = torch.export.export(UnnamedPairModel(), (UnnamedPair(torch.randn(4, 5), torch.randn(4, 6)),))
with tempfile.TemporaryDirectory() as folder:
    try:
        torch.export.save(unnamed_ep, os.path.join(folder, "pair.pt2"))
        raise AssertionError("save now works without serialized_type_name: update this recipe")
    except NotImplementedError as e:
        print(e)
        assert str(e).startswith("No registered serialization name for <class") and "UnnamedPair" in str(e), e

# %%
# With the name, the same program saves. The name is yours to choose; the process that loads
# the file must define the class and register it under the same name, before
# ``torch.export.load``. To show it, the file is loaded below by a second Python process (a
# script written next to the file and run with ``subprocess``), which does not have this
# recipe's code: it first tries to load the file without registering the class, then registers
# it and runs the program on two new input pairs.


@dataclasses.dataclass
class Pair:
    x: torch.Tensor
    y: torch.Tensor


torch.export.register_dataclass(Pair, serialized_type_name="cookbook.Pair")


class PairModel(torch.nn.Module):
    def forward(self, pair):
        return model(pair.x, pair.y)


pair_model = PairModel()
pair_spec = {"pair": [{0: batch, 1: n}, {0: batch, 1: n + 1}]}
pair_ep = torch.export.export(pair_model, (Pair(torch.randn(4, 5), torch.randn(4, 6)),), dynamic_shapes=pair_spec)

LOADER = """
import dataclasses
import sys

import torch


@dataclasses.dataclass
class Pair:
    x: torch.Tensor
    y: torch.Tensor


program_path, inputs_path, outputs_path = sys.argv[1:]
try:
    torch.export.load(program_path)
    sys.exit("loaded without the class registered")
except RuntimeError as e:
    print("without the class:", str(e).splitlines()[0])

torch.export.register_dataclass(Pair, serialized_type_name="cookbook.Pair")
program = torch.export.load(program_path)
print("with the class: loaded, ranges", sorted(str(r) for r in program.range_constraints.values()))
module = program.module()
torch.save([module(Pair(x, y)) for x, y in torch.load(inputs_path)], outputs_path)
"""

new_pairs = [(torch.randn(7, 9), torch.randn(7, 10)), (torch.randn(2, 30), torch.randn(2, 31))]
with tempfile.TemporaryDirectory() as folder:
    paths = [os.path.join(folder, name) for name in ("loader.py", "pair.pt2", "inputs.pt", "outputs.pt")]
    with open(paths[0], "w") as f:
        f.write(LOADER)
    torch.export.save(pair_ep, paths[1])
    torch.save(new_pairs, paths[2])
    loader = subprocess.run([sys.executable, *paths], capture_output=True, text=True, cwd=folder)
    print(loader.stdout)
    assert loader.returncode == 0, loader.stderr[-3000:]
    outputs = torch.load(paths[3])

assert "without the class: We ran into an error when deserializing the saved file." in loader.stdout, loader.stdout
assert "Pair" in loader.stderr, loader.stderr[-3000:]
assert "with the class: loaded, ranges ['VR[0, 32]', 'VR[2, 100]', 'VR[3, 101]']" in loader.stdout, loader.stdout
for (x, y), got in zip(new_pairs, outputs, strict=True):
    torch.testing.assert_close(got, pair_model(Pair(x, y)))
print(f"the program loaded by the other process matches eager on {len(new_pairs)} new input pairs")

# %%
# Without the registration, ``torch.export.load`` raises ``RuntimeError: We ran into an error
# when deserializing the saved file`` (the details go to the log, on the loader's stderr). With
# it, the other process loads the program with its three ranges, and its results, brought back
# through a file, equal eager's on shapes the program was not exported with.
