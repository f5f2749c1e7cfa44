"""
.. _recipe-additional-inputs:

Which dimensions should be dynamic? Let ``AdditionalInputs`` infer them from samples
====================================================================================

You know the inputs a model will see in production (a few batches from a data set or a test
suite), but not which dimensions of which tensors vary. ``torch.export.AdditionalInputs``
infers the spec from such samples: you ``add`` a few more ``(args, kwargs)`` pairs, pass the
object as ``dynamic_shapes``, and every dimension whose size differs between the example and
the samples becomes ``Dim.DYNAMIC``; the others stay static. Export then checks every sample
against the program it built. This recipe shows the spec it infers and what it reports when the
samples disagree with each other or with the model.

Samples and the spec they give
------------------------------
"""

import logging

import torch


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 8)

    def forward(self, x, mask, scale=1.0):
        # x: (batch, seq, 8), mask: (batch, seq)
        return self.linear(x) * mask.unsqueeze(-1) * scale


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def check_against_eager_with_kwargs(ep, model, args_and_kwargs):
    """The exported program gives what eager gives on each pair of new (args, kwargs)."""
    module = ep.module()
    for args, kwargs in args_and_kwargs:
        torch.testing.assert_close(module(*args, **kwargs), model(*args, **kwargs))
    print(f"the exported program matches eager on {len(args_and_kwargs)} new input sets")


class Recorder(logging.Handler):
    """Keeps the messages of the records it receives."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


model = Model()
args = (torch.randn(2, 3, 8), torch.randn(2, 3))

samples = torch.export.AdditionalInputs()
samples.add((torch.randn(4, 5, 8), torch.randn(4, 5)))
samples.add((torch.randn(3, 3, 8), torch.randn(3, 3)))
inferred = samples.dynamic_shapes(model, args)
print(inferred)

dynamic = torch.export.Dim.DYNAMIC
assert inferred == {"x": (dynamic, dynamic, None), "mask": (dynamic, dynamic)}, inferred

# %%
# ``samples.dynamic_shapes(model, args)`` shows the spec: ``DimHint(DYNAMIC)``
# (``Dim.DYNAMIC``) for the batch (2, 4, 3) and the sequence (3, 5, 3), ``None`` (static) for
# the features, always 8. That ``None`` for a single dimension is the form
# :ref:`recipe-dynamic-shapes-structure` calls deprecated (``Dim.STATIC`` is the current one):
# ``AdditionalInputs`` writes it itself, so exporting with the samples logs the deprecation
# message, through the logger ``torch.export.dynamic_shapes``. It is harmless here, and nothing
# in your code to change. Export with the samples as ``dynamic_shapes``:

recorder = Recorder()
logging.getLogger("torch.export.dynamic_shapes").addHandler(recorder)
ep = torch.export.export(model, args, dynamic_shapes=samples)
logging.getLogger("torch.export.dynamic_shapes").removeHandler(recorder)
print(recorder.messages)
assert any("Using None as a dynamic shape dimension is deprecated" in m for m in recorder.messages), recorder.messages
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[2, int_oo]"] * 2, ep.range_constraints

check_against_eager(ep, model, [(torch.randn(b, s, 8), torch.randn(b, s)) for b, s in [(5, 2), (3, 7), (6, 4)]])

# %%
# Two symbols, not four: export found that ``x`` and ``mask`` share their batch and sequence
# sizes. As always with ``Dim.DYNAMIC``, the ranges start at 2. ``samples.verify(ep)`` checks
# that every sample fits the program (export already did it); another ``AdditionalInputs``
# can check new samples against an existing program the same way.

samples.verify(ep)

# %%
# Samples that disagree with each other
# -------------------------------------
#
# ``AdditionalInputs`` looks at each dimension on its own: it sees that the batch of ``x`` and
# the batch of ``mask`` vary, not that they must be equal. Export finds that out while tracing,
# then checks every sample against the program. A sample whose ``mask`` is shorter than its
# ``x`` fails that check:

bad_samples = torch.export.AdditionalInputs()
bad_samples.add((torch.randn(4, 5, 8), torch.randn(4, 4)))
try:
    torch.export.export(model, args, dynamic_shapes=bad_samples)
    raise AssertionError("export no longer verifies the samples: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e) == "Expected input at *args[1].shape[1] to be equal to 5, but got 4", e

# %%
# ``*args[1].shape[1]`` is the sequence length of ``mask``; 5 is the one of ``x`` in the same
# sample. Such a sample would fail in eager too: fix or drop it.
#
# A sample that the model cannot take
# -----------------------------------
#
# A sample with 6 features makes the feature dimension dynamic, but ``nn.Linear(8, 8)`` only
# accepts 8. Export reports it as for any ``Dim.DYNAMIC`` that the code specializes, with the
# dimension's name (there is no ``Dim`` name to show):

odd_samples = torch.export.AdditionalInputs()
odd_samples.add((torch.randn(4, 5, 8), torch.randn(4, 5)))
odd_samples.add((torch.randn(3, 3, 6), torch.randn(3, 3)))
try:
    torch.export.export(model, args, dynamic_shapes=odd_samples)
    raise AssertionError("export now accepts a dynamic feature size: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert "You marked L['x'].size()[2] as dynamic but your code specialized it to be a constant (8)" in str(e), e

# %%
# ``torch._dynamo.exc.UserError`` is the class ``export`` raises for spec problems (a private
# class, a subclass of ``RuntimeError``: see :ref:`recipe-bounded-dim-min-max`). The message does not say which sample is at fault:
# look for the sample in which ``x.shape[2]`` is not 8.
#
# A float must not vary
# ---------------------
#
# Sizes are not the only things that can differ. A float such as ``scale`` cannot be dynamic:

float_samples = torch.export.AdditionalInputs()
float_samples.add((torch.randn(4, 5, 8), torch.randn(4, 5)), {"scale": 2.0})
float_samples.add((torch.randn(3, 3, 8), torch.randn(3, 3)), {"scale": 3.0})
try:
    torch.export.export(model, args, {"scale": 1.0}, dynamic_shapes=float_samples)
    raise AssertionError("varying floats are now accepted: update this recipe")
except ValueError as e:
    print(e)
    assert "differing values, but they cannot be marked as dynamic: (1.0, 2.0, 3.0)" in str(e), e

# %%
# Give every sample the same value, or pass a value that must vary as a tensor. Every sample
# must also have the same structure as the example: here each one passes ``scale``, as the
# example does.
#
# An ``int`` that varies, though, is made dynamic like a size: the same samples with ``scale``
# as 2, 3 and 4 give ``scale`` a ``Dim.DYNAMIC`` of its own, and the program takes it as a
# symbolic integer input:

int_samples = torch.export.AdditionalInputs()
int_samples.add((torch.randn(4, 5, 8), torch.randn(4, 5)), {"scale": 3})
int_samples.add((torch.randn(3, 3, 8), torch.randn(3, 3)), {"scale": 4})
int_spec = int_samples.dynamic_shapes(model, args, {"scale": 2})
print(int_spec)
assert int_spec["scale"] == dynamic, int_spec

int_ep = torch.export.export(model, args, {"scale": 2}, dynamic_shapes=int_samples)
(scale_node,) = [node for node in int_ep.graph.nodes if node.name == "scale"]
print(scale_node.meta["val"], int_ep.range_constraints)
assert isinstance(scale_node.meta["val"], torch.SymInt), scale_node.meta["val"]
check_against_eager_with_kwargs(
    int_ep,
    model,
    [((torch.randn(5, 2, 8), torch.randn(5, 2)), {"scale": 7}), ((torch.randn(2, 6, 8), torch.randn(2, 6)), {"scale": 5})],
)

# %%
# ``scale`` of 7 and 5, values no sample had, match eager.
#
# ``args`` must be a tuple
# ------------------------
#
# ``add`` takes the positional arguments as a tuple, like ``export``. A list is rejected at
# once, with an ``AssertionError`` that prints the whole list:

try:
    samples.add([torch.zeros(1, 2, 8), torch.zeros(1, 2)])
except AssertionError as e:
    print(e)
    assert str(e).endswith("must be a tuple"), e
else:
    raise AssertionError("add() now accepts a list: update this recipe")

# %%
# ``samples.add(tuple(args_list))`` is the fix. The samples are also the natural test set:
# keep them and check the exported program on each of them, as ``verify`` does for shapes.

# %%
# With ShapesSpec (2.15+)
# -----------------------
#
# ``AdditionalInputs`` builds the ``Dim`` form only. For a ``ShapesSpec``
# (``torch.fx.experimental.dynamic_spec``, experimental in torch 2.15), write the spec by hand and
# check the program on your samples: :ref:`recipe-shapes-spec-migration`.
