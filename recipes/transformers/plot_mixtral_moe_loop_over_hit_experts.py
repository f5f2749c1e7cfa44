"""
.. _recipe-transformers-mixtral-moe-hit-experts:

"Could not guard on data-dependent expression Eq(u0, 0)" in ``unbind``: a mixture-of-experts loop over the experts that got tokens
==================================================================================================================================

A mixture-of-experts (MoE) layer sends each token to a few of its experts (here 2 of 4), chosen
by a router from the token's values. A common way to write it finds the experts that received at
least one token (``nonzero``) and loops over them. Exporting such a model with ``torch.export``
fails inside ``unbind``, on a size nobody wrote: the number of experts hit. A reader reported it
for Mixtral on 2025-06-01 (huggingface/transformers#38518, transformers 4.52.4, non-strict
export): the report's traceback shows the same ``unbind``, which splits a tensor into
``t.shape[dim]`` pieces (``torch.tensor_split(t, t.shape[dim], dim)``), asked for the value of
a data-dependent size ``u0``.

This recipe shows the failure on a model built like that MoE block, explains the message, fixes
the loop (every expert, each on its tokens, possibly none), checks the fix against eager and in
onnxruntime on new shapes, and then runs the real ``MixtralForCausalLM`` of transformers 5.23.0,
built from a tiny configuration (random weights, nothing downloaded), with each of its experts
implementations.
"""

import contextlib
import io
import re

import numpy as np
import onnxruntime
import torch
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode
from transformers import MixtralConfig, MixtralForCausalLM

Dim = torch.export.Dim
HIDDEN, EXPERTS, TOP_K = 16, 4, 2


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


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


def short_message(e):
    """The first line of a data-dependent error, its ``Caused by`` line and the line of the model
    that made the call (line numbers and the path of the file left out: they depend on the
    release and on the machine)."""
    lines = str(e).splitlines()
    caused_by = next(line for line in lines if line.startswith("Caused by:"))
    call = lines.index("The following call raised this error:")
    return lines[0], re.sub(r":\d+ in", ":NNN in", caused_by), lines[call + 2].strip()


# %%
# A model built like the reported MoE block
# -----------------------------------------
#
# The router scores the experts for each token and keeps the best ``TOP_K``; ``mask[e, k, t]``
# says that token ``t`` chose expert ``e`` as its ``k``-th choice. The loop runs over the rows
# of ``hit``, the experts that got at least one token: each expert computes its tokens only,
# weighted by the router, and ``index_add_`` puts the results back in place.


class LoopOverHitExperts(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.router = torch.nn.Linear(HIDDEN, EXPERTS, bias=False)
        self.experts = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(HIDDEN, 32), torch.nn.SiLU(), torch.nn.Linear(32, HIDDEN))
            for _ in range(EXPERTS)
        )

    def route(self, x):
        tokens = x.reshape(-1, HIDDEN)
        weights, chosen = torch.topk(self.router(tokens).softmax(dim=-1), TOP_K, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        mask = torch.nn.functional.one_hot(chosen, EXPERTS).permute(2, 1, 0)  # (experts, k, tokens)
        return tokens, weights, mask

    def apply_expert(self, expert, tokens, weights, mask, out):
        k, token_idx = torch.where(mask[expert])
        y = self.experts[expert](tokens[token_idx]) * weights[token_idx, k, None]
        out.index_add_(0, token_idx, y)

    def forward(self, x):
        tokens, weights, mask = self.route(x)
        out = torch.zeros_like(tokens)
        hit = (mask.sum(dim=(1, 2)) > 0).nonzero()
        for expert in hit:
            self.apply_expert(expert[0], tokens, weights, mask, out)
        return out.reshape(x.shape)


torch.manual_seed(0)
model = LoopOverHitExperts().eval()
x = torch.randn(2, 5, HIDDEN)
spec = ({0: Dim("batch"), 1: Dim("seq")},)
try:
    with contextlib.redirect_stderr(io.StringIO()):  # the graph traced up to the failure: see below
        torch.export.export(model, (x,), dynamic_shapes=spec, strict=False)
    raise AssertionError("a loop over the experts hit now exports: update this recipe")
except GuardOnDataDependentSymNode as e:
    first, caused_by, call = short_message(e)
    print(first, caused_by, "The following call raised this error:", "  " + call, sep="\n")
    assert re.match(r"Could not guard on data-dependent expression Eq\(u\d+, 0\)", first), first
    assert re.fullmatch(r"Caused by: \(_refs/__init__\.py:NNN in unbind\)", caused_by), caused_by
    assert call == "for expert in hit:", call
    assert "torch._check(hit.shape[0] != 0)" in str(e), e  # among its suggested fixes, used below

# %%
# How to read it
# --------------
#
# * ``GuardOnDataDependentSymNode`` (in ``torch.fx.experimental.symbolic_shapes``) is the
#   class of the errors where export needs a value it does not have. ``u0`` is the number of
#   rows of ``hit``: ``nonzero`` returns one row per expert hit, a number read from the
#   router's values, not from any input's shape (see :ref:`recipe-boolean-mask-nonzero-unique`).
# * ``Caused by: (_refs/__init__.py:NNN in unbind)``: a ``for`` loop over a tensor unbinds it
#   into its rows. ``unbind`` first asks whether there are none (``Eq(u0, 0)``), then splits
#   the tensor into ``t.shape[dim]`` pieces with ``torch.tensor_split(t, t.shape[dim], dim)``,
#   the line the report's traceback shows.
# * "The following call raised this error" is the model's own line: ``for expert in hit:``.
#
# A Python loop runs while export traces, once for every input the program will ever get, so
# the number of its iterations must be known then. Here it is the number of experts that got
# tokens, which changes from one batch to the next. The message suggests
# ``torch._check(hit.shape[0] != 0)``; it answers the first question only, and the split then
# asks for the number itself, the value of ``u0`` (the question of the report's log,
# ``evaluate_expr(u0, ...)``):


class CheckedLoop(LoopOverHitExperts):
    def forward(self, x):
        tokens, weights, mask = self.route(x)
        out = torch.zeros_like(tokens)
        hit = (mask.sum(dim=(1, 2)) > 0).nonzero()
        torch._check(hit.shape[0] != 0)
        for expert in hit:
            self.apply_expert(expert[0], tokens, weights, mask, out)
        return out.reshape(x.shape)


checked = CheckedLoop()
checked.load_state_dict(model.state_dict())
try:
    with contextlib.redirect_stderr(io.StringIO()):  # the traced graph, as above
        torch.export.export(checked.eval(), (x,), dynamic_shapes=spec, strict=False)
    raise AssertionError("the suggested check now lets the loop export: update this recipe")
except GuardOnDataDependentSymNode as e:
    first, caused_by, call = short_message(e)
    print(first, caused_by, "The following call raised this error:", "  " + call, sep="\n")
    assert re.match(r"Could not extract specialized integer from data-dependent expression u\d+ ", first), first
    assert re.fullmatch(r"Caused by: \(_ops\.py:NNN in decompose\)", caused_by), caused_by
    assert call == "for expert in hit:", call

# %%
# Nor do the dynamic batch and sequence cause it: with no ``dynamic_shapes`` at all (as in the
# report), every shape is fixed to the example's, and the number of experts hit is still read
# from values. Export fails the same way:

try:
    with contextlib.redirect_stderr(io.StringIO()):  # the traced graph, as above
        torch.export.export(model, (x,), strict=False)
    raise AssertionError("a loop over the experts hit now exports with static shapes: update this recipe")
except GuardOnDataDependentSymNode as e:
    first, caused_by, call = short_message(e)
    print(first, caused_by, sep="\n")
    assert re.match(r"Could not guard on data-dependent expression Eq\(u\d+, 0\)", first), first
    assert re.fullmatch(r"Caused by: \(_refs/__init__\.py:NNN in unbind\)", caused_by), caused_by

# %%
# The fix: loop over every expert
# -------------------------------
#
# Loop over ``range(EXPERTS)``, a number known when the model is written. Each expert takes the
# tokens that chose it, possibly none: ``torch.where`` then returns empty indices, the expert
# runs on zero rows and ``index_add_`` adds nothing. The output is the same; only the experts
# with no token cost an empty call.


class LoopOverAllExperts(LoopOverHitExperts):
    def forward(self, x):
        tokens, weights, mask = self.route(x)
        out = torch.zeros_like(tokens)
        for expert in range(EXPERTS):
            self.apply_expert(expert, tokens, weights, mask, out)
        return out.reshape(x.shape)


fixed = LoopOverAllExperts()
fixed.load_state_dict(model.state_dict())
fixed.eval()
ep = torch.export.export(fixed, (x,), dynamic_shapes=spec, strict=False)
new_inputs = [(torch.randn(1, 1, HIDDEN),), (torch.randn(3, 7, HIDDEN),), (torch.randn(4, 2, HIDDEN),)]
with torch.no_grad():
    torch.testing.assert_close(fixed(x), model(x))
    check_against_eager(ep, model, new_inputs)

# %%
# The program keeps one data-dependent size per expert, the number of tokens that chose it
# (a ``u`` symbol for the ``torch.where`` of each of the four iterations); none of them is a
# number of iterations:

unbacked = sorted(str(symbol) for symbol in ep.range_constraints if str(symbol).startswith("u"))
print(f"{len(unbacked)} data-dependent sizes: {', '.join(unbacked)}")
assert len(unbacked) == EXPERTS, unbacked

# %%
# The new inputs include a single token, which only 2 of the 4 experts receive: the program
# ran 2 experts on no rows, and still matches the original loop.

one_token = new_inputs[0][0]
_, _, mask = fixed.route(one_token)
hit = int((mask.sum(dim=(1, 2)) > 0).sum())
print(f"experts hit by one token: {hit} of {EXPERTS}")
assert hit == TOP_K

# %%
# The same program to ONNX, checked in onnxruntime on the same new shapes:

onnx_program = torch.onnx.export(ep, dynamo=True, verbose=False, output_names=["out"])
with torch.no_grad():
    check_onnx_against_eager(onnx_program, model, new_inputs)

# %%
# The real Mixtral of transformers 5.23.0
# ---------------------------------------
#
# A tiny ``MixtralForCausalLM``: one layer, 4 experts, 2 per token. Its experts module
# (``MixtralExperts``) runs one of several implementations, which
# ``get_experts_implementation`` names and ``set_experts_implementation`` chooses; a model
# built from a configuration takes ``grouped_mm``:

torch.manual_seed(0)
config = MixtralConfig(
    vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
    num_key_value_heads=1, num_local_experts=EXPERTS, num_experts_per_tok=TOP_K, max_position_embeddings=64,
)
mixtral = MixtralForCausalLM(config).eval()
print(mixtral.get_experts_implementation())
assert mixtral.get_experts_implementation() == {"": "grouped_mm"}


class Logits(torch.nn.Module):
    """The logits of one call without a cache (a cache in and out is
    :ref:`recipe-transformers-llama-cache-tensors`)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, use_cache=False).logits


logits = Logits(mixtral).eval()
ids = torch.randint(0, config.vocab_size, (2, 5))
new_ids = [(torch.randint(0, config.vocab_size, shape),) for shape in [(1, 1), (3, 7)]]

# %%
# With ``eager``, export fails as it does for the model above, on the line
# ``for expert_idx in expert_hit:`` of transformers' ``modeling_mixtral.py``, with the same
# question in ``unbind``:

mixtral.set_experts_implementation("eager")
try:
    with contextlib.redirect_stderr(io.StringIO()):  # the traced graph, as above
        torch.export.export(logits, (ids,), dynamic_shapes=spec, strict=False)
    raise AssertionError("Mixtral's eager experts now export: update this recipe")
except GuardOnDataDependentSymNode as e:
    first, caused_by, call = short_message(e)
    print(first, caused_by, "The following call raised this error:", "  " + call, sep="\n")
    assert re.match(r"Could not guard on data-dependent expression Eq\(u\d+, 0\)", first), first
    assert re.fullmatch(r"Caused by: \(_refs/__init__\.py:NNN in unbind\)", caused_by), caused_by
    assert call == "for expert_idx in expert_hit:", call

# %%
# ``grouped_mm``, the default, exports with a dynamic batch and sequence, and the program
# matches eager on new shapes, one token included. Its graph holds an operator of
# transformers' own, ``transformers.grouped_mm_fallback``, kept as one node:

mixtral.set_experts_implementation("grouped_mm")
ep = torch.export.export(logits, (ids,), dynamic_shapes=spec, strict=False)
with torch.no_grad():
    check_against_eager(ep, logits, new_ids)
custom_ops = sorted({str(n.target) for n in ep.graph.nodes if str(n.target).startswith("transformers.")})
print(custom_ops)
assert custom_ops == ["transformers.grouped_mm_fallback.default"], custom_ops

# %%
# The ONNX exporter has no translation for that operator and stops at its last step, the
# conversion (the exception summary at the end of its message):

try:
    torch.onnx.export(ep, dynamo=True, verbose=False)
    raise AssertionError("Mixtral's grouped_mm experts now convert to ONNX: update this recipe")
except torch.onnx.OnnxExporterError as e:  # its ConversionError
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # without the terminal's colours
    summary = message.split("## Exception summary")[1].strip().split(". Failure message")[0]
    print(message.split(" Next steps")[0] + "\n...\n" + summary)
    assert "This is step 3/3 of exporting the model to ONNX" in message, message
    assert "No ONNX function found for <OpOverload(op='transformers.grouped_mm_fallback'" in summary, summary

# %%
# ``batched_mm`` computes the (token, expert) pairs with a batched matrix product (``bmm``),
# and no operator of transformers' own. It exports with a dynamic batch and sequence,
# converts to ONNX, and both match eager on new shapes:

mixtral.set_experts_implementation("batched_mm")
ep = torch.export.export(logits, (ids,), dynamic_shapes=spec, strict=False)
targets = {str(n.target) for n in ep.graph.nodes}
assert "aten.bmm.default" in targets and not any(t.startswith("transformers.") for t in targets), targets
onnx_program = torch.onnx.export(ep, dynamo=True, verbose=False, output_names=["logits"])
with torch.no_grad():
    check_against_eager(ep, logits, new_ids)
    check_onnx_against_eager(onnx_program, logits, new_ids)

# %%
# In short
# --------
#
# A ``for`` loop over the rows of a tensor whose length comes from values (``nonzero``,
# ``unique``, a boolean mask) cannot be traced: export fails in ``unbind`` with a question on
# a ``u`` symbol, whatever the dynamic shapes say. Loop over a number known when the model is
# written (every expert), and let each iteration work on a selection that may be empty. With
# Mixtral in transformers 5.23.0, keep the default ``grouped_mm`` for ``torch.export``, and
# choose ``set_experts_implementation("batched_mm")`` for ONNX; ``eager`` fails in ``unbind``
# as the report's export did. Where a model's MoE block loops over the experts hit, as in the
# report, rewrite that loop over every expert, as ``LoopOverAllExperts`` does above.
