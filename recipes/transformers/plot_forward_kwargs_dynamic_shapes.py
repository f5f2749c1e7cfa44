"""
.. _recipe-transformers-forward-kwargs:

its top-level keys must be the arg names [] of ``inputs``: ``forward(**kwargs)`` models and ``dynamic_shapes``
==============================================================================================================

Many transformers models end their ``forward`` with ``**kwargs``, and code that serves several of
them wraps each in a module whose ``forward`` takes ``**kwargs`` only and passes them on. Such a
model is called with names, and exported with ``kwargs=``: how do ``dynamic_shapes`` name its
inputs, and what becomes of a name the model does not take? This recipe answers with the real
``LlamaForCausalLM`` of transformers, built from a tiny configuration (random weights, nothing
downloaded): the export succeeds, and its program cannot be called. It ends in onnxruntime, past
a ``torch.onnx.export`` error whose message names an empty list.
"""

import inspect
import warnings

import numpy as np
import onnxruntime
import torch
from transformers import LlamaConfig, LlamaForCausalLM

Dim = torch.export.Dim

torch.manual_seed(0)
config = LlamaConfig(
    vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
    num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256, use_cache=False,
)
model = LlamaForCausalLM(config).eval()
print(inspect.signature(model.forward))
assert inspect.signature(model.forward).parameters["kwargs"].kind is inspect.Parameter.VAR_KEYWORD


class ByName(torch.nn.Module):
    """A generic wrapper: any inputs, by name, passed on; the logits back."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, **kwargs):
        return self.model(**kwargs).logits


wrapper = ByName(model).eval()


def llama_inputs(batch, seq):
    return {
        "input_ids": torch.randint(0, config.vocab_size, (batch, seq)),
        "attention_mask": torch.ones(batch, seq, dtype=torch.int64),
    }


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
# ``dynamic_shapes`` for ``**kwargs``: two spellings
# --------------------------------------------------
#
# ``dynamic_shapes`` follows the signature: a parameter ``**kwargs`` is one entry named
# ``kwargs`` holding a dict. ``torch.export`` also takes the keyword names at the top level,
# as if they were parameters; both give the same program:

batch, seq = Dim("batch"), Dim("seq")
by_name = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
example = llama_inputs(batch=2, seq=8)
ep = torch.export.export(wrapper, (), kwargs=example, dynamic_shapes=by_name)
ep_nested = torch.export.export(wrapper, (), kwargs=example, dynamic_shapes={"kwargs": by_name})
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[0, int_oo]"] * 2
assert str(ep.graph) == str(ep_nested.graph) and str(ep.range_constraints) == str(ep_nested.range_constraints)

# %%
# The program cannot be called
# ----------------------------
#
# ``ep.module()`` checks the inputs before it runs the graph. With the inputs in ``**kwargs`` and
# a ``Dim`` shared by two of them, that check itself fails, on any input, the example included:

new_input_sets = [llama_inputs(1, 3), llama_inputs(4, 13)]
try:
    ep.module()(**example)
    raise AssertionError("the program of a **kwargs forward now runs: update this recipe")
except NameError as e:
    print(e)
    assert str(e) == "name 'L' is not defined", e

# %%
# ``L`` is the name export's messages give the inputs (``L['input_ids'].size()[1]``): the check
# that the inputs share ``batch`` and ``seq`` refers to it, in a function that does not define
# it. The graph is right: ``ep.module(check_guards=False)`` skips that check and matches eager.
# Use it to confirm the diagnosis: the check it skips is the one that failed. The same failure on
# a model built by hand, and ``strict=True`` as another way past it, are in
# :ref:`recipe-var-keyword-kwargs`.

unchecked = ep.module(check_guards=False)
with torch.no_grad():
    for inputs in new_input_sets:
        torch.testing.assert_close(unchecked(**inputs), wrapper(**inputs))
print("with check_guards=False the program matches eager on 2 new input sets")

# %%
# The fix: name the inputs in the signature
# -----------------------------------------
#
# A wrapper whose ``forward`` lists the inputs it passes on exports to a program that checks
# its inputs and runs:


class Named(torch.nn.Module):
    """The inputs the model is served with, by name; the logits back."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


named = Named(model).eval()
ep = torch.export.export(named, (), kwargs=example, dynamic_shapes=by_name)
check_against_eager_with_kwargs(ep, named, [((), inputs) for inputs in new_input_sets])

# %%
# The names also stop a quiet mistake. ``LlamaForCausalLM`` has no ``token_type_ids`` parameter
# (BERT has); passed anyway, it lands in ``**kwargs`` and changes nothing, whatever its values
# (a misspelled ``atention_mask`` would be ignored the same way). The named wrapper refuses it:

with torch.no_grad():
    segments = {**example, "token_type_ids": torch.ones(2, 8, dtype=torch.int64)}
    torch.testing.assert_close(wrapper(**segments), wrapper(**example))
try:
    named(**segments)
    raise AssertionError("the named wrapper now takes token_type_ids: update this recipe")
except TypeError as e:
    print(e)
    assert "got an unexpected keyword argument 'token_type_ids'" in str(e), e

# %%
# To ONNX: ``kwargs=``, not the third argument
# --------------------------------------------
#
# ``torch.onnx.export(model, args, f, *, kwargs=...)``: the third positional parameter is ``f``,
# the file to write. A dict of named inputs passed there is taken for ``f``, the model (here the
# ``**kwargs`` wrapper) gets no inputs at all, and the ``dynamic_shapes`` keyed by name
# match none:

try:
    torch.onnx.export(wrapper, (), example, dynamic_shapes=by_name, dynamo=True, verbose=False)
    raise AssertionError("a dict in the place of f now works: update this recipe")
except torch.onnx.OnnxExporterError as e:  # its TorchExportError, step 1/3
    summary = str(e).split("## Exception summary")[1].split("\n\n")[1]
    print(summary)
    assert "its top-level keys must be the arg names [] of `inputs`, but here they are ['input_ids', 'attention_mask']" in summary

# %%
# The empty list is the names of the inputs export received: none. With ``kwargs=`` the ONNX
# inputs take the names of the keywords, and the dimensions the names of the ``Dim`` objects (the
# exporter warns once for each name two inputs share: harmless, see
# :ref:`recipe-onnx-dimension-names`, and only checked here):

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    onnx_program = torch.onnx.export(
        named, (), kwargs=example, dynamic_shapes=by_name, dynamo=True, verbose=False, output_names=["logits"]
    )
shared = {str(w.message).split(" will not be used")[0] for w in caught if "axis name" in str(w.message)}
assert shared == {"# The axis name: batch", "# The axis name: seq"}, shared
graph = onnx_program.model_proto.graph
dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in [*graph.input, *graph.output]}
print(dims)
assert dims == {
    "input_ids": ["batch", "seq"], "attention_mask": ["batch", "seq"], "logits": ["batch", "seq", config.vocab_size],
}, dims
check_onnx_against_eager_by_name(onnx_program, lambda **inputs: (named(**inputs),), new_input_sets)
