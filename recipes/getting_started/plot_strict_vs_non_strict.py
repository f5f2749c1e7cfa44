"""
.. _recipe-strict-vs-non-strict:

strict=True or strict=False? The same model exports in one mode and not in the other
====================================================================================

``torch.export.export`` can trace ``forward`` in two ways. By default (``strict=False``) it runs
``forward`` as ordinary Python, on *fake* tensors whose dynamic sizes are symbols. With
``strict=True`` it reads the bytecode of ``forward`` with TorchDynamo, the front end of
``torch.compile``. The tensor operations end up the same; the Python code *around the sizes* does
not. This recipe shows four models that behave differently: ``len(x)`` makes the batch static in
the default mode only, ``math.sqrt`` of a size fails in the default mode only, a clock read fails
in strict mode only, and an f-string of a size makes the batch static in strict mode only. Each
has a rewrite that exports the same way in both modes, checked against eager on new shapes.

The default is non-strict
-------------------------
"""

import inspect
import logging
import math
import time

import torch

Dim = torch.export.Dim

strict_default = inspect.signature(torch.export.export).parameters["strict"].default
print("torch.export.export(..., strict=...) defaults to", strict_default)
assert strict_default is False


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def dynamic_dims_by_input(ep):
    """{input name: indices of its dynamic dimensions} for the tensor inputs of a program.

    A dynamic size prints as a symbol or an expression (``s27``), a static one as a number.
    """
    user_inputs = set(ep.graph_signature.user_inputs)
    return {
        node.name: [i for i, d in enumerate(node.meta["val"].shape) if not str(d).isdigit()]
        for node in ep.graph.nodes
        if node.op == "placeholder" and node.name in user_inputs
    }


new_inputs = [(torch.randn(5, 16),), (torch.randn(2, 7),)]

# %%
# ``len(x)``: the batch becomes static in the default mode
# --------------------------------------------------------
#
# A model averages over the batch and divides by ``len(x)``. Exported with ``Dim.AUTO`` on both
# dimensions, in the default mode:


class MeanOverBatch(torch.nn.Module):
    def forward(self, x):
        return x.sum(0) / len(x)


mean_model = MeanOverBatch()
x = torch.randn(3, 16)
auto = ({0: Dim.AUTO, 1: Dim.AUTO},)
mean_ep = torch.export.export(mean_model, (x,), dynamic_shapes=auto)
print(mean_ep.graph_module.code)
print(dynamic_dims_by_input(mean_ep))
assert dynamic_dims_by_input(mean_ep) == {"x": [1]}, dynamic_dims_by_input(mean_ep)
assert "sum_1, 3)" in mean_ep.graph_module.code, mean_ep.graph_module.code
batch_size = next(n for n in mean_ep.graph.nodes if n.op == "placeholder").meta["val"].shape[0]
assert isinstance(batch_size, torch.SymInt) and str(batch_size) == "3", repr(batch_size)

# %%
# The graph divides by the constant 3, the batch of the example, and only dimension 1 is
# dynamic. (The static batch is still a ``torch.SymInt`` in the placeholder's metadata, one whose
# value is the number 3: ``isinstance(size, torch.SymInt)`` does not tell a dynamic dimension.)
# ``Dim.AUTO`` made the batch static without a word; a named ``Dim`` or ``Dim.DYNAMIC`` raises
# instead:

for hint in (Dim("batch"), Dim.DYNAMIC):
    try:
        torch.export.export(mean_model, (x,), dynamic_shapes=({0: hint, 1: Dim.AUTO},))
        raise AssertionError("len(x) no longer specializes the batch: update this recipe")
    except torch._dynamo.exc.UserError as e:
        print(str(e).splitlines()[0])
        assert str(e).startswith("Constraints violated"), e

# %%
# (``torch._dynamo.exc.UserError`` lives in a private module; code you keep can catch its base
# class, ``RuntimeError``.) With ``Dim.AUTO``, the first call with another batch size hits the
# module's guard:

try:
    mean_ep.module()(torch.randn(5, 16))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed: x.size()[0] == 3"), e
else:
    raise AssertionError("len(x) no longer makes the batch static: update this recipe")

# %%
# In strict mode the same model keeps both dimensions dynamic:

strict_mean_ep = torch.export.export(mean_model, (x,), dynamic_shapes=auto, strict=True)
print(dynamic_dims_by_input(strict_mean_ep))
assert dynamic_dims_by_input(strict_mean_ep) == {"x": [0, 1]}, dynamic_dims_by_input(strict_mean_ep)
check_against_eager(strict_mean_ep, mean_model, new_inputs)

# %%
# Why: in the default mode ``forward`` is plain Python, and ``len`` must return a Python ``int``.
# The symbolic batch size is asked for its value, export records "the batch is 3" and, since
# ``Dim.AUTO`` allows it, makes the dimension static. TorchDynamo, in strict mode, knows what
# ``len`` of a tensor means and keeps the symbol.
#
# ``x.shape[0]`` is a symbolic size in both modes. Writing it instead of ``len(x)`` gives a
# program with a dynamic batch either way:


class MeanOverBatchFixed(torch.nn.Module):
    def forward(self, x):
        return x.sum(0) / x.shape[0]


fixed_mean = MeanOverBatchFixed()
for strict in (False, True):
    ep = torch.export.export(fixed_mean, (x,), dynamic_shapes=auto, strict=strict)
    assert dynamic_dims_by_input(ep) == {"x": [0, 1]}, (strict, dynamic_dims_by_input(ep))
    check_against_eager(ep, fixed_mean, new_inputs)

# %%
# ``math.sqrt`` of a size: "specialized it to be a constant" in the default mode
# ------------------------------------------------------------------------------
#
# Attention code scales by ``1 / math.sqrt(head_dim)``. With a named ``Dim`` on that dimension,
# the default mode refuses:


class Scale(torch.nn.Module):
    def forward(self, x):
        return x / math.sqrt(x.shape[-1])


scale_model = Scale()
named = ({0: Dim("batch"), 1: Dim("d")},)
try:
    torch.export.export(scale_model, (x,), dynamic_shapes=named)
    raise AssertionError("math.sqrt of a size now stays symbolic in non-strict mode: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert "You marked d as dynamic but your code specialized it to be a constant (16)" in str(e), e

# %%
# ``math.sqrt`` converts its argument to a Python ``float``, which needs the value of the symbol:
# 16. The named ``Dim`` says the dimension is dynamic, so export raises instead of making it
# static. In strict mode TorchDynamo records the square root of the symbol
# in the graph, and the program stays dynamic:

strict_scale_ep = torch.export.export(scale_model, (x,), dynamic_shapes=named, strict=True)
print(strict_scale_ep.graph_module.code)
assert dynamic_dims_by_input(strict_scale_ep) == {"x": [0, 1]}, dynamic_dims_by_input(strict_scale_ep)
check_against_eager(strict_scale_ep, scale_model, new_inputs)

# %%
# The rewrite for both modes is arithmetic that symbolic sizes support, here a power:


class ScaleFixed(torch.nn.Module):
    def forward(self, x):
        return x * x.shape[-1] ** -0.5


fixed_scale = ScaleFixed()
for strict in (False, True):
    ep = torch.export.export(fixed_scale, (x,), dynamic_shapes=named, strict=strict)
    assert dynamic_dims_by_input(ep) == {"x": [0, 1]}, (strict, dynamic_dims_by_input(ep))
    check_against_eager(ep, fixed_scale, new_inputs)

# %%
# A clock read: ``Unsupported`` in strict mode
# --------------------------------------------
#
# The other way round, strict mode refuses Python it cannot put in a graph. A model that times
# itself:


class Timed(torch.nn.Module):
    def forward(self, x):
        start = time.perf_counter()
        y = x * 2
        self.seconds = time.perf_counter() - start
        return y


timed = Timed()
try:
    torch.export.export(timed, (x,), dynamic_shapes=named, strict=True)
    raise AssertionError("strict export now accepts time.perf_counter(): update this recipe")
except torch._dynamo.exc.Unsupported as e:
    lines = str(e).splitlines()
    assert str(e).startswith("Call to a time function"), e
    # "from user code:" then the frames, the last one in forward: its file and line, then the code
    code = next(i for i, line in enumerate(lines) if line.strip() == "start = time.perf_counter()")
    assert code > lines.index("from user code:") and lines[code - 1].endswith("in forward"), lines
    print("\n".join([lines[0], "from user code:", "...", lines[code - 1], lines[code]]))

# %%
# ``torch._dynamo.exc.Unsupported`` (private too, also a ``RuntimeError``) is how strict mode
# reports code it cannot trace; the message's "from user code" part names the line (printed
# above, with the file and line of ``forward``). The default mode exports the model, because it
# simply runs the Python:

timed_ep = torch.export.export(timed, (x,), dynamic_shapes=named)
print(timed_ep.graph_module.code)
ops = [node.target for node in timed_ep.graph.nodes if node.op == "call_function"]
assert ops == [torch.ops.aten.mul.Tensor], ops
check_against_eager(timed_ep, timed, new_inputs)

# %%
# The graph holds the multiplication and nothing else: the clock was read once, while exporting,
# and the exported program does not time anything. Non-strict export does not complain about
# such Python side effects, it leaves them out.
#
# An f-string of a size: the batch becomes static in strict mode
# --------------------------------------------------------------
#
# A log line that formats a size is harmless in the default mode and not in strict mode:

log = logging.getLogger("recipe.strict")
messages = []


class KeepMessages(logging.Handler):
    def emit(self, record):
        messages.append(record.getMessage())


log.addHandler(KeepMessages())
log.setLevel(logging.DEBUG)
log.propagate = False


class Logged(torch.nn.Module):
    def forward(self, x):
        log.debug(f"batch of {x.shape[0]} rows")
        return x * 2


logged = Logged()
logged_ep = torch.export.export(logged, (x,), dynamic_shapes=auto)
strict_logged_ep = torch.export.export(logged, (x,), dynamic_shapes=auto, strict=True)
print("default mode:", dynamic_dims_by_input(logged_ep), " strict mode:", dynamic_dims_by_input(strict_logged_ep))
assert dynamic_dims_by_input(logged_ep) == {"x": [0, 1]}, dynamic_dims_by_input(logged_ep)
assert dynamic_dims_by_input(strict_logged_ep) == {"x": [1]}, dynamic_dims_by_input(strict_logged_ep)
print(messages[0])
assert messages[0] != "batch of 3 rows", messages

# %%
# In the default mode, formatting a symbolic size gives the symbol's name (the message above), and
# nothing is decided. TorchDynamo formats the string while tracing, from the size's value, so the
# batch is fixed to 3, silently with ``Dim.AUTO``. Keep sizes out of strings in ``forward``, or log outside of it.
#
# Which mode to use
# -----------------
#
# Start with the default. When export raises or a dimension comes out static, and the culprit is
# Python code working on sizes (``len``, ``math``, string formatting, clocks), exporting
# the same model with ``strict=True`` tells you whether it is that Python code or the tensor
# operations: if one mode keeps the dimension dynamic, rewrite the Python with operations on
# ``x.shape`` that both modes understand. Whatever the mode, check the program's dynamic
# dimensions (``dynamic_dims_by_input`` above) and compare it with eager on new shapes.
