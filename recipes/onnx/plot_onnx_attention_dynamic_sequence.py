"""
.. _recipe-onnx-attention-dynamic-sequence:

Attention with a dynamic sequence length in ONNX: "only 4D query, key, and value are supported"
================================================================================================

``torch.nn.functional.scaled_dot_product_attention`` (SDPA) is the attention of most models
written today. Exporting it to ONNX with a dynamic sequence length goes wrong in two ways. SDPA
on 3-D tensors (batch, sequence, features) fails in the last step of the exporter with "only 4D
query, key, and value are supported". And a causal mask sliced from a buffer built for a
maximum length caps the sequence length, which the ONNX exporter does not report.

This recipe shows both, and ends with a multi-head attention whose causal and padding masks are
built from the inputs: onnxruntime matches eager on new batch sizes and sequence lengths,
including ones longer than the buffer was.

The helpers
-----------
"""

import re

import numpy as np
import onnxruntime
import torch
import torch.nn.functional as F

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


def tokens(batch, seq, padded=0):
    """Token ids and an attention mask (1 = token, 0 = padding) whose last row ends with padding."""
    mask = torch.ones(batch, seq, dtype=torch.int64)
    mask[-1, seq - padded :] = 0
    return torch.randint(0, 100, (batch, seq)), mask


torch.manual_seed(0)

# %%
# SDPA on 3-D tensors
# -------------------
#
# The smallest model: embeddings, then SDPA on them, as in pytorch/pytorch#152018.


class Embed3D(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = torch.nn.Embedding(100, 16)

    def forward(self, input_ids):
        e = self.embeddings(input_ids)
        return F.scaled_dot_product_attention(e, e, e)


input_ids, attention_mask = tokens(2, 8, padded=3)
embed_3d = Embed3D().eval()
assert embed_3d(input_ids).shape == (2, 8, 16)  # eager PyTorch runs SDPA on 3-D tensors
try:
    spec_3d = ({0: "batch", 1: "seq"},)
    torch.onnx.export(embed_3d, (input_ids,), dynamo=True, verbose=False, dynamic_shapes=spec_3d)
    raise AssertionError("3-D SDPA now exports to ONNX: update this recipe")
except torch.onnx.OnnxExporterError as e:
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # the message is colored for terminals
    print(message.splitlines()[0])
    summary = [line for line in message.splitlines() if line.startswith("<class 'AssertionError'>")]
    print(summary[0])
    assert message.startswith("Failed to convert the exported program to an ONNX model."), message
    assert "This is step 3/3 of exporting the model to ONNX." in message, message
    assert summary == ["<class 'AssertionError'>: only 4D query, key, and value are supported"], summary

# %%
# The exporter failed in step 3 of 3: ``torch.export`` captured the model, and the translation
# of SDPA to ONNX refused its input. The ONNX function that replaces SDPA only handles (batch,
# heads, sequence, features); eager PyTorch accepts 3-D tensors, the exporter does not. The exception is
# ``torch.onnx.OnnxExporterError``, and its message ends with a summary of the chain of errors, of
# which the line above is the first.
#
# The fix is to give SDPA a heads dimension: split the features into heads, as multi-head
# attention does, or ``unsqueeze(1)`` for a single head. The next models do the former.
#
# A causal mask sliced from a buffer
# ----------------------------------
#
# A decoder may build the causal mask once, for a maximum length, and slice it in ``forward``
# (``bias[:, :, :T, :T]``). The model also takes the attention mask of a padded batch:


class Attention(torch.nn.Module):
    def __init__(self, max_len=32):
        super().__init__()
        self.embeddings = torch.nn.Embedding(100, 16)
        self.qkv = torch.nn.Linear(16, 48)
        self.register_buffer("causal", torch.ones(max_len, max_len, dtype=torch.bool).tril())

    def causal_mask(self, seq):
        return self.causal[:seq, :seq]

    def forward(self, input_ids, attention_mask):
        batch, seq = input_ids.shape
        q, k, v = self.qkv(self.embeddings(input_ids)).split(16, dim=-1)
        q, k, v = (t.view(batch, seq, 2, 8).transpose(1, 2) for t in (q, k, v))  # 2 heads of 8
        padding = attention_mask.bool()[:, None, None, :]  # (batch, 1, 1, seq): keys to attend to
        mask = self.causal_mask(seq) & padding
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return out.transpose(1, 2).reshape(batch, seq, 16)


buffer_model = Attention().eval()
print(buffer_model(*tokens(3, 20, padded=2)).shape)

try:
    buffer_model(*tokens(1, 40))
    raise AssertionError("the buffer model now runs a sequence longer than its buffer: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e).startswith("The size of tensor a (32) must match the size of tensor b (40)"), e

# %%
# A sequence of 20 tokens works; one of 40, longer than the buffer, fails even in eager mode:
# ``self.causal[:40, :40]`` is the whole 32 x 32 buffer, which cannot be combined with the mask
# of 40 keys. The sequence length has a maximum that no ``dynamic_shapes`` can lift.
#
# ``torch.export.export`` with a named ``Dim`` finds that limit:

try:
    torch.export.export(buffer_model, (input_ids, attention_mask), dynamic_shapes=({1: Dim("seq")}, {1: Dim("seq")}))
    raise AssertionError("torch.export now accepts any length for the buffer model: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert str(e).startswith("Constraints violated (seq)!"), e
    assert "Suggested fixes:\n  seq = Dim('seq', max=32)" in str(e), e
    assert "satisfy the generated guard L['input_ids'].size()[1] != 32." in str(e), e

# %%
# (``torch._dynamo.exc.UserError`` is private; code you keep can catch ``RuntimeError``, its base
# class.) The message gives two conditions: the length is at most 32, and it is not 32. The
# suggested fix only takes the first into account, and fails on the second; ``max=31`` passes:

bounded = ({1: Dim("seq", max=31)}, {1: Dim("seq", max=31)})
try:
    torch.export.export(buffer_model, (input_ids, attention_mask), dynamic_shapes=({1: Dim("seq", max=32)},) * 2)
    raise AssertionError("the suggested max=32 now works: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).splitlines()[1])
    assert "satisfy the generated guard L['input_ids'].size()[1] != 32." in str(e), e
bounded_ep = torch.export.export(buffer_model, (input_ids, attention_mask), dynamic_shapes=bounded)
print([str(r) for r in bounded_ep.range_constraints.values()])
assert buffer_model(*tokens(2, 32)).shape == (2, 32, 16)  # eager runs the full buffer
try:
    bounded_ep.module()(*tokens(2, 32))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: input_ids.size()[1] <= 31", e
else:
    raise AssertionError("the bounded program now accepts 32 tokens: update this recipe")

# %%
# The program stops at 31 tokens where eager goes to 32. The condition "not 32" comes from the
# memory layout of the slice: ``causal[:seq, :seq]`` is contiguous only when it covers the whole
# buffer, and the trace, made with 8 tokens, followed the non-contiguous case:

assert buffer_model.causal[:32, :32].is_contiguous() and not buffer_model.causal[:8, :8].is_contiguous()

# %%
# A bound found by export is safe, not necessarily tight. The ONNX exporter does not stop on such
# a limit at all: it accepts specs that ``torch.export`` refuses, and an ONNX model does not check
# input sizes (both shown in :ref:`recipe-onnx-lenient-export-unchecked-shapes`), so the limit
# surfaces as an error inside onnxruntime, far from the slice:

buffer_program = torch.onnx.export(
    buffer_model, (input_ids, attention_mask), dynamo=True, verbose=False,
    dynamic_shapes=({0: "batch", 1: "seq"}, {0: "batch", 1: "seq"}),
)
print(onnx_dims(buffer_program.model_proto)["input_ids"])
check_onnx_against_eager(buffer_program, buffer_model, [tokens(2, 20, padded=2)])
long_ids, long_mask = tokens(1, 40)
try:
    onnx_session(buffer_program).run(None, {"input_ids": long_ids.numpy(), "attention_mask": long_mask.numpy()})
    raise AssertionError("the ONNX model of the buffer model now runs 40 tokens: update this recipe")
except onnxruntime.capi.onnxruntime_pybind11_state.Fail as e:
    message = str(e).strip()
    print(message.split(" Status Message:")[0], "...", message.rsplit(". ", 1)[-1])
    assert "Non-zero status code returned while running And node" in message, message
    assert message.endswith("32 by 40"), message

# %%
# The ONNX model has a dynamic sequence, runs 20 tokens as eager does, and fails on 40 in an
# ``And`` node, the ``&`` of the causal mask (32 rows, from the buffer) and the padding mask (40
# keys). (``onnxruntime.capi.onnxruntime_pybind11_state.Fail`` is onnxruntime's error class;
# onnxruntime also logs the message on stderr.) Run ``torch.export.export`` with named ``Dim``
# objects before converting: it is how to learn such limits.
#
# (The ``UserWarning`` lines printed above, "The axis name: batch will not be used" and the
# same for ``seq``, are harmless: two inputs share each name, and
# :ref:`recipe-onnx-dimension-names` explains them.)
#
# The fix: masks built from the inputs
# ------------------------------------
#
# Build the causal mask from the sequence length: ``torch.ones(seq, seq).tril()`` is traced with
# the symbolic ``seq`` and becomes ONNX operators that compute it at run time. Without a padding
# mask, ``is_causal=True`` gives the same attention inside SDPA:

q, k, v = torch.randn(3, 1, 2, 7, 8).unbind(0)
causal_7 = torch.ones(7, 7, dtype=torch.bool).tril()
with_flag = F.scaled_dot_product_attention(q, k, v, is_causal=True)
torch.testing.assert_close(with_flag, F.scaled_dot_product_attention(q, k, v, attn_mask=causal_7))


class DynamicMaskAttention(Attention):
    def causal_mask(self, seq):
        return torch.ones(seq, seq, dtype=torch.bool, device=self.causal.device).tril()


model = DynamicMaskAttention().eval()
model.load_state_dict(buffer_model.state_dict())
spec = ({0: "batch", 1: "seq"}, {0: "batch", 1: "seq"})
onnx_program = torch.onnx.export(
    model, (input_ids, attention_mask), dynamo=True, verbose=False, dynamic_shapes=spec, output_names=["out"]
)
dims = onnx_dims(onnx_program.model_proto)
print(dims)
assert dims == {"input_ids": ["batch", "seq"], "attention_mask": ["batch", "seq"], "out": ["batch", "seq", 16]}, dims
check_onnx_against_eager(onnx_program, model, [tokens(3, 5, padded=2), tokens(1, 40), tokens(2, 64, padded=10)])

# %%
# onnxruntime now matches eager on sequences of 5, 40 and 64 tokens, with and without padding.
# (The model keeps its buffer, unused, only so that the weights load from the first model.)
#
# What to look for in attention code before exporting it:
#
# * SDPA needs 4-D inputs for ONNX: (batch, heads, sequence, features).
# * A mask, a position table or a rotary cache sliced to the current length (``[:seq]``) works
#   up to the size of what is sliced, and the ONNX model does not check it. Build it from the
#   length, or give ``Dim`` a ``max`` and check inputs before onnxruntime.
# * Padding comes in as a tensor (the attention mask), never as Python lengths.
# * Test the ONNX model on lengths other than the example, including a long one.
