"""
.. _recipe-additional-inputs-differing-types:

"The following inputs were found to have differing types, so they cannot be marked as dynamic": ``None`` in one sample, a tensor in another
============================================================================================================================================

``torch.export.AdditionalInputs`` infers ``dynamic_shapes`` from a few sample inputs
(:ref:`recipe-additional-inputs`). Samples taken from a real run of a model whose input is
optional mix two kinds of calls: a model built like a decoder layer gets no attention mask on
its first call (one unpadded prompt, ``mask=None``) and a padding mask on later calls (a batch of
prompts of different lengths). Put both kinds in the same ``AdditionalInputs`` and export stops
with::

    ValueError: The following inputs were found to have differing types, so they cannot be marked as dynamic: (None, None, (5, 4)).

This recipe shows the failure, how to read the tuple the message prints, and two fixes: always
pass a mask (a mask of ones for "no mask"), or export one program per case. Why one program
cannot serve both ``None`` and a tensor is the subject of :ref:`recipe-optional-inputs-none`.

A decoder layer with an optional mask
-------------------------------------
"""

import math

import torch


class DecoderLayer(torch.nn.Module):
    """Self-attention over ``x`` (batch, seq, dim); ``mask`` (batch, seq) hides the positions where it is 0."""

    def __init__(self, dim=8):
        super().__init__()
        self.q, self.k, self.v, self.o = (torch.nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x, mask=None):
        scores = self.q(x) @ self.k(x).transpose(1, 2) / math.sqrt(x.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(mask[:, None, :] == 0, float("-inf"))
        return self.o(scores.softmax(dim=-1) @ self.v(x))


def check_against_eager_with_kwargs(ep, model, args_and_kwargs):
    """The exported program gives what eager gives on each pair of new (args, kwargs)."""
    module = ep.module()
    for args, kwargs in args_and_kwargs:
        torch.testing.assert_close(module(*args, **kwargs), model(*args, **kwargs))
    print(f"the exported program matches eager on {len(args_and_kwargs)} new input sets")


def padding_mask(lengths, seq):
    """A (batch, seq) mask of ones and zeros: sequence ``i`` keeps its first ``lengths[i]`` positions."""
    return (torch.arange(seq) < torch.tensor(lengths)[:, None]).float()


def additional_inputs(samples):
    """An ``AdditionalInputs`` holding each ``(x, mask)`` of ``samples``, ``mask`` passed by keyword."""
    collected = torch.export.AdditionalInputs()
    for x, mask in samples:
        collected.add((x,), {"mask": mask})
    return collected


def symbolic_dims(ep):
    """``{input: [its dimensions that are symbolic]}`` for each tensor input of the program."""
    user_inputs = set(ep.graph_signature.user_inputs)
    values = {node.name: node.meta["val"] for node in ep.graph.nodes if node.op == "placeholder" and node.name in user_inputs}
    return {name: [i for i, d in enumerate(value.shape) if isinstance(d, torch.SymInt)] for name, value in values.items()}


torch.manual_seed(0)
model = DecoderLayer()
example_x = torch.randn(2, 3, 8)  # the example for export: a first call, no mask
samples = [
    (torch.randn(3, 6, 8), None),  # another first call
    (torch.randn(5, 4, 8), padding_mask([4, 1, 3, 4, 2], 4)),  # a later call: a padded batch
]

# %%
# The failure
# -----------
#
# Export with the first call as the example and both samples as ``dynamic_shapes``. The error is a
# plain ``ValueError``:

try:
    torch.export.export(model, (example_x,), {"mask": None}, dynamic_shapes=additional_inputs(samples))
    raise AssertionError("AdditionalInputs now accepts None and a tensor for one input: update this recipe")
except ValueError as e:
    print(e)
    message = str(e)
    assert message.startswith("The following inputs were found to have differing types, so they cannot be marked as dynamic:"), e

# %%
# The error comes from the spec that ``AdditionalInputs`` infers: its
# ``dynamic_shapes(model, args, kwargs)`` method, which infers the spec without exporting,
# raises the same message. It is a quick way to test a set of samples.

try:
    additional_inputs(samples).dynamic_shapes(model, (example_x,), {"mask": None})
    raise AssertionError("AdditionalInputs now infers a spec for None and a tensor: update this recipe")
except ValueError as e:
    assert str(e) == message, e

# %%
# Reading the tuple
# -----------------
#
# ``AdditionalInputs`` replaces each tensor by its shape, keeps every other value as it is, and
# compares the examples input by input. For an input whose values are not all of one type, the
# tuple lists that input's value in each example: first in the example given to ``export``,
# then in each sample, in the order of the ``add`` calls. Here, for ``mask``: ``None`` in the
# example, ``None`` in the first sample, and a tensor of shape ``(5, 4)`` in the second. Built
# from the inputs themselves:

masks = [None] + [mask for _, mask in samples]
expected = tuple(None if mask is None else tuple(mask.shape) for mask in masks)
print(expected)
assert message.endswith(f"{expected}."), message
assert "mask" not in message, message

# %%
# The message does not name the input: ``mask`` appears nowhere in it. Look for the input that is
# ``None`` in some examples and a tensor in others; the position of each entry in the tuple says
# which example it comes from (the first is the example given to ``export``, the second the
# first ``add``, and so on).
#
# The same mix, other messages
# ----------------------------
#
# The first example (the one given to ``export``) sets the structure the samples are compared
# with. With a mask there and ``None`` in a sample, the message is another one, about the tree
# of the inputs: a shape (a ``tuple``) was expected, ``None`` came. Leaving ``mask`` out of a
# sample instead of passing ``None`` gives a third one: that sample has one input where the
# example has two.

try:
    torch.export.export(
        model, (example_x,), {"mask": padding_mask([3, 2], 3)}, dynamic_shapes=additional_inputs(samples[:1])
    )
    raise AssertionError("AdditionalInputs now accepts a tensor and None for one input: update this recipe")
except ValueError as e:
    print(e)
    assert str(e).startswith("Node type mismatch; expected <class 'tuple'>, but got <class 'NoneType'>"), e

left_out = torch.export.AdditionalInputs()
left_out.add((samples[0][0],))
try:
    torch.export.export(model, (example_x,), {"mask": padding_mask([3, 2], 3)}, dynamic_shapes=left_out)
    raise AssertionError("AdditionalInputs now accepts a sample without the mask: update this recipe")
except ValueError as e:
    print(e)
    assert str(e).startswith("Node arity mismatch; expected 2, but got 1"), e

# %%
# All three come from one mix, ``mask`` a tensor in some examples and not in others: both fixes
# below remove it.
#
# Fix 1: always pass a mask
# -------------------------
#
# In this model, ``None`` means "every position is visible", which a mask of ones says too: in
# eager, the model gives the same output for both.

ones_x = torch.randn(4, 7, 8)
torch.testing.assert_close(model(ones_x, mask=torch.ones(4, 7)), model(ones_x, mask=None))


def ones_if_none(x, mask):
    """``mask``, or a mask of ones (every position visible) when it is ``None``."""
    return torch.ones(x.shape[:2]) if mask is None else mask


# %%
# Give every example a mask: the samples then have the same types, and ``AdditionalInputs``
# makes the batch and the sequence of both ``x`` and ``mask`` dynamic. Export finds that ``x``
# and ``mask`` share them, so the program has two symbols, each with the range of a
# ``Dim.DYNAMIC``:

ones_samples = additional_inputs([(x, ones_if_none(x, mask)) for x, mask in samples])
always_mask = torch.export.export(
    model, (example_x,), {"mask": ones_if_none(example_x, None)}, dynamic_shapes=ones_samples
)
print(symbolic_dims(always_mask), [str(r) for r in always_mask.range_constraints.values()])
assert symbolic_dims(always_mask) == {"x": [0, 1], "mask": [0, 1]}, symbolic_dims(always_mask)
assert [str(r) for r in always_mask.range_constraints.values()] == ["VR[2, int_oo]"] * 2, always_mask.range_constraints

# %%
# ``symbolic_dims`` lists, for each input, the dimensions that are symbolic in the program:
# 0 and 1 (the batch and the sequence) of both ``x`` and ``mask``; the feature size stays 8.
# The caller turns ``None`` into a mask of ones before calling the program. Checked against eager
# on batch sizes and sequence lengths no example had, with and without padding:

always_mask_module = always_mask.module()


def run_with_mask(x, mask=None):
    """Calls the program exported with a mask; ``None`` becomes a mask of ones."""
    return always_mask_module(x, mask=ones_if_none(x, mask))


new_calls = [
    (torch.randn(4, 7, 8), None),
    (torch.randn(6, 5, 8), padding_mask([5, 2, 3, 5, 1, 4], 5)),
    (torch.randn(3, 9, 8), None),
    (torch.randn(2, 11, 8), padding_mask([11, 6], 11)),
]
check_against_eager_with_kwargs(always_mask, model, [((x,), {"mask": ones_if_none(x, mask)}) for x, mask in new_calls])
for x, mask in new_calls:
    torch.testing.assert_close(run_with_mask(x, mask), model(x, mask=mask))
print(f"run_with_mask matches eager on {len(new_calls)} new calls, with and without a mask")

# %%
# Fix 2: one program per case
# ---------------------------
#
# When ``None`` selects code that no tensor can stand for (a default mask built inside the
# model, a skipped layer), split the samples by case and export one program per case, each with
# its own ``AdditionalInputs``. The program without a mask takes ``x`` only; the one with a mask
# needs an example that has a mask:

no_mask = torch.export.export(
    model, (example_x,), {"mask": None}, dynamic_shapes=additional_inputs([s for s in samples if s[1] is None])
)
with_mask = torch.export.export(
    model,
    (torch.randn(2, 3, 8),),
    {"mask": padding_mask([3, 2], 3)},
    dynamic_shapes=additional_inputs([s for s in samples if s[1] is not None]),
)
print(symbolic_dims(no_mask), symbolic_dims(with_mask))
assert symbolic_dims(no_mask) == {"x": [0, 1]}, symbolic_dims(no_mask)
assert symbolic_dims(with_mask) == {"x": [0, 1], "mask": [0, 1]}, symbolic_dims(with_mask)

# %%
# Both programs keep the batch and the sequence dynamic. The caller must pick the program by
# whether a mask is given: the program exported with ``mask=None`` runs when it is given a mask,
# and ignores it (as in :ref:`recipe-optional-inputs-none`):

padded_x, padded_mask = new_calls[1]
ignored = no_mask.module()(padded_x, mask=padded_mask)
torch.testing.assert_close(ignored, model(padded_x, mask=None))
assert not torch.allclose(ignored, model(padded_x, mask=padded_mask))

# %%
# ``run_either`` picks it, and both programs are checked against eager on the same new shapes:

programs = {False: no_mask.module(), True: with_mask.module()}


def run_either(x, mask=None):
    """Calls the program exported for this case: without a mask, or with one."""
    return programs[mask is not None](x, mask=mask)


check_against_eager_with_kwargs(no_mask, model, [((x,), {"mask": None}) for x, mask in new_calls if mask is None])
check_against_eager_with_kwargs(with_mask, model, [((x,), {"mask": mask}) for x, mask in new_calls if mask is not None])
for x, mask in new_calls:
    torch.testing.assert_close(run_either(x, mask), model(x, mask=mask))
print(f"run_either matches eager on {len(new_calls)} new calls, with and without a mask")

# %%
# In short: the samples given to ``AdditionalInputs`` may differ in their shapes, not in the type
# of an input. Make an optional tensor always a tensor (a neutral value for "none"), or keep the
# samples of each case apart and export one program per case.
