"""
.. _recipe-transformers-llama-dynamic-cache:

Found ``DynamicCache`` in output, which is not a known type: exporting a Llama model
====================================================================================

The first thing many people try with a language model from Hugging Face transformers is the
obvious call: the model, its two inputs, the batch and the sequence dynamic. With a
``LlamaForCausalLM`` on torch 2.15 it fails with::

    RuntimeError: Found <class 'transformers.cache_utils.DynamicCache'> in output, which is not a
    known type. If this type holds tensors, you need to register a pytree for it.

This recipe runs the real ``LlamaForCausalLM`` of transformers, built from a tiny configuration
(random weights, nothing downloaded), shows that error, explains it, and takes two ways past it:
no cache at all (``use_cache=False``), exported to ONNX and checked in onnxruntime; and
transformers' own helper that teaches ``torch.export`` what a ``DynamicCache`` holds. The third
way, the cache as plain tensors in and out (what a generation loop needs), is
:ref:`recipe-transformers-llama-cache-tensors`.

The model
---------
"""

import warnings

import numpy as np
import onnxruntime
import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM
from transformers.integrations.executorch import register_dynamic_cache_export_support

Dim = torch.export.Dim

torch.manual_seed(0)
config = LlamaConfig(
    vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
    num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
)
model = LlamaForCausalLM(config).eval()
print(f"{sum(p.numel() for p in model.parameters())} parameters, use_cache={config.use_cache}")


def llama_inputs(batch, seq):
    """Token ids and an attention mask of ones for ``batch`` sequences of ``seq`` tokens."""
    return {
        "input_ids": torch.randint(0, config.vocab_size, (batch, seq)),
        "attention_mask": torch.ones(batch, seq, dtype=torch.int64),
    }


example = llama_inputs(batch=2, seq=8)
new_input_sets = [llama_inputs(1, 5), llama_inputs(3, 17), llama_inputs(4, 1)]
batch, seq = Dim("batch", max=64), Dim("seq", max=128)
spec = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}

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


# %%
# The obvious export, and its error
# ---------------------------------
#
# In eager mode the model returns the logits and, since ``use_cache`` is on by default, the keys
# and values of every layer in a ``DynamicCache``, ready for the next call:

with torch.no_grad():
    eager_output = model(**example)
print(type(eager_output).__name__, list(eager_output.keys()), type(eager_output.past_key_values).__name__)
assert isinstance(eager_output.past_key_values, DynamicCache)

# %%
# Exported with the batch and the sequence dynamic, it fails:

try:
    torch.export.export(model, (), kwargs=example, dynamic_shapes=spec)
    raise AssertionError("a DynamicCache output now exports: update this recipe")
except RuntimeError as e:
    print(str(e).split(" See https")[0])
    assert "Found <class 'transformers.cache_utils.DynamicCache'> in output, which is not a known type" in str(e), e

# %%
# How to read it: ``torch.export`` flattens the inputs and the outputs into lists of tensors with
# ``torch.utils._pytree`` (its tuples, lists, dicts, and the classes registered with it). The
# model's output, a ``CausalLMOutputWithPast``, is registered by transformers, but the
# ``DynamicCache`` inside it is not, so export does not know which tensors it holds. The error
# names the type and the way out: register it, or do not return it. The table of registered
# types is ``torch.utils._pytree.SUPPORTED_NODES`` (a private name):

registered = torch.utils._pytree.SUPPORTED_NODES
assert type(eager_output) in registered and DynamicCache not in registered
print(f"{type(eager_output).__name__} registered: True, DynamicCache registered: False")

# %%
# Way 1: no cache
# ---------------
#
# A model that scores whole sequences (a classifier head on a language model, a perplexity
# computation, a reranker) does not need the cache. ``use_cache=False`` in the call (or in the
# configuration) makes the model return the logits only:

no_cache = {**example, "use_cache": False}
no_cache_spec = {**spec, "use_cache": None}
ep = torch.export.export(model, (), kwargs=no_cache, dynamic_shapes=no_cache_spec)
print(ep.range_constraints)
assert sorted(str(r) for r in ep.range_constraints.values()) == ["VR[0, 128]", "VR[0, 64]"], ep.range_constraints
check_against_eager_with_kwargs(ep, model, [((), {**inputs, "use_cache": False}) for inputs in new_input_sets])

# %%
# Two ranges, one per ``Dim``, from 0 to its ``max``: ``input_ids`` and ``attention_mask``
# share both. ``use_cache=False`` is a Python ``bool``: export traced the branch it selects,
# and its entry in ``dynamic_shapes`` is ``None`` (see
# :ref:`sphx_glr_auto_recipes_structured_inputs_plot_int_float_inputs.py`).
#
# The same call exports to ONNX. The inputs passed by name go in ``kwargs=``: the third
# positional parameter of ``torch.onnx.export`` is ``f``, the file. The ONNX inputs keep the
# names of the arguments. The dimensions should take the names of the ``Dim`` objects, but the
# exporter warns that it did not rename them:

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    onnx_program = torch.onnx.export(
        model, (), kwargs=no_cache, dynamic_shapes=no_cache_spec, dynamo=True, verbose=False, output_names=["logits"],
    )
messages = [str(w.message) for w in caught if "renamed" in str(w.message)]
print(messages)
assert messages == [
    "# ONNX model has different number of inputs than the flatten dynamic_shapes. The dynamic axes will not be renamed."
], messages


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


dims = onnx_dims(onnx_program.model_proto)
print(dims)
batch_symbol, seq_symbol = dims["input_ids"]
assert dims == {
    "input_ids": [batch_symbol, seq_symbol], "attention_mask": [batch_symbol, seq_symbol],
    "logits": [batch_symbol, seq_symbol, config.vocab_size],
}, dims
assert batch_symbol != "batch" and seq_symbol != "seq"

# %%
# The flattened ``dynamic_shapes`` has three entries (``use_cache`` has its ``None``), the ONNX
# model two inputs (a ``bool`` is not a tensor input): the exporter gives up renaming, and the
# dimensions keep export's symbols. The model is right, the names are not; rename them after
# the export with ``ONNXProgram.rename_axes``, from the symbols the model has:

onnx_program.rename_axes({batch_symbol: "batch", seq_symbol: "seq"})
dims = onnx_dims(onnx_program.model_proto)
print(dims)
assert dims == {
    "input_ids": ["batch", "seq"], "attention_mask": ["batch", "seq"], "logits": ["batch", "seq", config.vocab_size],
}, dims
check_onnx_against_eager_by_name(onnx_program, lambda **inputs: (model(**inputs, use_cache=False).logits,), new_input_sets)

# %%
# Way 2: register the cache with ``torch.utils._pytree``
# -------------------------------------------------------
#
# transformers ships the registration in
# ``transformers.integrations.executorch.register_dynamic_cache_export_support``: it tells
# ``torch.export`` how to flatten a ``DynamicCache`` into its key and value tensors and how to
# build one back. After it, the first export succeeds, and the exported program returns a
# ``DynamicCache`` again:

register_dynamic_cache_export_support()
assert DynamicCache in torch.utils._pytree.SUPPORTED_NODES
ep = torch.export.export(model, (), kwargs=example, dynamic_shapes=spec)
print(ep.call_spec.out_spec)
output = ep.module()(**new_input_sets[1])
assert isinstance(output.past_key_values, DynamicCache)
with torch.no_grad():
    for inputs in new_input_sets:
        got, expected = ep.module()(**inputs), model(**inputs)
        torch.testing.assert_close(got.logits, expected.logits)
        for got_layer, expected_layer in zip(got.past_key_values.layers, expected.past_key_values.layers, strict=True):
            torch.testing.assert_close((got_layer.keys, got_layer.values), (expected_layer.keys, expected_layer.values))
print(f"logits and cache match eager on {len(new_input_sets)} new input sets")
layer_keys = output.past_key_values.layers[0].keys
print(f"layer 0 keys for a batch of 3 and 17 tokens: {tuple(layer_keys.shape)}")
assert layer_keys.shape == (3, config.num_key_value_heads, 17, config.hidden_size // config.num_attention_heads)

# %%
# The output's structure (``out_spec``) shows the cache as two lists, ``key_cache`` and
# ``value_cache``, one tensor per layer, each (batch, key/value heads, sequence, head size).
# The registration uses private functions of ``torch.utils._pytree`` (transformers calls them,
# not the recipe), and it changes a process-wide table: every later export in the process sees
# it. It lets the cache come *out*; to feed a cache back *in* for the next token with dynamic
# lengths, and to get an ONNX model whose inputs and outputs are plain tensors, pass the cache as
# tensors: :ref:`recipe-transformers-llama-cache-tensors`.
