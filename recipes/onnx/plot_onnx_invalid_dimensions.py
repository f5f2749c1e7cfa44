"""
.. _recipe-onnx-invalid-dimensions:

"Got invalid dimensions for input": making the dimensions of an ONNX model dynamic
==================================================================================

You export a model to ONNX with ``torch.onnx.export(..., dynamo=True)``, and onnxruntime runs
it on the example inputs. A batch of another size then fails with ``INVALID_ARGUMENT : Got
invalid dimensions for input: x``. Without a ``dynamic_shapes`` argument, every dimension of
the ONNX graph is fixed to the size it had in the example.

This recipe shows that failure, then fixes it twice: with named ``torch.export.Dim`` objects and
with plain strings. Both put the names (``batch``, ``seq``) in the ONNX graph as ``dim_param``
on the inputs and on the outputs. Each model is checked against eager PyTorch with onnxruntime
on new shapes.

The model and a helper that reads the ONNX shapes
-------------------------------------------------
"""

import contextlib
import io
import warnings

import numpy as np
import onnxruntime
import torch

Dim = torch.export.Dim


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x, mask):
        return self.linear(x) * mask.unsqueeze(-1)


torch.manual_seed(0)
model = Model().eval()
x, mask = torch.randn(2, 3, 8), torch.ones(2, 3)


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


# %%
# ``model.eval()`` before export avoids a warning (and dropout or batch-norm in training mode),
# and ``verbose=False`` silences the exporter's progress lines. A model left in training mode,
# exported without ``verbose``, shows both:

progress = io.StringIO()
with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(progress):
    warnings.simplefilter("always")
    torch.onnx.export(Model(), (x, mask), dynamo=True)
training = [str(w.message) for w in caught if "training mode" in str(w.message)]
print(training[0].split(". ")[0])
print(progress.getvalue())
assert training[0].startswith("Exporting a model while it is in training mode."), training
assert progress.getvalue().startswith("[torch.onnx] Obtain model graph for"), progress.getvalue()

# %%
# The exports below call ``model.eval()`` first and pass ``verbose=False``. ``output_names``
# gives the output a stable name; the inputs are named after the arguments of ``forward``.
#
# Without ``dynamic_shapes``: every dimension is fixed
# ----------------------------------------------------

static_program = torch.onnx.export(model, (x, mask), dynamo=True, verbose=False, output_names=["out"])
static_dims = onnx_dims(static_program.model_proto)
print(static_dims)
assert static_dims == {"x": [2, 3, 8], "mask": [2, 3], "out": [2, 3, 4]}, static_dims

(static_out,) = onnx_session(static_program).run(None, {"x": x.numpy(), "mask": mask.numpy()})
np.testing.assert_allclose(static_out, model(x, mask).detach().numpy(), rtol=1e-4, atol=1e-5)

# %%
# The graph only knows sizes: a batch of 2 and sequences of 3. onnxruntime checks the inputs
# against these sizes before it runs anything, so a batch of 5 is refused:

static_session = onnx_session(static_program)
try:
    static_session.run(None, {"x": torch.randn(5, 3, 8).numpy(), "mask": torch.ones(5, 3).numpy()})
    raise AssertionError("onnxruntime now accepts new shapes on a static model: update this recipe")
except onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument as e:
    print(e)
    assert "Got invalid dimensions for input: x" in str(e), e
    assert "index: 0 Got: 5 Expected: 2" in str(e), e

# %%
# The error names the first input and the index of the dimension (0), with the size it got
# and the one it expected. The class is
# ``onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument``, the exception onnxruntime
# raises for inputs that do not fit the graph.
#
# Fix 1: named ``Dim`` objects
# ----------------------------
#
# ``dynamic_shapes`` takes the same structure as in ``torch.export.export``: one entry per
# argument of ``forward`` (here a dict keyed by the argument names), and for each tensor a dict
# ``{axis: Dim}``. The same ``Dim`` on two tensors says that the two sizes are always equal.

batch, seq = Dim("batch"), Dim("seq")
dim_program = torch.onnx.export(
    model,
    (x, mask),
    dynamo=True,
    verbose=False,
    output_names=["out"],
    dynamic_shapes={"x": {0: batch, 1: seq}, "mask": {0: batch, 1: seq}},
)
dim_dims = onnx_dims(dim_program.model_proto)
print(dim_dims)
assert dim_dims == {"x": ["batch", "seq", 8], "mask": ["batch", "seq"], "out": ["batch", "seq", 4]}, dim_dims

# %%
# The name of each ``Dim`` became the ``dim_param`` of the dimension in the ONNX graph, and the
# output inherits ``batch`` and ``seq`` because the exporter follows the shapes through the
# graph. The feature sizes 8 and 4 stay fixed: the ``Linear`` layer needs them.
# (The ``UserWarning`` lines printed above, "The axis name: batch will not be used" and the
# same for ``seq``, are harmless: two inputs share each name, and
# :ref:`recipe-onnx-dimension-names` explains them.)
# The model now runs at other batch sizes and sequence lengths and agrees with eager PyTorch:


new_inputs = [(torch.randn(b, s, 8), (torch.rand(b, s) > 0.5).float()) for b, s in [(5, 3), (1, 7), (4, 11)]]
check_onnx_against_eager(dim_program, model, new_inputs)

# %%
# Fix 2: strings instead of ``Dim`` objects
# -----------------------------------------
#
# ``torch.onnx.export`` also accepts a string where ``torch.export.export`` wants a ``Dim``.
# The string is only a name: the exporter turns it into ``Dim.DYNAMIC`` (export decides the
# range) and renames the dimension afterwards. It is the shortest spec that gives readable
# names:

str_program = torch.onnx.export(
    model,
    (x, mask),
    dynamo=True,
    verbose=False,
    output_names=["out"],
    dynamic_shapes={"x": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}},
)
str_dims = onnx_dims(str_program.model_proto)
print(str_dims)
assert str_dims == dim_dims, str_dims
check_onnx_against_eager(str_program, model, new_inputs)

# In the program the exporter made, the dimensions are still symbols: the names come afterwards.
x_node = str_program.exported_program.graph.find_nodes(op="placeholder")[-2]
print(x_node.name, x_node.meta["val"].shape)
assert x_node.name == "x" and all(isinstance(d, torch.SymInt) for d in x_node.meta["val"].shape[:2])

# %%
# Both specs give the same graph signature. A ``Dim`` also carries a range
# (``Dim("batch", min=1, max=64)``), which ``torch.export`` checks while tracing; the ONNX
# graph records only the name, and onnxruntime checks only the rank, the type and the fixed
# sizes of each input, each with its own message:

str_session = onnx_session(str_program)
wrong_inputs = {
    "rank": (torch.randn(2, 3), torch.ones(2, 3)),
    "type": (torch.randn(2, 3, 8, dtype=torch.float64), torch.ones(2, 3)),
    "fixed size": (torch.randn(2, 3, 7), torch.ones(2, 3)),
}
messages = {}
for what, (bad_x, bad_mask) in wrong_inputs.items():
    try:
        str_session.run(None, {"x": bad_x.numpy(), "mask": bad_mask.numpy()})
        raise AssertionError(f"onnxruntime no longer checks the {what} of x: update this recipe")
    except onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument as e:
        messages[what] = str(e).split(" : ")[-1].splitlines()[0]
        print(f"{what}: {messages[what]}")
assert messages["rank"].startswith("Invalid rank for input: x Got: 2 Expected: 3"), messages
assert messages["type"].startswith("Unexpected input data type."), messages
assert messages["fixed size"].startswith("Got invalid dimensions for input: x"), messages

# %%
# Sizes that break the model's assumptions fail later, inside a kernel:
# :ref:`recipe-onnx-lenient-export-unchecked-shapes` shows how to check them before onnxruntime runs.
