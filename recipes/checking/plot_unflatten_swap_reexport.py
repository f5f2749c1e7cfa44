"""
.. _recipe-unflatten-swap-reexport:

Swapping a submodule of an exported program and re-exporting it: "is a <class 'tuple'>, but ... is a <class 'dict'>"
====================================================================================================================

``torch.export.unflatten`` turns an ``ExportedProgram`` back into a tree of modules, one per
submodule of the original model. A common reason to do it is to replace one submodule (an
adapter, a quantized block, a custom kernel) and export the result again. Two things get in the
way: the replacement is called with fewer arguments than its ``forward`` takes
("missing 1 required positional argument"), and the re-export with the original
``dynamic_shapes`` fails with "Detected mismatch between the structure of `inputs` and
`dynamic_shapes`" (pytorch/pytorch#171964).

This recipe shows both, fixes the first with ``preserve_module_call_signature`` and the second
by writing the spec for the ``*args`` of the unflattened module, and checks the re-exported
program against eager on new batch sizes.

The model
---------
"""

import inspect
import warnings

import torch

# PyTorch 2.15's unflatten warns "Attempted to insert a get_attr Node with no underlying reference"
# from its own code when it rebuilds a preserved signature; it says nothing about your model.
warnings.filterwarnings("ignore", message="Attempted to insert a get_attr Node with no underlying reference")

Dim = torch.export.Dim


class Adapter(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x, scale):
        return torch.relu(self.linear(x)) * scale


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.pre = torch.nn.Linear(4, 4)
        self.adapter = Adapter()
        self.post = torch.nn.Linear(4, 2)

    def forward(self, x):
        h = self.pre(x)
        return self.post(self.adapter(h, 2.0) + h)


class NewAdapter(Adapter):
    """The replacement: same signature, another activation."""

    def forward(self, x, scale):
        return torch.tanh(self.linear(x)) * scale


torch.manual_seed(0)
model = Model().eval()
new_adapter = NewAdapter().eval()
x = torch.randn(4, 4)
batch = Dim("batch")

# The eager model we want: the original one with the new adapter.
expected_model = Model().eval()
expected_model.load_state_dict(model.state_dict())
expected_model.adapter = new_adapter


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


# %%
# Swapping after a plain export: "missing 1 required positional argument"
# -----------------------------------------------------------------------

ep = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
unflat = torch.export.unflatten(ep)
adapter_inputs = unflat.adapter.graph.find_nodes(op="placeholder")
print(type(unflat).__name__, type(unflat.adapter).__name__, f"adapter graph inputs: {len(adapter_inputs)}")
assert len(adapter_inputs) == 1, adapter_inputs

unflat.adapter = new_adapter
try:
    unflat(x)
    raise AssertionError("the swapped adapter now gets its scale: update this recipe")
except TypeError as e:
    print(str(e).splitlines()[0])
    assert "forward() missing 1 required positional argument: 'scale'" in str(e), e

# %%
# ``unflat.adapter`` is an ``InterpreterModule`` running the part of the graph that came from
# ``Adapter``. That graph has one input, not two: export specializes non-tensor arguments, so the
# ``2.0`` passed as ``scale`` became a constant inside the graph, and the call site passes the
# tensor only. The replacement, an ordinary module, receives the call the graph makes and misses
# its ``scale``.
#
# ``preserve_module_call_signature``: keep the call as written
# ------------------------------------------------------------
#
# Name the submodules to be swapped when exporting. Export then records their calling
# convention, and ``unflatten`` calls them with the original arguments, constants included:

ep = torch.export.export(model, (x,), dynamic_shapes=({0: batch},), preserve_module_call_signature=("adapter",))
unflat = torch.export.unflatten(ep)
unflat.adapter = new_adapter
torch.testing.assert_close(unflat(x), expected_model(x))
print("the unflattened model with the new adapter matches eager")

# %%
# The swapped model now runs as eager does. It is a mix of graph code and an ordinary module; to
# deploy it, export it again.
#
# Re-exporting with the same spec: "is a <class 'tuple'>, but ... is a <class 'dict'>"
# -------------------------------------------------------------------------------------

try:
    torch.export.export(unflat, (x,), dynamic_shapes=({0: batch},))
    raise AssertionError("the unflattened module now re-exports with the original spec: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).splitlines()[0])
    assert str(e).startswith("Detected mismatch between the structure of `inputs` and `dynamic_shapes`"), e
    assert "is a <class 'tuple'>, but" in str(e) and "is a <class 'dict'>" in str(e), e

# %%
# (``torch._dynamo.exc.UserError`` is private; code you keep can catch ``RuntimeError``, its base
# class.) Export matches ``dynamic_shapes`` with the arguments of ``forward``, and the
# ``forward`` of an unflattened module takes ``*args, **kwargs``:

print(inspect.signature(unflat.forward))
assert str(inspect.signature(unflat.forward)) == "(*args, **kwargs)"

# %%
# So its first argument is ``args``, the tuple ``(x,)``, and the spec for that argument must be a
# tuple too: one more level of nesting, ``(({0: batch},),)`` (or ``{"args": ({0: batch},)}`` with
# names). As of 2026-12-03, the issue (pytorch/pytorch#171964) is open, and pull request
# pytorch/pytorch#184966 proposes to give unflattened modules the signature of the original
# model; the sentinel above fires on the release that changes it. Until then, write:

swapped_ep = torch.export.export(unflat, (x,), dynamic_shapes=(({0: batch},),))
ranges = [str(r) for r in swapped_ep.range_constraints.values()]
print(ranges)
assert ranges == ["VR[0, int_oo]"], ranges
check_against_eager(swapped_ep, expected_model, [(torch.randn(3, 4),), (torch.randn(9, 4),)])

named_ep = torch.export.export(unflat, (x,), dynamic_shapes={"args": ({0: batch},)})
assert [str(r) for r in named_ep.range_constraints.values()] == ranges

# %%
# The re-exported program keeps the dynamic batch with the range of ``Dim("batch")``, and gives
# the results of the eager model with the new adapter on batches of 3 and 9. The ``tanh`` of the
# new adapter is now in its graph:

ops = {node.target for node in swapped_ep.graph.nodes if node.op == "call_function"}
assert torch.ops.aten.tanh.default in ops and torch.ops.aten.relu.default not in ops, ops
print(sorted(str(op) for op in ops))

# %%
# In short: pass ``preserve_module_call_signature`` with the path of every submodule you plan to
# replace (``"encoder.layers.3"`` for a nested one), swap it on the result of ``unflatten``, and
# re-export with the spec nested once more, as for a ``forward(*args)``. Check the new program
# against an eager model built the same way.
