"""
.. _recipe-quantization-observer-export:

"Could not guard on data-dependent expression Eq(u0, 1)" from a quantization observer
=====================================================================================

A model prepared for post-training quantization with ``torch.ao.quantization.prepare`` carries
*observers*: modules that watch the activations during calibration and record their range.
Exporting that prepared model with a dynamic batch fails with "Could not guard on
data-dependent expression Eq(u0, 1)", and the line it names is a plain ``self.lin(...)`` of the
model. In strict mode the same export stops on "Attempted to call function marked as skipped".

This recipe answers the reports of that kind (an ``activation_post_process`` module in the
message): it finds the observer's line in the exception's traceback, explains why it cannot be
exported, and gives the fix, checked against eager on new batch sizes: export the model without
its observers. It also pins what happens with the model converted by the same eager-mode API.

Public reports of this kind: pytorch/pytorch#157355.

The failure
-----------
"""

import contextlib
import io
import traceback
import warnings

import torch
import torch.ao.quantization as tq
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.lin = torch.nn.Linear(4, 3)
        self.dequant = tq.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.lin(self.quant(x)))


torch.manual_seed(0)
float_model = Classifier().eval()
float_model.qconfig = tq.get_default_qconfig("x86")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")  # the deprecation of torch.ao.quantization, shown at the end
    prepared = tq.prepare(float_model)
prepared(torch.randn(16, 4))  # calibration
print(type(prepared.lin.activation_post_process).__name__)

spec = ({0: Dim("batch")},)
x = torch.randn(3, 4)
try:
    with contextlib.redirect_stderr(io.StringIO()):  # the graph traced up to the failure: see below
        torch.export.export(prepared, (x,), dynamic_shapes=spec)
    raise AssertionError("a model with observers now exports: update this recipe")
except GuardOnDataDependentSymNode as e:
    print(str(e).splitlines()[0])
    assert str(e).startswith("Could not guard on data-dependent expression Eq(u"), e
    frames = [frame for frame in traceback.extract_tb(e.__traceback__) if "torch/ao/quantization" in frame.filename]
for frame in frames:
    print(frame.filename.rsplit("torch/", 1)[-1], frame.lineno, frame.name, "|", frame.line)
assert frames[-1].filename.endswith("observer.py") and frames[-1].line == "if x_min == -torch.inf or x_max == torch.inf:"

# %%
# The message names the model's own line (its "The following call raised this error" part points
# to ``forward``), because the observer runs in a *forward hook* of ``self.lin``, which the
# message does not show. The exception's traceback does: filtering its frames on
# ``torch/ao/quantization`` gives the hook (``_observer_forward_hook`` in ``quantize.py``) and the
# line of the observer (``HistogramObserver.forward``) that asked the question:
# ``if x_min == -torch.inf or x_max == torch.inf``, a Python ``if`` on the *values* of the
# activations (``u0`` is the boolean read from a tensor, ``Eq(u0, 1)`` "is it true?").
#
# Before raising, export prints on stderr the graph it traced up to the failing line; the recipe
# keeps it off the page (``contextlib.redirect_stderr``).
#
# Observers are calibration code: they update statistics from the data, which no exported
# program should do. The strict mode refuses them earlier, for the same hook:

try:
    torch.export.export(prepared, (x,), dynamic_shapes=spec, strict=True)
    raise AssertionError("a model with observers now exports in strict mode: update this recipe")
except torch._dynamo.exc.Unsupported as e:
    print(str(e).splitlines()[0])
    assert str(e).startswith("Attempted to call function marked as skipped"), e
    assert "`_observer_forward_hook`" in str(e), e

# %%
# The fix: export the model without its observers
# -----------------------------------------------
#
# Export the model as it should run: here the float model. ``tq.prepare`` returned a copy (its
# default is ``inplace=False``), so ``float_model`` has no observer. ``QuantStub`` and
# ``DeQuantStub`` are identities until the model is converted:

assert not hasattr(float_model.lin, "activation_post_process")
float_ep = torch.export.export(float_model, (x,), dynamic_shapes=spec)
print(float_ep.range_constraints)
check_against_eager(float_ep, float_model, [(torch.randn(b, 4),) for b in (1, 5, 32)])
check_against_eager(float_ep, prepared, [(torch.randn(b, 4),) for b in (1, 5, 32)])

# %%
# The program has a dynamic batch and gives what the float model and the prepared model give in
# eager mode (observers do not change the values they watch).
#
# The model converted by the same API does not export
# ---------------------------------------------------
#
# ``tq.convert`` replaces the observed modules by quantized ones. Their packed weights are a
# TorchScript class that export cannot take apart, so the converted model fails too:

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    converted = tq.convert(prepared)
print(type(converted.lin))
try:
    torch.export.export(converted, (x,), dynamic_shapes=spec)
    raise AssertionError("an eager-mode quantized model now exports: update this recipe")
except AttributeError as e:
    print(e)
    assert "LinearPackedParamsBase" in str(e) and "'__obj_flatten__'" in str(e), e

deprecation = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
print(deprecation[0].splitlines()[0])
assert "torch.ao.quantization is deprecated" in deprecation[0], deprecation
assert "pt2e quantization has been migrated to torchao" in deprecation[0], deprecation

# %%
# ``tq.prepare`` warns that ``torch.ao.quantization`` is deprecated, and points to the
# "pt2e" flow of the separate ``torchao`` package, which quantizes a program *after*
# ``torch.export``, so calibration never has to be exported. The pinned environment of this
# cookbook does not include ``torchao``: for a quantized exported program, follow that flow.
