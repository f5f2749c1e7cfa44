"""
.. _recipe-view-minus-one-heads:

``view(bsz, q_len, -1, head_dim)`` with a dynamic sequence: the ``-1`` a backend still has to resolve
=====================================================================================================

An attention layer built like a decoder with grouped-query attention splits its projections into
heads with ``q.view(bsz, q_len, -1, head_dim)``: the number of query heads is left to ``view``
to infer. Exported with a dynamic sequence length, the program runs, but a backend that
compiles it reads that ``-1`` next to a symbolic length. Reported in pytorch/TensorRT#4145
(2026-03): TensorRT's attention rejected the exported program with "query number of heads must
be divisible by key/value number of heads", the query's heads dimension being dynamic (``-1``)
where the key's was static (14).

Public reports of this kind: pytorch/TensorRT#4145.

This recipe does not run TensorRT. It shows where the ``-1`` is in the exported program (in the
arguments of ``view``, while export's metadata knows the number), what the ONNX exporter writes
for it, a check that lists such dimensions before a program is handed to a backend, and the fix
of the report: the number of heads written in the ``view``, checked against eager on new lengths.

The layer and its export
------------------------
"""

import numpy as np
import onnx
import onnxruntime
import torch
import torch.nn.functional as F

Dim = torch.export.Dim


class GroupedQueryAttention(torch.nn.Module):
    """4 query heads share 2 key/value heads, 8 features per head."""

    def __init__(self, hidden=32, num_heads=4, num_kv_heads=2, head_dim=8):
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.q_proj = torch.nn.Linear(hidden, num_heads * head_dim)
        self.k_proj = torch.nn.Linear(hidden, num_kv_heads * head_dim)
        self.v_proj = torch.nn.Linear(hidden, num_kv_heads * head_dim)

    def split_query(self, q, bsz, q_len):
        return q.view(bsz, q_len, -1, self.head_dim)

    def forward(self, x):
        bsz, q_len, _ = x.shape
        q = self.split_query(self.q_proj(x), bsz, q_len).transpose(1, 2)
        k = self.k_proj(x).view(bsz, q_len, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(bsz, q_len, self.num_kv_heads, self.head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return out.transpose(1, 2).reshape(bsz, q_len, -1)


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


torch.manual_seed(0)
model = GroupedQueryAttention().eval()
x = torch.randn(1, 6, 32)
new_inputs = [(torch.randn(1, 3, 32),), (torch.randn(1, 11, 32),)]
ep = torch.export.export(model, (x,), dynamic_shapes=({1: Dim("seq")},))
check_against_eager(ep, model, new_inputs)

# %%
# The program is right: it matches eager on 3 and 11 positions. The question is what a backend
# reads from it.
#
# Where the ``-1`` is
# -------------------
#
# Each node of an exported program has its arguments (what the backend converts) and, in
# ``node.meta["val"]``, the fake tensor export computed for its output (the shapes export knows).
# The three ``view`` nodes that split the heads:


def views(ep):
    return [node for node in ep.graph.nodes if node.target is torch.ops.aten.view.default]


for node in views(ep)[:3]:
    print(node.name, "args:", node.args[1], "meta['val'] shape:", list(node.meta["val"].shape))

q_view, k_view, _ = views(ep)[:3]
seq = q_view.meta["val"].shape[1]
assert isinstance(seq, torch.SymInt) and str(seq) in map(str, ep.range_constraints)
assert list(q_view.meta["val"].shape) == [1, seq, 4, 8]
assert q_view.args[1][2] == -1 and k_view.args[1][2] == 2, (q_view.args, k_view.args)

# %%
# Export worked the ``-1`` out: the metadata of the query's ``view`` says 4 heads, a plain
# ``int``, like the key's 2. The argument of the node still holds ``-1``, beside the length
# ``sym_size_int`` read from the input: that is what the code said, and the program records the
# call as written. A backend that builds its own reshape from the arguments gets a shape with two
# unknowns when it compiles (the length, dynamic, and the ``-1``, computed from an element count
# that depends on the length): unless it works the ``-1`` out as export did, the number of heads
# is dynamic for it. That is the report: the query ``(1, -1, -1, 64)`` beside the key
# ``(1, 14, -1, 64)``.
#
# Decomposing the program, as backends do before converting it, keeps the argument as written:

decomposed = ep.run_decompositions()
split = [node for node in views(decomposed) if list(node.args[1][2:]) == [-1, 8]]
print("after run_decompositions:", split[0].name, "args:", split[0].args[1], "meta['val'] shape:", list(split[0].meta["val"].shape))
assert len(split) == 1 and split[0].meta["val"].shape[2] == 4, [node.args for node in views(decomposed)]

# %%
# What the ONNX exporter writes
# -----------------------------
#
# ``torch.onnx.export`` writes the shape of each ``Reshape`` from the metadata, not from the
# arguments: the heads dimension becomes 4 and the one ``-1`` ONNX allows goes to the length.


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


onnx_program = torch.onnx.export(ep, dynamo=True, verbose=False, output_names=["out"])
proto = onnx_program.model_proto
initializers = {tensor.name: onnx.numpy_helper.to_array(tensor).tolist() for tensor in proto.graph.initializer}
(q_reshape,) = [node for node in proto.graph.node if node.op_type == "Reshape" and node.output[0] == q_view.name]
print("Reshape of the query:", initializers[q_reshape.input[1]])
assert initializers[q_reshape.input[1]] == [1, -1, 4, 8]
value_info = {vi.name: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim] for vi in proto.graph.value_info}
print("its output:", value_info[q_view.name])
assert value_info[q_view.name][2:] == [4, 8] and isinstance(value_info[q_view.name][1], str)
check_onnx_against_eager(onnx_program, model, new_inputs)

# %%
# So a backend that reads the ONNX model sees 4 heads; one that compiles the ``ExportedProgram``
# node by node reads ``-1``.
#
# A check before handing a program to a backend
# ---------------------------------------------
#
# The check below lists the ``view`` / ``reshape`` calls that still hold a ``-1`` beside a
# symbolic size (a backend that converts the arguments has to infer it at run time), with the
# symbolic dimensions of their output (expected: those you declared dynamic) and the number export
# found for the ``-1``.

RESHAPES = {torch.ops.aten.view.default, torch.ops.aten.reshape.default, torch.ops.aten._unsafe_view.default}


def dims_to_review(ep):
    """Per node: output dims that are symbols, and ``-1`` left in a reshape beside a symbolic size."""
    found = []
    for node in ep.graph.nodes:
        value = node.meta.get("val")
        if node.op != "call_function" or not isinstance(value, torch.Tensor):
            continue
        symbolic = [i for i, d in enumerate(value.shape) if isinstance(d, torch.SymInt)]
        inferred = []
        if node.target in RESHAPES and any(isinstance(d, torch.fx.Node) for d in node.args[1]):
            inferred = [i for i, d in enumerate(node.args[1]) if d == -1]
        if inferred:
            found.append((node.name, "symbolic dims", symbolic, "-1 left at", inferred, "export found", [value.shape[i] for i in inferred]))
    return found


for line in dims_to_review(ep):
    print(*line)
merge = [node for node in ep.graph.nodes if node.target is torch.ops.aten.reshape.default][-1]
assert [name for name, *_ in dims_to_review(ep)] == [q_view.name, merge.name], dims_to_review(ep)
assert [found for *_, found in dims_to_review(ep)] == [[4], [32]], dims_to_review(ep)

# %%
# Two reshapes hold a ``-1``: the query's (export found 4 heads) and the last one, which merges
# the heads back, ``reshape(bsz, q_len, -1)`` (export found 32 features). Both are numbers a
# backend should not have to infer.
#
# The fix: write the numbers
# --------------------------
#
# The report's fix: ``view(bsz, q_len, self.num_heads, self.head_dim)``, and the same for the
# merge. The arguments then carry the numbers; only the length stays a symbol.


class GroupedQueryAttentionStatic(GroupedQueryAttention):
    def split_query(self, q, bsz, q_len):
        return q.view(bsz, q_len, self.num_heads, self.head_dim)

    def forward(self, x):
        bsz, q_len, _ = x.shape
        q = self.split_query(self.q_proj(x), bsz, q_len).transpose(1, 2)
        k = self.k_proj(x).view(bsz, q_len, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(bsz, q_len, self.num_kv_heads, self.head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return out.transpose(1, 2).reshape(bsz, q_len, self.num_heads * self.head_dim)


static = GroupedQueryAttentionStatic().eval()
static.load_state_dict(model.state_dict())
static_ep = torch.export.export(static, (x,), dynamic_shapes=({1: Dim("seq")},))
print(views(static_ep)[0].args[1])
assert dims_to_review(static_ep) == []
assert views(static_ep)[0].args[1][2] == 4
check_against_eager(static_ep, model, new_inputs)

# %%
# No ``-1`` left, and the program gives the outputs of the original layer (``model``) on 3 and 11
# positions. When the model's code is not yours (a library's layer), run ``dims_to_review`` on
# the exported program before the backend, and compare its numbers with what the backend
# reports: a dimension the backend calls dynamic where the metadata has a number comes from an
# argument like this one.
