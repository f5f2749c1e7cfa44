"""
.. _recipe-decoder-llm-kv-cache:

A decoder-only language model with a KV cache: one program for the prompt and every new token
=============================================================================================

A language model is called two ways when it generates text. The *prefill* call reads the whole
prompt (batch ``B``, ``L`` tokens) with an empty cache; each *decode* call reads one new token
and the cache of everything before it, and returns the cache grown by one position. People export
the model once and want that one program, and one ONNX model, to serve both calls, for any batch
size, prompt length and cache length.

This recipe builds a small decoder in plain PyTorch with the usual pieces of one (token
embedding, rotary position embedding, ``scaled_dot_product_attention`` with a causal mask, RMSNorm
and an MLP, a key/value cache per layer passed in and returned), exports it with the batch, the
number of new tokens and the cache length dynamic, then generates a few tokens with eager, with
the exported program and with onnxruntime, feeding each call the cache the previous one returned.

The model
---------

The caches of the layers are stacked in two tensors of shape (layers, batch, heads, cache length,
head size), one for the keys and one for the values, so that every input is a plain tensor
(libraries often keep the cache in an object, see
:ref:`sphx_glr_auto_recipes_structured_inputs_plot_custom_cache_class.py`). The
positions of the new tokens, their rotary angles and the causal mask are computed from the two
lengths, ``past`` (the cache) and ``seq`` (the new tokens). The model takes no attention mask and
no position ids, so every sequence of a batch has the same length: prompts of different lengths
cannot be padded into one batch and run correctly. This recipe is about the dynamic sizes, not
about padding.
"""

import inspect
import time
import warnings

import numpy as np
import onnxruntime
import torch
import torch.nn.functional as F

Dim = torch.export.Dim
VOCAB, HIDDEN, HEADS, LAYERS = 64, 32, 2, 2
HEAD_DIM = HIDDEN // HEADS


class RotaryEmbedding(torch.nn.Module):
    def __init__(self, head_dim, base=10000.0):
        super().__init__()
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions):
        angles = positions.float()[:, None] * self.inv_freq[None, :]
        angles = torch.cat([angles, angles], dim=-1)
        return angles.cos(), angles.sin()


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class DecoderBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.attention_norm = torch.nn.RMSNorm(HIDDEN)
        self.qkv = torch.nn.Linear(HIDDEN, 3 * HIDDEN, bias=False)
        self.attention_out = torch.nn.Linear(HIDDEN, HIDDEN, bias=False)
        self.mlp_norm = torch.nn.RMSNorm(HIDDEN)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(HIDDEN, 4 * HIDDEN), torch.nn.SiLU(), torch.nn.Linear(4 * HIDDEN, HIDDEN)
        )

    def forward(self, h, cos, sin, mask, past_key, past_value):
        batch, seq, _ = h.shape
        qkv = self.qkv(self.attention_norm(h)).view(batch, seq, 3, HEADS, HEAD_DIM)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (batch, heads, seq, head size)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        key = torch.cat([past_key, k], dim=2)
        value = torch.cat([past_value, v], dim=2)
        attended = F.scaled_dot_product_attention(q, key, value, attn_mask=mask)
        h = h + self.attention_out(attended.transpose(1, 2).reshape(batch, seq, HIDDEN))
        return h + self.mlp(self.mlp_norm(h)), key, value


class TinyDecoderLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, HIDDEN)
        self.rotary = RotaryEmbedding(HEAD_DIM)
        self.blocks = torch.nn.ModuleList(DecoderBlock() for _ in range(LAYERS))
        self.norm = torch.nn.RMSNorm(HIDDEN)
        self.lm_head = torch.nn.Linear(HIDDEN, VOCAB, bias=False)

    def forward(self, input_ids, past_keys, past_values):
        past, seq = past_keys.shape[3], input_ids.shape[1]
        positions = torch.arange(past, past + seq)
        cos, sin = self.rotary(positions)
        # New token i (at position past + i) sees the whole cache and the new tokens up to itself.
        mask = torch.arange(past + seq)[None, :] <= positions[:, None]
        h = self.embed(input_ids)
        keys, values = [], []
        for layer, block in enumerate(self.blocks):
            h, key, value = block(h, cos, sin, mask, past_keys[layer], past_values[layer])
            keys.append(key)
            values.append(value)
        return self.lm_head(self.norm(h)), torch.stack(keys), torch.stack(values)


def decoder_inputs(batch, seq, past):
    """``seq`` new tokens for each of ``batch`` sequences, and a cache of ``past`` positions."""
    cache_shape = (LAYERS, batch, HEADS, past, HEAD_DIM)
    return torch.randint(0, VOCAB, (batch, seq)), torch.randn(cache_shape), torch.randn(cache_shape)


torch.manual_seed(0)
model = TinyDecoderLM().eval()

# %%
# Helpers: the checks against eager, the ONNX dimensions, and a timer
# -------------------------------------------------------------------


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


def onnx_dims(model_proto):
    """The dims of the graph's inputs and outputs: a name (``dim_param``) or a size (``dim_value``)."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    graph = model_proto.graph
    return {vi.name: dims(vi) for vi in [*graph.input, *graph.output]}


def single_thread_session(onnx_program):
    """An onnxruntime session on the CPU that computes on one thread, for timings."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def onnxruntime_call(session):
    """``session`` called like the model: torch tensors in, a tuple of torch tensors out."""
    names = [node.name for node in session.get_inputs()]

    def call(*inputs):
        outputs = session.run(None, {name: tensor.numpy() for name, tensor in zip(names, inputs, strict=True)})
        return tuple(torch.from_numpy(output) for output in outputs)

    return call


def print_timings(runtimes, cases, repeat=10):
    """The fastest of ``repeat`` calls of each runtime on each case's inputs, in ms, torch on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        print(f"{'':<30}" + "".join(f"{name:>18}" for name in runtimes))
        with torch.no_grad():
            for label, inputs in cases.items():
                row = []
                for function in runtimes.values():
                    function(*inputs)  # warm up
                    times = []
                    for _ in range(repeat):
                        start = time.perf_counter()
                        function(*inputs)
                        times.append(time.perf_counter() - start)
                    row.append(1000 * min(times))
                print(f"{label:<30}" + "".join(f"{milliseconds:>15.2f} ms" for milliseconds in row))
    finally:
        torch.set_num_threads(threads)


# %%
# The causal mask must account for the cache
# ------------------------------------------
#
# ``scaled_dot_product_attention(..., is_causal=True)`` looks like the causal mask the model
# needs, but it aligns the mask to the top-left corner: query ``i`` sees keys ``0..i``. That is
# right for a prompt with an empty cache, and wrong for a decode step, where the one query is the
# last position and must see every key. With one query and 5 keys, ``is_causal=True`` attends to
# the first key only:

q, k, v = torch.randn(1, HEADS, 1, HEAD_DIM), torch.randn(1, HEADS, 5, HEAD_DIM), torch.randn(1, HEADS, 5, HEAD_DIM)
top_left = F.scaled_dot_product_attention(q, k, v, is_causal=True)
torch.testing.assert_close(top_left, F.scaled_dot_product_attention(q, k[:, :, :1], v[:, :, :1]))
assert not torch.allclose(top_left, F.scaled_dot_product_attention(q, k, v))
print("is_causal=True with 1 query and 5 keys attends to the first key only")

# %%
# That is why the model builds its own boolean mask from the positions, ``key position <= past +
# i`` for new token ``i``, and passes it as ``attn_mask``.
#
# The spec: three dimensions and how they are tied
# ------------------------------------------------
#
# Three sizes vary: the batch, the number of new tokens (the prompt length at prefill, 1 when
# decoding) and the cache length (0 at prefill). The spec says how the inputs share them: one
# ``batch`` for the tokens and both caches, one ``past`` for the keys and the values. The cache
# that comes out has ``past + seq`` positions; export infers that (a spec could not write it: two
# ``Dim`` objects cannot be added, see :ref:`sphx_glr_auto_recipes_constraints_plot_dx_plus_dy.py`).
#
# The example has 3 new tokens and 4 cached positions, not the 1 token and empty cache of a real
# call: export would read those sizes as constants, see
# :ref:`sphx_glr_auto_recipes_structured_inputs_plot_decoder_step_kv_cache.py`.

batch, seq, past = Dim("batch"), Dim("seq"), Dim("past")
spec = {
    "input_ids": {0: batch, 1: seq},
    "past_keys": {1: batch, 3: past},
    "past_values": {1: batch, 3: past},
}
print(spec)

example = decoder_inputs(batch=2, seq=3, past=4)
ep = torch.export.export(model, example, dynamic_shapes=spec)
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[0, int_oo]"] * 3, ep.range_constraints

# %%
# One range per ``Dim``, each from 0 (a named ``Dim`` starts at 0), so the prefill call with its
# empty cache and the decode call with one token are both inside them. The shapes of the inputs
# and outputs in the graph show how the symbols are tied:

placeholders = {node.name: node.meta["val"].shape for node in ep.graph.find_nodes(op="placeholder")}
logits_shape, keys_shape, values_shape = (node.meta["val"].shape for node in ep.graph.output_node().args[0])
print(f"input_ids {list(placeholders['input_ids'])}, past_keys {list(placeholders['past_keys'])}")
print(f"logits {list(logits_shape)}, present keys {list(keys_shape)}")
batch_symbol, seq_symbol = placeholders["input_ids"]
past_symbol = placeholders["past_keys"][3]
assert [str(d) for d in placeholders["past_values"]] == [str(d) for d in placeholders["past_keys"]]
assert str(placeholders["past_keys"][1]) == str(batch_symbol)
assert keys_shape[3].node.expr == past_symbol.node.expr + seq_symbol.node.expr, keys_shape
assert str(values_shape) == str(keys_shape) and str(logits_shape[1]) == str(seq_symbol)

# %%
# The present cache is ``past + seq`` long. The program matches eager on a one-token prompt,
# on prefills with an empty cache, and on decode steps with short and long caches:

new_input_sets = [
    decoder_inputs(batch=1, seq=1, past=0),
    decoder_inputs(batch=3, seq=6, past=0),
    decoder_inputs(batch=1, seq=1, past=7),
    decoder_inputs(batch=4, seq=1, past=2),
]
check_against_eager(ep, model, new_input_sets)

# %%
# The same spec for ONNX
# ----------------------
#
# ``torch.onnx.export`` takes the model, the example and the same ``dynamic_shapes``
# (``dynamo=True`` is the default in this version, written here to be explicit). The names of the
# ``Dim`` objects become the names of the ONNX dimensions. The exporter warns once per name shared
# by several inputs; the warning is harmless (see
# :ref:`sphx_glr_auto_recipes_onnx_plot_onnx_dimension_names.py`) and is only checked here.

assert inspect.signature(torch.onnx.export).parameters["dynamo"].default is True
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    onnx_program = torch.onnx.export(
        model,
        example,
        dynamic_shapes=spec,
        dynamo=True,
        verbose=False,
        output_names=["logits", "present_keys", "present_values"],
    )
axis_warnings = {str(w.message).split(" will not be used")[0] for w in caught if "axis name" in str(w.message)}
assert axis_warnings == {"# The axis name: batch", "# The axis name: past"}, axis_warnings

dims = onnx_dims(onnx_program.model_proto)
print(dims)
cache_dims = [LAYERS, "batch", HEADS, "past", HEAD_DIM]
assert dims == {
    "input_ids": ["batch", "seq"],
    "past_keys": cache_dims,
    "past_values": cache_dims,
    "logits": ["batch", "seq", VOCAB],
    "present_keys": [LAYERS, "batch", HEADS, "past + seq", HEAD_DIM],
    "present_values": [LAYERS, "batch", HEADS, "past + seq", HEAD_DIM],
}, dims
check_onnx_against_eager(onnx_program, model, new_input_sets)

# %%
# The output caches are named ``past + seq``, an expression of the input names. It is only a
# label: onnxruntime computes the real sizes, as it does for the empty caches (a dimension of
# size 0) above.
#
# Generating: one prefill, then decode steps, with each runtime
# -------------------------------------------------------------
#
# Greedy generation: the prefill reads a prompt of 6 tokens with empty caches, then each decode
# step reads the token chosen at the previous step and the caches the previous call returned.


def generate(step, prompt, calls):
    """Run ``calls`` calls of ``step`` (the prefill, then decode steps); the chosen tokens and logits."""
    empty_cache = torch.zeros(LAYERS, prompt.shape[0], HEADS, 0, HEAD_DIM)
    input_ids, keys, values = prompt, empty_cache, empty_cache
    tokens, all_logits = [], []
    with torch.no_grad():
        for _ in range(calls):
            logits, keys, values = step(input_ids, keys, values)
            input_ids = logits[:, -1:].argmax(dim=-1)
            tokens.append(input_ids)
            all_logits.append(logits)
    return torch.cat(tokens, dim=1), all_logits, tuple(keys.shape)


prompt = torch.randint(0, VOCAB, (2, 6))
exported_step, onnx_step = ep.module(), onnxruntime_call(onnx_session(onnx_program))
runs = {
    "eager": generate(model, prompt, calls=5),
    "exported program": generate(exported_step, prompt, calls=5),
    "onnxruntime": generate(onnx_step, prompt, calls=5),
}
for name, (tokens, all_logits, final_cache_shape) in runs.items():
    print(f"{name:>16}: tokens {tokens.tolist()}, final cache {final_cache_shape}")
    torch.testing.assert_close(tokens, runs["eager"][0], rtol=0, atol=0)
    torch.testing.assert_close(all_logits, runs["eager"][1], rtol=1e-4, atol=1e-5)
assert runs["onnxruntime"][2] == (LAYERS, 2, HEADS, 6 + 4, HEAD_DIM)

# %%
# The three runtimes choose the same tokens with the same logits at every call. After the prefill
# and 4 decode steps the cache holds 10 positions: the 6 of the prompt and the 4 tokens fed back
# (the 5th chosen token was not fed).
#
# How long each runtime takes
# ---------------------------
#
# The fastest of 10 calls, for a prefill and for a decode step of a batch of 2, on one CPU
# thread (``torch.set_num_threads(1)``, and ``intra_op_num_threads = 1`` for onnxruntime),
# so that the numbers compare the runtimes rather than their thread pools. They come from the
# machine that built this page and change from run to run; they are printed, not checked.

runtimes = {
    "eager": model,
    "exported program": exported_step,
    "onnxruntime": onnxruntime_call(single_thread_session(onnx_program)),
}
print_timings(runtimes, {
    "prefill: 32 tokens, no cache": decoder_inputs(batch=2, seq=32, past=0),
    "decode: 1 token, cache of 32": decoder_inputs(batch=2, seq=1, past=32),
})
assert isinstance(exported_step, torch.fx.GraphModule)

# %%
# ``ep.module()`` is a ``torch.fx.GraphModule`` that calls the traced ATen operations one by one
# from Python, after checking the input shapes; onnxruntime runs the ONNX graph. A model this
# small says little about a real one: time your own model at its real sizes.
#
# In short: mark the batch, the number of new tokens and the cache length dynamic with named
# ``Dim`` objects shared by the inputs that have them, export with an example where every one
# of them is 2 or more, and build the causal mask from the cache length rather than with
# ``is_causal=True``. One program, and one ONNX model, then serve the prefill and every decode
# step, for batches of sequences of equal length (see the note on padding at the top).

# %%
# The real model
# --------------
#
# This decoder is built by hand. The same steps with the real ``LlamaForCausalLM`` of Hugging Face
# transformers (built from a tiny configuration) are in the transformers section: its
# ``DynamicCache`` error and the ways past it,
# :ref:`recipe-transformers-llama-dynamic-cache`; the cache as tensors for prefill and decode,
# :ref:`recipe-transformers-llama-cache-tensors`; a batch of left-padded prompts generated by
# three runtimes, :ref:`recipe-transformers-llama-left-padding-greedy`; and transformers' own
# static-cache helper, :ref:`recipe-transformers-executorch-static-cache`.
