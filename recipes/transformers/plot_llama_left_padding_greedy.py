"""
.. _recipe-transformers-llama-left-padding-greedy:

Prompts of different lengths in one batch: left padding, ``attention_mask`` and ``position_ids`` in an exported Llama
=====================================================================================================================

A server batches prompts of different lengths. A decoder generates at the end of each row, so the
rows are padded on the left, the ``attention_mask`` marks the padding with zeros, and the
``position_ids`` count each row's own tokens, not the padding. With the exported program or the
ONNX model, all three are plain inputs that the caller must build right at every step.

This recipe runs the real ``LlamaForCausalLM`` of transformers, built from a tiny configuration
(random weights, nothing downloaded), through the one-step program of
:ref:`recipe-transformers-llama-cache-tensors` (the cache and its mask as tensors), and generates
greedily from a batch of three prompts with eager, the exported program and onnxruntime. Each
row gives the tokens its prompt gives alone, and the three runtimes agree at every step.

The model and the one-step wrapper
----------------------------------
"""

import onnxruntime
import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

Dim = torch.export.Dim

torch.manual_seed(0)
config = LlamaConfig(
    vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
    num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
)
model = LlamaForCausalLM(config).eval()
LAYERS, KV_HEADS = config.num_hidden_layers, config.num_key_value_heads
HEAD_DIM = config.hidden_size // config.num_attention_heads
PAD = 0


class Step(torch.nn.Module):
    """One call of ``model``: the cache and its mask in, the logits and the grown cache out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, past_mask, position_ids, past_keys, past_values):
        cache = DynamicCache([(past_keys[i], past_values[i]) for i in range(LAYERS)])
        out = self.model(input_ids=input_ids, attention_mask=torch.cat([past_mask, attention_mask], dim=1),
                         position_ids=position_ids, past_key_values=cache, use_cache=True)
        layers = out.past_key_values.layers
        return out.logits, torch.stack([layer.keys for layer in layers]), torch.stack([layer.values for layer in layers])


def onnx_session(onnx_program):
    """An onnxruntime session on the CPU for an ``ONNXProgram``."""
    return onnxruntime.InferenceSession(
        onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )


step = Step(model).eval()

# %%
# A batch of left-padded prompts
# ------------------------------
#
# Three prompts of 5, 2 and 3 tokens become a batch of 5 columns: padding on the left, a mask of
# zeros there, and positions that start at 0 on each row's first real token (the padding gets
# position 0 too; the mask hides it).

prompts = [[5, 17, 42, 9, 77], [3, 8], [100, 21, 60]]
width = max(len(prompt) for prompt in prompts)
input_ids = torch.tensor([[PAD] * (width - len(p)) + p for p in prompts])
attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
print(f"input_ids\n{input_ids}\nattention_mask\n{attention_mask}\nposition_ids\n{position_ids}")

# %%
# A row of the batch then gives, for its last token, the logits its prompt gives alone. Without
# ``position_ids``, ``LlamaModel`` numbers the columns (from the cache's length), so the second
# row's tokens sit at positions 3 and 4 instead of 0 and 1. For this model that changes nothing
# beyond rounding: its rotary embeddings make the attention scores depend on the distance between
# two positions only, and the mask hides the padding. In the decode steps below, each row
# continues from its own last position.

with torch.no_grad():
    batched = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids).logits[:, -1]
    unnumbered = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, -1]
    alone = torch.cat([model(input_ids=torch.tensor([p])).logits[:, -1] for p in prompts])
torch.testing.assert_close(batched, alone)
torch.testing.assert_close(unnumbered, alone)
print("every row matches its prompt alone, with or without position_ids")

# %%
# Export once, for every step
# ---------------------------
#
# The spec of :ref:`recipe-transformers-llama-cache-tensors`: ``batch``, ``seq`` (new tokens)
# and ``past`` (the cache) dynamic, the mask in two parts. The example has 3 new tokens and 4
# cached positions; the ONNX model is made from the exported program.


def step_inputs(batch, seq, past):
    cache = torch.randn(LAYERS, batch, KV_HEADS, past, HEAD_DIM)
    return {
        "input_ids": torch.randint(0, config.vocab_size, (batch, seq)),
        "attention_mask": torch.ones(batch, seq, dtype=torch.int64),
        "past_mask": torch.ones(batch, past, dtype=torch.int64),
        "position_ids": torch.arange(past, past + seq).repeat(batch, 1),
        "past_keys": cache,
        "past_values": cache.clone(),
    }


batch, seq, past = Dim("batch"), Dim("seq"), Dim("past")
spec = {
    "input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}, "past_mask": {0: batch, 1: past},
    "position_ids": {0: batch, 1: seq}, "past_keys": {1: batch, 3: past}, "past_values": {1: batch, 3: past},
}
ep = torch.export.export(step, (), kwargs=step_inputs(batch=2, seq=3, past=4), dynamic_shapes=spec)
onnx_program = torch.onnx.export(ep, dynamo=True, verbose=False, output_names=["logits", "present_keys", "present_values"])
session = onnx_session(onnx_program)
input_names = [node.name for node in session.get_inputs()]
assert input_names == list(spec), input_names


def onnxruntime_step(**inputs):
    outputs = session.run(None, {name: inputs[name].numpy() for name in input_names})
    return tuple(torch.from_numpy(output) for output in outputs)


# %%
# Greedy generation with each runtime
# -----------------------------------
#
# The prefill reads the padded prompts with an empty cache; each decode step reads the token
# chosen at the previous step, one more column of ones in the mask, the next position of each
# row, and the cache the previous call returned.


def generate(run_step, new_tokens):
    """The chosen tokens (batch, new_tokens) and each step's last logits (batch, new_tokens, vocab)."""
    rows = input_ids.shape[0]
    empty = torch.zeros(LAYERS, rows, KV_HEADS, 0, HEAD_DIM)
    inputs = {
        "input_ids": input_ids, "attention_mask": attention_mask, "past_mask": torch.zeros(rows, 0, dtype=torch.int64),
        "position_ids": position_ids, "past_keys": empty, "past_values": empty,
    }
    tokens, logits = [], []
    with torch.no_grad():
        for _ in range(new_tokens):
            step_logits, keys, values = run_step(**inputs)
            logits.append(step_logits[:, -1])
            tokens.append(step_logits[:, -1].argmax(dim=-1, keepdim=True))
            inputs = {
                "input_ids": tokens[-1],
                "attention_mask": torch.ones(rows, 1, dtype=torch.int64),
                "past_mask": torch.cat([inputs["past_mask"], inputs["attention_mask"]], dim=1),
                "position_ids": inputs["position_ids"][:, -1:] + 1,
                "past_keys": keys,
                "past_values": values,
            }
    return torch.cat(tokens, dim=1), torch.stack(logits, dim=1)


NEW_TOKENS, TOLERANCE = 6, 1e-4
runs = {"eager": generate(step, NEW_TOKENS), "exported program": generate(ep.module(), NEW_TOKENS),
        "onnxruntime": generate(onnxruntime_step, NEW_TOKENS)}
for name, (tokens, _) in runs.items():
    print(f"{name:>16}: {tokens.tolist()}")

# %%
# The logits of every step agree within ``TOLERANCE``. Random weights make near-ties, where two
# runtimes may choose differently within that tolerance and then go their own ways; so the tokens
# are compared where the top two logits of eager are more than ``TOLERANCE`` apart (here, all of
# them):

eager_tokens, eager_logits = runs["eager"]
top_two = eager_logits.topk(2, dim=-1).values
decided = (top_two[..., 0] - top_two[..., 1]) > TOLERANCE
print(f"smallest gap between the top two logits: {(top_two[..., 0] - top_two[..., 1]).min():.4f}")
for name, (tokens, logits) in runs.items():
    torch.testing.assert_close(logits, eager_logits, rtol=TOLERANCE, atol=TOLERANCE)
    assert torch.equal(tokens[decided], eager_tokens[decided]), name
assert decided.all()

# %%
# And each row of the batch generated what its prompt generates alone, with no padding, in eager:

for row, prompt in enumerate(prompts):
    ids, chosen = torch.tensor([prompt]), []
    cache = DynamicCache()
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            out = model(input_ids=ids, past_key_values=cache, use_cache=True)
            ids = out.logits[:, -1:].argmax(dim=-1)
            chosen.append(ids.item())
    assert chosen == eager_tokens[row].tolist(), (row, chosen)
print("each row's tokens are its prompt's alone")

# %%
# In short: pad on the left, mask the padding, give each row its own positions at the prefill
# and ``last position + 1`` at each step, and append a column of ones to the cache's mask after
# each call. The exported program and the ONNX model take all of it as plain tensors, and
# generate what eager generates.
