"""
.. _recipe-transformers-executorch-static-cache:

transformers' own export helpers: ``TorchExportableModuleForDecoderOnlyLM`` and its static cache
================================================================================================

transformers ships wrappers that make a decoder exportable, in
``transformers.integrations.executorch`` (written for ExecuTorch, PyTorch's on-device runtime).
``TorchExportableModuleForDecoderOnlyLM`` wraps the model with a ``StaticCache``: a cache of
fixed size, allocated once for a given batch size and maximum length, kept *inside* the module,
and written at the positions ``cache_position`` names. The exported program then takes only the
new tokens and their positions.

This recipe runs it on the real ``LlamaForCausalLM`` of transformers, built from a tiny
configuration (random weights, nothing downloaded), and shows what it requires, which
dimensions stay dynamic, and where it stops: compared with the cache passed as tensors by hand
(:ref:`recipe-transformers-llama-cache-tensors`).
"""

import re

import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM
from transformers.integrations.executorch import TorchExportableModuleForDecoderOnlyLM

Dim = torch.export.Dim

torch.manual_seed(0)
config = LlamaConfig(
    vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
    num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
)
model = LlamaForCausalLM(config).eval()
MAX_CACHE = 32

# %%
# What the helper requires
# ------------------------
#
# The model's generation configuration must ask for a static cache; a model built from a
# configuration has none set:

print(f"cache_implementation: {model.generation_config.cache_implementation}")
assert model.generation_config.cache_implementation is None

# %%
# and the helper refuses it:

try:
    TorchExportableModuleForDecoderOnlyLM(model, batch_size=1, max_cache_len=MAX_CACHE)
except AssertionError as e:
    print(e)
    assert "must use a 'static' caching implementation" in str(e), e
else:
    raise AssertionError("the helper now accepts a model without a static cache: update this recipe")

model.generation_config.cache_implementation = "static"
exportable = TorchExportableModuleForDecoderOnlyLM(model, batch_size=1, max_cache_len=MAX_CACHE)
print(type(exportable.model).__name__)
keys = exportable.model.key_cache_0
print(f"layer 0's key cache: {tuple(keys.shape)}")
assert keys.shape == (1, config.num_key_value_heads, MAX_CACHE, config.hidden_size // config.num_attention_heads)

# %%
# The cache is allocated now, for a batch of 1 and 32 positions, and registered as buffers of
# the wrapper. Its ``export`` method calls ``torch.export.export`` with ``strict=True`` unless
# told otherwise; ``strict=False`` is used here (see
# :ref:`sphx_glr_auto_recipes_getting_started_plot_strict_vs_non_strict.py`).
#
# Without ``dynamic_shapes``: one prompt length
# ---------------------------------------------
#
# By default the helper passes no ``dynamic_shapes``: every size is the example's. A prompt of 3
# tokens exports a program for 3 tokens, which refuses a decode step of one:

prompt = torch.tensor([[5, 17, 42]])
with torch.no_grad():  # as in generation
    ep = exportable.export(input_ids=prompt, cache_position=torch.arange(3), strict=False)
print(ep.graph_signature.user_inputs, ep.range_constraints)
assert ep.graph_signature.user_inputs == ("input_ids", "cache_position") and ep.range_constraints == {}

# %%
# No range: nothing is dynamic. A decode step of one token is refused. Run as a script (as this
# page was), the program's input check raises a ``RuntimeError`` that names the expected size;
# in a Jupyter kernel (this page's notebook), it is the ``AssertionError`` of a guard:

try:
    ep.module()(input_ids=torch.tensor([[77]]), cache_position=torch.tensor([3]))
except (RuntimeError, AssertionError) as e:
    print(e)
    assert ("Expected input at 'input_ids'.shape[1] to be equal to 3, but got 1" in str(e)
            or str(e).startswith("Guard failed: input_ids.size()[1] == 3")), e
else:
    raise AssertionError("a static program now takes one token: update this recipe")

# %%
# The program's only inputs are the tokens and their positions: the cache is state inside it.
#
# With a dynamic number of new tokens
# -----------------------------------
#
# ``dynamic_shapes`` is passed through: the number of new tokens, shared by ``input_ids`` and
# ``cache_position``, can vary up to the cache's size. The batch cannot: the cache was
# allocated for a batch of 1.

seq = Dim("seq", max=MAX_CACHE - 1)
with torch.no_grad():
    ep = exportable.export(
        input_ids=prompt, cache_position=torch.arange(3), strict=False,
        dynamic_shapes={"input_ids": {1: seq}, "cache_position": {0: seq}},
    )
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == [f"VR[0, {MAX_CACHE - 1}]"], ep.range_constraints

# %%
# The same program serves the prefill (3 tokens at positions 0-2) and each decode step (one token
# at the next position), keeping the cache between calls. It generates what eager generates
# with a ``DynamicCache``:


def greedy_with_program(module, prompt, new_tokens):
    tokens, position = [], prompt.shape[1]
    with torch.no_grad():
        logits = module(input_ids=prompt, cache_position=torch.arange(position))
        for _ in range(new_tokens):
            tokens.append(int(logits[0, -1].argmax()))
            logits = module(input_ids=torch.tensor([[tokens[-1]]]), cache_position=torch.tensor([position]))
            position += 1
    return tokens


def greedy_eager(model, prompt, new_tokens):
    tokens, ids, cache = [], prompt, DynamicCache()
    with torch.no_grad():
        for _ in range(new_tokens):
            ids = model(input_ids=ids, past_key_values=cache, use_cache=True).logits[:, -1:].argmax(dim=-1)
            tokens.append(ids.item())
    return tokens


program_tokens = greedy_with_program(ep.module(), prompt, new_tokens=5)
eager_tokens = greedy_eager(model, prompt, new_tokens=5)
print(f"exported program: {program_tokens}\n           eager: {eager_tokens}")
assert program_tokens == eager_tokens

# %%
# To ONNX: it stops at the decomposition
# --------------------------------------
#
# ``torch.onnx.export`` accepts the exported program, and fails at its second step, the
# decomposition of the graph, on an internal assertion of PyTorch (the exception summary at
# the end of its message):

try:
    torch.onnx.export(ep, dynamo=True, verbose=False)
    raise AssertionError("the static-cache program now converts to ONNX: update this recipe")
except torch.onnx.OnnxExporterError as e:  # its ConversionError
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # without the terminal's colours
    print(message.split(" Next steps")[0] + "\n...\n" + message.split("## Exception summary")[1].split("(Refer")[0].strip())
    assert "Failed to decompose the FX graph for ONNX compatibility. This is step 2/3" in message, message
    assert "AssertionError'>: expected compiled_fn to be GraphModule" in message, message

# %%
# When to use which: ``TorchExportableModuleForDecoderOnlyLM`` is the shortest way to a program
# whose cache lives inside it, for a fixed batch and a fixed maximum length, for runtimes that
# keep state (ExecuTorch, or ``ep.module()`` as above); only the number of new tokens is
# dynamic. For ONNX, for a dynamic batch, or to hand the cache to the caller, pass the cache as
# tensors in and out: :ref:`recipe-transformers-llama-cache-tensors`.
