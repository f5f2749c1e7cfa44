"""
.. _recipe-transformers-bert-encoder:

Constraints violated (seq): a BERT encoder with ``attention_mask`` and ``token_type_ids`` and its 64 positions
==============================================================================================================

A BERT-style encoder is exported for search, classification and embeddings: text in (token ids, an attention mask,
the segment of each token), one vector per token out. Batch and sequence are dynamic. The
export of the real ``BertModel`` of transformers with an unbounded sequence fails; the reason is
the model's own limit, which the ONNX model then does not check.

The model is built from a tiny configuration (random weights, nothing downloaded) with 64
positions (``max_position_embeddings``).
"""

import warnings

import numpy as np
import onnxruntime
import torch
from transformers import BertConfig, BertModel

Dim = torch.export.Dim

torch.manual_seed(0)
config = BertConfig(
    vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
    max_position_embeddings=64,
)
model = BertModel(config).eval()
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def bert_inputs(batch, seq, padded=0):
    """Token ids, a mask whose last ``padded`` positions are padding, and two segments (the first
    half 0, the rest 1) for ``batch`` sequences of ``seq`` tokens."""
    attention_mask = torch.ones(batch, seq, dtype=torch.int64)
    attention_mask[:, seq - padded:] = 0
    token_type_ids = torch.zeros(batch, seq, dtype=torch.int64)
    token_type_ids[:, seq // 2:] = 1
    return {
        "input_ids": torch.randint(1, config.vocab_size, (batch, seq)) * attention_mask,
        "attention_mask": attention_mask,
        "token_type_ids": token_type_ids,
    }


# %%
# Helpers: the checks against eager
# ---------------------------------


def check_against_eager_with_kwargs(ep, model, args_and_kwargs):
    """The exported program gives what eager gives on each pair of new (args, kwargs)."""
    module = ep.module()
    for args, kwargs in args_and_kwargs:
        torch.testing.assert_close(module(*args, **kwargs), model(*args, **kwargs))
    print(f"the exported program matches eager on {len(args_and_kwargs)} new input sets")


def onnx_session(onnx_program):
    """An onnxruntime session on the CPU for an ``ONNXProgram``."""
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def check_onnx_against_eager_by_name(onnx_program, eager, input_sets):
    """onnxruntime gives what ``eager(**inputs)`` (a tuple of tensors) gives on each dict of new
    inputs, fed to the ONNX inputs of the same names."""
    session = onnx_session(onnx_program)
    for inputs in input_sets:
        feeds = {node.name: inputs[node.name].numpy() for node in session.get_inputs()}
        with torch.no_grad():
            expected = eager(**inputs)
        for got, wanted in zip(session.run(None, feeds), expected, strict=True):
            np.testing.assert_allclose(got, wanted.numpy(), rtol=1e-4, atol=1e-5)
    print(f"onnxruntime matches eager on {len(input_sets)} new input sets")


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


# %%
# The export, and its error
# -------------------------
#
# The three inputs share ``batch`` and ``seq``:

batch, seq = Dim("batch"), Dim("seq")
spec = {name: {0: batch, 1: seq} for name in INPUTS}
example = bert_inputs(batch=2, seq=8)
try:
    torch.export.export(model, (), kwargs=example, dynamic_shapes=spec)
    raise AssertionError("an unbounded sequence now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).split("\n\nThe error above")[0])
    assert str(e).startswith("Constraints violated (seq)!"), e
    assert "Suggested fixes:\n  seq = Dim('seq', max=64)" in str(e), e

# %%
# How to read it (``torch._dynamo.exc.UserError`` is the class export raises, a private name):
# ``seq`` promised any length, and the model computed something valid only up to 64. The 64 is
# ``max_position_embeddings``: ``BertEmbeddings`` keeps the positions ``0..63`` in a buffer,
# takes its first ``seq`` entries, and looks them up in a table of 64 position embeddings. Eager
# says the same, less clearly, on 65 tokens:

try:
    model(**bert_inputs(batch=1, seq=65))
    raise AssertionError("BERT now takes more tokens than its positions: update this recipe")
except RuntimeError as e:
    print(e)
    assert "The size of tensor a (65) must match the size of tensor b (64)" in str(e), e
print(model.embeddings.position_ids.shape, model.embeddings.position_embeddings)
assert model.embeddings.position_ids.shape == (1, config.max_position_embeddings)

# %%
# The fix: the model's limit in the spec
# --------------------------------------
#
# Take the suggestion, from the configuration rather than as a number:

seq = Dim("seq", max=config.max_position_embeddings)
spec = {name: {0: batch, 1: seq} for name in INPUTS}
ep = torch.export.export(model, (), kwargs=example, dynamic_shapes=spec)
print(ep.range_constraints)
assert sorted(str(r) for r in ep.range_constraints.values()) == ["VR[0, 64]", "VR[0, int_oo]"], ep.range_constraints

new_input_sets = [bert_inputs(1, 5), bert_inputs(3, 17, padded=4), bert_inputs(2, 64, padded=30)]
check_against_eager_with_kwargs(ep, model, [((), inputs) for inputs in new_input_sets])

# %%
# The program matches eager on new batches and lengths, padding included, up to 64 tokens; and
# it refuses 65 with a message that names the limit:

try:
    ep.module()(**bert_inputs(batch=1, seq=65))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed: input_ids.size()[1] <= 64"), e
else:
    raise AssertionError("the program now takes 65 tokens: update this recipe")

# %%
# ONNX, and what a serving stack has to check
# -------------------------------------------
#
# The same spec exports to ONNX; the dimensions take the names of the ``Dim`` objects (the
# exporter warns once for each name several inputs share: harmless, and only checked here),
# and the outputs are named after the fields of the model's output:

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    onnx_program = torch.onnx.export(
        model, (), kwargs=example, dynamic_shapes=spec, dynamo=True, verbose=False,
        output_names=["last_hidden_state", "pooler_output"],
    )
shared = {str(w.message).split(" will not be used")[0] for w in caught if "axis name" in str(w.message)}
assert shared == {"# The axis name: batch", "# The axis name: seq"}, shared
dims = onnx_dims(onnx_program.model_proto)
print(dims)
assert dims == {
    "input_ids": ["batch", "seq"], "attention_mask": ["batch", "seq"], "token_type_ids": ["batch", "seq"],
    "last_hidden_state": ["batch", "seq", config.hidden_size], "pooler_output": ["batch", config.hidden_size],
}, dims
check_onnx_against_eager_by_name(
    onnx_program, lambda **inputs: tuple(model(**inputs).values()), new_input_sets
)

# %%
# The ONNX model says ``seq``, not ``seq <= 64``: the range stays in the exported program. Given
# 65 tokens, onnxruntime fails inside the graph, on the addition of the position embeddings,
# with a message about broadcasting:

session = onnx_session(onnx_program)
too_long = {name: tensor.numpy() for name, tensor in bert_inputs(batch=1, seq=65).items()}
try:
    session.run(None, too_long)
    raise AssertionError("onnxruntime now runs 65 tokens: update this recipe")
except onnxruntime.capi.onnxruntime_pybind11_state.Fail as e:
    print(str(e).split("Status Message:")[0] + "...")
    assert "Attempting to broadcast an axis by a dimension other than 1. 64 by 65" in str(e), e

# %%
# So a server in front of the ONNX model checks the length itself (or truncates), with
# ``max_position_embeddings`` from the model's configuration. The
# padding needs nothing more: a padded row's real tokens get the vectors they get alone.

padded = bert_inputs(batch=1, seq=12, padded=5)
alone = {name: tensor[:, :7] for name, tensor in padded.items()}
feeds = lambda inputs: {name: tensor.numpy() for name, tensor in inputs.items()}  # noqa: E731
padded_vectors = session.run(None, feeds(padded))[0][:, :7]
alone_vectors = session.run(None, feeds(alone))[0]
np.testing.assert_allclose(padded_vectors, alone_vectors, rtol=1e-4, atol=1e-5)
print("the 7 real tokens of a padded row of 12 get the vectors they get alone")
