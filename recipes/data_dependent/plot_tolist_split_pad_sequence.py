"""
.. _recipe-tolist-split-pad-sequence:

split(lengths.tolist()) and pad_sequence: data-dependent sizes, and a number of pieces the example fixes
========================================================================================================

A model receives sequences of different lengths packed into one tensor, ``values`` (the rows of
all sequences, one after the other) and ``lengths`` (how many rows each sequence has). It cuts
``values`` with ``torch.split(values, lengths.tolist())`` (``split_with_sizes``) or
``torch.tensor_split``, and pads the pieces into a batch with ``pad_sequence``. PyTorch issue
`#127153 <https://github.com/pytorch/pytorch/issues/127153>`_ (opened in May 2024) reports
``pad_sequence(torch.tensor_split(...))`` failing to export with "Could not guard on
data-dependent expression"; the pinned release exports it, and checks at run time that the
lengths add up. What it cannot make dynamic is the *number* of sequences: a Python list has a
Python length. This recipe shows what exports, the error for a varying number of sequences, and a
version without a Python list that takes any number of sequences, all checked against eager.

``split`` and ``pad_sequence`` with sizes from ``.tolist()``
------------------------------------------------------------
"""

import re

import torch
from torch.fx.experimental import _config as fx_config
from torch.nn.utils.rnn import pad_sequence

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def runtime_asserts(ep):
    """The messages of the graph's ``_assert_scalar`` nodes."""
    return [node.args[1] for node in ep.graph.nodes if node.target == torch.ops.aten._assert_scalar.default]


class SplitPad(torch.nn.Module):
    def forward(self, values, lengths):
        pieces = torch.split(values, lengths.tolist())
        return pad_sequence(pieces, batch_first=True)


model = SplitPad()
values, lengths = torch.randn(10, 4), torch.tensor([3, 5, 2])
print(model(values, lengths).shape)
ep = torch.export.export(model, (values, lengths), dynamic_shapes=({0: Dim.DYNAMIC}, None))
print(ep.range_constraints)
print("\n".join(runtime_asserts(ep)))
ops = {node.target for node in ep.graph.nodes if node.op == "call_function"}
assert {torch.ops.aten.split_with_sizes.default, torch.ops.aten.pad_sequence.default} <= ops, ops
assert sorted(str(r) for r in ep.range_constraints.values()) == ["VR[0, int_oo]"] * 3 + ["VR[2, int_oo]"]
assert any(message.startswith("Runtime assertion failed for expression Eq(") for message in runtime_asserts(ep))
check_against_eager(
    ep,
    model,
    [(torch.randn(12, 4), torch.tensor([1, 9, 2])), (torch.randn(7, 4), torch.tensor([0, 3, 4]))],
)

# %%
# ``.tolist()`` gives one *unbacked* symbol per element, one per length: export does not know
# their values. ``split`` slices ``values`` with them, and ``pad_sequence`` pads to their
# maximum, all symbolically; the fourth symbol is the number of rows of ``values``. Lengths 1, 9,
# 2 and 0, 3, 4, with 12 and 7 rows, give the same batch as eager.
#
# The three ``VR[0, int_oo]`` ranges do not come from ``.tolist()``: on its own, it gives integers
# without any bound. ``split`` uses them as sizes, and adds the runtime assertions ``u >= 0``
# printed above, which set the lower bound 0. The same ``.tolist()`` without ``split``:


class TolistOnly(torch.nn.Module):
    def forward(self, values, lengths):
        a, b, c = lengths.tolist()
        return values * (a + b + c)


tolist_ep = torch.export.export(TolistOnly(), (values, lengths), dynamic_shapes=({0: Dim.DYNAMIC}, None))
print(tolist_ep.range_constraints)
unbacked = [str(r) for s, r in tolist_ep.range_constraints.items() if str(s).startswith("u")]
assert unbacked == ["VR[-int_oo, int_oo]"] * 3, tolist_ep.range_constraints
assert sum(bool(re.fullmatch(r"Runtime assertion failed for expression u\d+ >= 0 on node '\w+'", m)) for m in runtime_asserts(ep)) == 3

# %%
# Three integers of any sign, no assertion.
#
# Eager ``split`` requires the lengths to add up to the number of rows. Export cannot check it
# while tracing (the lengths have no value then), so it put the condition in the graph, the
# ``Eq(...)`` assertion printed above. Lengths that do not add up fail in both, with different
# messages:

bad = (torch.randn(10, 4), torch.tensor([3, 3, 3]))
try:
    model(*bad)
    raise AssertionError("eager split now accepts lengths that do not add up: update this recipe")
except RuntimeError as e:
    print("eager:", e)
    assert str(e).startswith("split_with_sizes expects split_sizes to sum exactly to 10"), e
try:
    ep.module()(*bad)
    raise AssertionError("the exported program no longer checks the lengths: update this recipe")
except RuntimeError as e:
    print("exported:", e)
    assert str(e).startswith("Runtime assertion failed for expression Eq("), e

# %%
# ``tensor_split`` at offsets computed in the model
# -------------------------------------------------
#
# ``torch.tensor_split`` takes the offsets where to cut, and accepts them as a tensor. The offsets
# come from the lengths, computed in the graph:


class TensorSplitPad(torch.nn.Module):
    def forward(self, values, lengths):
        offsets = lengths.cumsum(0)[:-1]
        return pad_sequence(torch.tensor_split(values, offsets), batch_first=True)


tensor_split_model = TensorSplitPad()
tensor_split_ep = torch.export.export(tensor_split_model, (values, lengths), dynamic_shapes=({0: Dim.DYNAMIC}, None))
assert torch.ops.aten.pad_sequence.default in {node.target for node in tensor_split_ep.graph.nodes}
check_against_eager(
    tensor_split_ep,
    tensor_split_model,
    [(torch.randn(12, 4), torch.tensor([1, 9, 2])), (torch.randn(7, 4), torch.tensor([0, 3, 4]))],
)

# %%
# The number of sequences is fixed by the example
# -----------------------------------------------
#
# The lengths are symbols, but the list that ``.tolist()`` returns has a Python length, 3 here.
# Asking for a dynamic number of sequences fails:

try:
    torch.export.export(model, (values, lengths), dynamic_shapes=({0: Dim.DYNAMIC}, {0: Dim.DYNAMIC}))
    raise AssertionError("tolist() of a dynamic number of lengths now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert "as dynamic but your code specialized it to be a constant (3)" in str(e), e

# %%
# (``torch._dynamo.exc.UserError`` is in a private module; code you keep can catch its base class,
# ``RuntimeError``.) It is the same limit as a Python loop over a dynamic dimension, explained in
# :ref:`sphx_glr_auto_recipes_data_dependent_plot_loop_over_dynamic_dim.py`: ``split`` returns one
# tensor per length, and a graph has a fixed number of them. With ``Dim.AUTO`` the number of
# sequences silently becomes 3, and a batch of 4 sequences hits a guard:

auto_ep = torch.export.export(model, (values, lengths), dynamic_shapes=({0: Dim.AUTO}, {0: Dim.AUTO}))
try:
    auto_ep.module()(torch.randn(12, 4), torch.tensor([1, 9, 1, 1]))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed"), e
else:
    raise AssertionError("the number of sequences is no longer fixed: update this recipe")

# %%
# The fix: pad without a Python list
# ----------------------------------
#
# The padded batch can be built with tensor operations only: the start of each sequence is the
# cumulative sum of the lengths before it, row ``j`` of sequence ``i`` is ``values[start[i] + j]``,
# and positions past a sequence's length are zeros. The longest length comes from
# ``lengths.max().item()``, an unbacked symbol, like the lengths above. A ``torch._check`` keeps the
# eager check that the lengths add up:


class GatherPad(torch.nn.Module):
    def forward(self, values, lengths):
        torch._check(lengths.sum().item() == values.shape[0])
        starts = lengths.cumsum(0) - lengths
        positions = torch.arange(lengths.max().item())
        rows = values[(starts[:, None] + positions).clamp(max=values.shape[0] - 1)]
        inside = positions < lengths[:, None]
        return torch.where(inside[..., None], rows, 0.0)


gather_model = GatherPad()
gather_ep = torch.export.export(gather_model, (values, lengths), dynamic_shapes=({0: Dim.DYNAMIC}, {0: Dim.DYNAMIC}))
print(gather_ep.range_constraints)
print("\n".join(runtime_asserts(gather_ep)))
new_sets = [
    (torch.randn(12, 4), torch.tensor([1, 9, 2, 0])),
    (torch.randn(7, 4), torch.tensor([4, 3])),
    (torch.randn(20, 4), torch.tensor([2, 2, 5, 3, 8])),
]
for new_values, new_lengths in new_sets:
    torch.testing.assert_close(gather_ep.module()(new_values, new_lengths), model(new_values, new_lengths))
print(f"the exported GatherPad matches eager SplitPad on {len(new_sets)} new input sets (4, 2 and 5 sequences)")

# %%
# One program now takes 4, 2 or 5 sequences of 12, 7 or 20 rows in total, and gives what
# ``split`` and ``pad_sequence`` give in eager. The ``torch._check`` became a runtime assertion,
# so lengths that do not add up still fail:

try:
    gather_ep.module()(torch.randn(10, 4), torch.tensor([3, 3, 3]))
    raise AssertionError("GatherPad no longer checks the lengths: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e).startswith("Runtime assertion failed for expression Eq("), e

# %%
# Small batches: a total of 0 or 1 row, a single sequence
# --------------------------------------------------------
#
# The first assertion printed above is ``u0 >= 2``: ``u0`` is the sum of the lengths, and the
# ``torch._check`` made it equal to the number of rows of ``values``, a ``Dim.DYNAMIC`` whose
# range starts at 2 (export assumes a dynamic size is not 0 or 1: see
# :ref:`recipe-zero-one-specialization`). So the program refuses a batch whose lengths add up to
# 0 or 1, which eager handles:

small_sets = [(torch.randn(0, 4), torch.tensor([0, 0])), (torch.randn(1, 4), torch.tensor([1, 0]))]
for small_values, small_lengths in small_sets:
    print(f"eager, {small_values.shape[0]} rows: {tuple(model(small_values, small_lengths).shape)}")
    try:
        gather_ep.module()(small_values, small_lengths)
        raise AssertionError("GatherPad now accepts a total below 2: update this recipe")
    except RuntimeError as e:
        print("exported:", e)
        assert re.match(r"Runtime assertion failed for expression u\d+ >= 2", str(e)), e

# %%
# The number of sequences is a ``Dim.DYNAMIC`` too, and its range printed above starts at 2 as
# well; but nothing in the program checks it, and a single sequence works:

one_sequence = (torch.randn(3, 4), torch.tensor([3]))
torch.testing.assert_close(gather_ep.module()(*one_sequence), model(*one_sequence))
print("one sequence of 3 rows: the exported GatherPad matches eager SplitPad")

# %%
# The range of a dimension says what export assumed while tracing, not what the program refuses.
# When totals of 0 or 1 row matter, export with the (private) configuration flag
# ``backed_size_oblivious`` of ``torch.fx.experimental._config``: export then makes no assumption
# about 0 or 1 for the dynamic sizes, and their ranges start at 0:

with fx_config.patch(backed_size_oblivious=True):
    oblivious_ep = torch.export.export(
        gather_model, (values, lengths), dynamic_shapes=({0: Dim.DYNAMIC}, {0: Dim.DYNAMIC})
    )
print(oblivious_ep.range_constraints)
assert all(str(r) == "VR[0, int_oo]" for r in oblivious_ep.range_constraints.values()), oblivious_ep.range_constraints
for new_values, new_lengths in [*small_sets, one_sequence, *new_sets]:
    torch.testing.assert_close(oblivious_ep.module()(new_values, new_lengths), model(new_values, new_lengths))
print(f"the backed_size_oblivious GatherPad matches eager SplitPad on {len(small_sets) + 1 + len(new_sets)} input sets")

# %%
# Totals of 0 and 1 row, a single sequence, and the batches above all match eager. Keep the
# ``.tolist()`` version when the number of sequences is fixed (a fixed batch size), and use tensor
# operations when it varies.
