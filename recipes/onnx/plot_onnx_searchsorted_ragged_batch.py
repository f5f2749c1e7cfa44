"""
.. _recipe-onnx-searchsorted-ragged-batch:

"No ONNX function found for <OpOverload(op='aten.searchsorted', ...)>": sequence ids of a ragged batch from its lengths
=======================================================================================================================

A model built like a packed-sequence encoder takes the tokens of all the sequences of a batch in
one flat tensor, ``(tokens, features)``, with their ``lengths``. To add a position embedding it
needs, for each token, the sequence it belongs to and its position in that sequence: the
cumulative sum of the lengths gives where each sequence ends, and
``torch.searchsorted(ends, token_index, right=True)`` the sequence of each token. Both the number
of tokens and the number of sequences are dynamic. ``torch.export.export`` accepts the model, but
``torch.onnx.export(..., dynamo=True)`` fails in its last step with "No ONNX function found for
<OpOverload(op='aten.searchsorted', overload='Tensor')>", and the TorchScript-based exporter
(``dynamo=False``) with "Exporting the operator 'aten::searchsorted' to ONNX opset version 20 is
not supported".

This recipe shows both errors and how to read them, warns against the look-alike
``torch.bucketize``, which exports but whose ONNX model gives wrong sequence ids as soon as a
batch holds more sequences than the example, and fixes the export twice: by writing the search
as a count of comparisons, and, without touching the model, by giving the exporter a translation
of ``aten.searchsorted``. Both are checked with onnxruntime against eager PyTorch on new batches.

Public reports of this kind: pytorch/pytorch#151648, pytorch/pytorch#126549 (both with the
TorchScript-based exporter's message).

The model and the helpers
-------------------------
"""

import io
import re
import warnings

import numpy as np
import onnx
import onnxruntime
import torch
from onnxscript import opset18 as op

Dim = torch.export.Dim


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


class RaggedPositions(torch.nn.Module):
    """Adds a position embedding to the flat tokens of a ragged batch; also returns each token's sequence."""

    def __init__(self):
        super().__init__()
        self.position = torch.nn.Embedding(32, 4)

    def sequence_ids(self, ends, token):
        return torch.searchsorted(ends, token, right=True)

    def forward(self, x, lengths):
        ends = lengths.cumsum(0)  # where each sequence ends in the flat batch
        token = torch.arange(x.shape[0])
        sequence = self.sequence_ids(ends, token)
        position = token - (ends - lengths)[sequence]  # minus where its sequence starts
        return x + self.position(position), sequence


def ragged_batch(lengths, seed=0):
    lengths = torch.tensor(lengths)
    return torch.randn(int(lengths.sum()), 4, generator=torch.Generator().manual_seed(seed)), lengths


torch.manual_seed(0)
model = RaggedPositions().eval()
x, lengths = ragged_batch([3, 1, 4])
out, sequence = model(x, lengths)
print(sequence.tolist())
assert sequence.tolist() == [0, 0, 0, 1, 2, 2, 2, 2]
assert torch.equal(out, x + model.position(torch.tensor([0, 1, 2, 0, 0, 1, 2, 3])))

spec = ({0: "tokens"}, {0: "batch"})
new_batches = [ragged_batch(lengths, seed) for seed, lengths in enumerate([[2, 5], [6, 1, 1, 3, 2], [0, 2, 0, 9], [1] * 9])]

# %%
# The 8 tokens belong to sequences 0, 0, 0, 1, 2, 2, 2, 2, and their positions restart at 0 with
# each sequence. The new batches, used below to check the ONNX models, have 2, 5, 4 (two of them
# empty) and 9 sequences.
#
# The failure
# -----------
#
# ``torch.export.export`` takes the model with both dimensions dynamic: the program keeps
# ``aten.searchsorted`` and a symbol for each size. The ONNX exporter, which starts from such a
# program, fails in step 3 of 3, the translation of the graph into ONNX:

ep = torch.export.export(model, (x, lengths), dynamic_shapes=({0: Dim("tokens")}, {0: Dim("batch")}))
targets = [node.target for node in ep.graph.nodes if node.op == "call_function"]
assert torch.ops.aten.searchsorted.Tensor in targets, targets
x_node, lengths_node = ep.graph.find_nodes(op="placeholder")[-2:]
assert isinstance(x_node.meta["val"].shape[0], torch.SymInt), x_node.meta["val"].shape
assert isinstance(lengths_node.meta["val"].shape[0], torch.SymInt), lengths_node.meta["val"].shape

try:
    torch.onnx.export(model, (x, lengths), dynamo=True, verbose=False, dynamic_shapes=spec)
    raise AssertionError("aten.searchsorted now translates to ONNX: update this recipe")
except torch.onnx.OnnxExporterError as e:
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # the message is colored for terminals
    assert type(e).__name__ == "ConversionError", type(e)
summary = message[message.index("## Exception summary") :].splitlines()
for line in summary[2:5]:
    print(re.split(r"\(args = ", line)[0])
assert "This is step 3/3" in message, message
assert (
    "DispatchError'>: No ONNX function found for <OpOverload(op='aten.searchsorted', overload='Tensor')>. "
    "Failure message: No decompositions registered for the real-valued input" in message
), message
assert "Error when translating node %searchsorted" in message, message
assert "target=torch.ops.aten.searchsorted.Tensor" in message, message
assert not [s.name for s in onnx.defs.get_all_schemas() if re.search("sort|search|bucket", s.name.lower())]

# %%
# How to read it, from the bottom of the summary up:
#
# * ``Error when translating node %searchsorted ... aten.searchsorted.Tensor``: the node of the
#   exported program that failed, the ``torch.searchsorted`` call of ``sequence_ids``.
# * ``No ONNX function found for <OpOverload(op='aten.searchsorted', overload='Tensor')>``: the
#   exporter looks for a translation of the op in onnxscript's torchlib (and in
#   ``custom_translation_table``), then for a decomposition into ops it can translate. The pinned
#   torch and onnxscript have neither for ``searchsorted``, and the pinned onnx defines no
#   operator that searches a sorted sequence (no operator's name mentions sorting or searching).
#
# The message is about the op, not the shapes: the same export without ``dynamic_shapes`` fails
# with the same message (checked in the next cell, silently). The class is
# ``torch.onnx.OnnxExporterError`` (its subclass ``ConversionError`` lives in a private module).
# The TorchScript-based exporter, still reachable with ``dynamo=False``, stops on the same op with
# its own words, the message of the public reports:

try:
    torch.onnx.export(model, (x, lengths), dynamo=True, verbose=False)
    raise AssertionError("aten.searchsorted now translates to ONNX with static shapes: update this recipe")
except torch.onnx.OnnxExporterError as e:
    assert "No ONNX function found for <OpOverload(op='aten.searchsorted', overload='Tensor')>" in str(e), e

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        torch.onnx.export(
            model,
            (x, lengths),
            io.BytesIO(),
            dynamo=False,
            opset_version=20,
            input_names=["x", "lengths"],
            dynamic_axes={"x": {0: "tokens"}, "lengths": {0: "batch"}},
        )
        raise AssertionError("the TorchScript-based exporter now translates aten::searchsorted: update this recipe")
    except torch.onnx.errors.UnsupportedOperatorError as e:
        print(e)
        assert str(e) == "Exporting the operator 'aten::searchsorted' to ONNX opset version 20 is not supported", e
deprecations = [str(w.message) for w in caught if w.category is DeprecationWarning]
assert any("You are using the legacy TorchScript-based ONNX export" in m for m in deprecations), deprecations

# %%
# ``torch.onnx.errors.UnsupportedOperatorError`` names the op the same way (``aten::searchsorted``).
# The export also raised a ``DeprecationWarning`` (collected above, kept off the page): the
# TorchScript-based exporter is deprecated, and its fixes are not the way forward. The two fixes
# below use ``dynamo=True``.
#
# Not a fix: ``torch.bucketize``
# ------------------------------
#
# For a one-dimensional sequence of boundaries, ``torch.bucketize(values, boundaries, right=r)``
# returns what ``torch.searchsorted(boundaries, values, right=r)`` returns (``r`` true or false),
# and the ONNX exporter accepts it. The ONNX model it writes, though, is only right for batches of
# few sequences:


class RaggedPositionsBucketize(RaggedPositions):
    def sequence_ids(self, ends, token):
        return torch.bucketize(token, ends, right=True)


bucketize = RaggedPositionsBucketize().eval()
bucketize.load_state_dict(model.state_dict())
for new_x, new_lengths in new_batches:
    assert torch.equal(bucketize(new_x, new_lengths)[1], model(new_x, new_lengths)[1])
    ends, token = new_lengths.cumsum(0), torch.arange(new_x.shape[0])
    assert torch.equal(torch.bucketize(token, ends), torch.searchsorted(ends, token))

bucketize_program = torch.onnx.export(bucketize, (x, lengths), dynamo=True, verbose=False, dynamic_shapes=spec)
print(list(onnx_dims(bucketize_program.model_proto).values()))
assert list(onnx_dims(bucketize_program.model_proto).values()) == [["tokens", 4], ["batch"], ["tokens", 4], ["tokens"]]
session = onnx_session(bucketize_program)
for new_x, new_lengths in new_batches:
    _, got = session.run(None, {"x": new_x.numpy(), "lengths": new_lengths.numpy()})
    expected = model(new_x, new_lengths)[1].numpy()
    print(f"{len(new_lengths)} sequences: ONNX {got.tolist()}")
    print(f"{'':12}eager {expected.tolist()}")
    assert np.array_equal(got, expected) == (len(new_lengths) < 4), (new_lengths, got)

# %%
# Eager ``bucketize`` agrees with ``searchsorted`` on all the new batches, and the ONNX model
# declares both dimensions dynamic. onnxruntime, though, gives the right sequence ids for 2
# sequences and wrong ones for 4, 5 and 9: no error, no warning, tokens silently assigned to the
# wrong sequence. The exporter does not translate ``bucketize`` itself: it first decomposes it into
# a binary search, a chain of ``where`` steps, and the number of steps is computed from the
# example's number of boundaries and frozen in the graph. An example with 8 sequences gives a
# longer chain:


def where_steps(onnx_program):
    graph = onnx_program.exported_program.graph
    return len(graph.find_nodes(op="call_function", target=torch.ops.aten.where.self))


eight_x, eight_lengths = ragged_batch([1, 2, 1, 2, 1, 2, 1, 2])
eight_program = torch.onnx.export(bucketize, (eight_x, eight_lengths), dynamo=True, verbose=False, dynamic_shapes=spec)
print(where_steps(bucketize_program), where_steps(eight_program))
assert (where_steps(bucketize_program), where_steps(eight_program)) == (3, 7)
_, on_example = session.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})
assert on_example.tolist() == sequence.tolist()
assert not bucketize_program.exported_program.graph.find_nodes(
    op="call_function", target=torch.ops.aten.bucketize.Tensor
)

# %%
# 3 ``where`` nodes for an example of 3 sequences, 7 for 8: the depth of the search follows the
# example, not the input. Such a model passes a check on the example (the last assert above) and
# fails on real batches; whatever the fix, check the ONNX model on batches with more sequences than the
# example, as below.
#
# Fix 1: count the ends at or before each token
# ---------------------------------------------
#
# ``searchsorted(ends, token, right=True)`` is the number of ends that are ``<= token``. Written as
# a comparison of every token with every end, summed over the ends, it is made of ops that
# translate to ONNX for any number of tokens and sequences:


class RaggedPositionsCount(RaggedPositions):
    def sequence_ids(self, ends, token):
        return (ends <= token[:, None]).sum(-1)  # right=False would be ``ends < token[:, None]``


counting = RaggedPositionsCount().eval()
counting.load_state_dict(model.state_dict())
for new_x, new_lengths in new_batches:
    assert torch.equal(counting(new_x, new_lengths)[1], model(new_x, new_lengths)[1])

counting_program = torch.onnx.export(counting, (x, lengths), dynamo=True, verbose=False, dynamic_shapes=spec)
print(list(onnx_dims(counting_program.model_proto).values()))
assert list(onnx_dims(counting_program.model_proto).values()) == [["tokens", 4], ["batch"], ["tokens", 4], ["tokens"]]
assert {"LessOrEqual", "ReduceSum"} <= {node.op_type for node in counting_program.model.graph}
check_onnx_against_eager(counting_program, model, new_batches)

# %%
# The ONNX model compares (``LessOrEqual``) and sums (``ReduceSum``), and onnxruntime matches the
# *original* model on the four new batches, 9 sequences and empty ones included. The comparison
# builds a ``tokens x batch`` matrix of booleans: fine for the lengths of a batch, too big to
# search among millions of boundaries.
#
# Fix 2: give the exporter a translation of ``aten.searchsorted``
# ----------------------------------------------------------------
#
# When the model cannot change, ``custom_translation_table`` maps the op to a function written with
# ONNX Script operators (see :ref:`recipe-onnx-custom-op-translation` for a custom op). The
# function receives the arguments of the op's schema, printed below, under their names, and does
# the same count of comparisons in ONNX:

print(torch.ops.aten.searchsorted.Tensor._schema)
assert "searchsorted.Tensor(Tensor sorted_sequence, Tensor self, *, bool out_int32=False, bool right=False" in str(
    torch.ops.aten.searchsorted.Tensor._schema
)


def searchsorted_onnx(sorted_sequence, self, out_int32=False, right=False, side=None, sorter=None):
    """``torch.searchsorted`` for a 1-D sorted sequence, as a count of comparisons."""
    if sorter is not None or len(sorted_sequence.shape) != 1:
        raise NotImplementedError("this translation handles a 1-D sorted sequence without sorter")
    before = op.LessOrEqual if right or side == "right" else op.Less
    below = before(sorted_sequence, op.Unsqueeze(self, op.Constant(value_ints=[-1])))
    count = op.ReduceSum(op.Cast(below, to=7), op.Constant(value_ints=[-1]), keepdims=0)  # 7: INT64
    return op.Cast(count, to=6) if out_int32 else count  # 6: INT32


translated_program = torch.onnx.export(
    model,
    (x, lengths),
    dynamo=True,
    verbose=False,
    dynamic_shapes=spec,
    custom_translation_table={torch.ops.aten.searchsorted.Tensor: searchsorted_onnx},
)
print(list(onnx_dims(translated_program.model_proto).values()))
assert list(onnx_dims(translated_program.model_proto).values()) == [["tokens", 4], ["batch"], ["tokens", 4], ["tokens"]]
assert {"LessOrEqual", "ReduceSum"} <= {node.op_type for node in translated_program.model.graph}
check_onnx_against_eager(translated_program, model, new_batches)

# %%
# The model is the one that failed, ``torch.searchsorted`` included; the exporter called
# ``searchsorted_onnx`` for its node, and onnxruntime matches eager on the new batches. The
# translation refuses what it does not implement (``sorter``, a sorted sequence per row) rather
# than translate it wrongly; as in Fix 1, its cost grows with the number of tokens times the number
# of sequences.
