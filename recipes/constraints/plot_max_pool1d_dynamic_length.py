"""
.. _recipe-max-pool1d-dynamic-length:

``F.max_pool1d`` with a dynamic length: "specialized it to be a constant (10)" from inside the op
=================================================================================================

A model built like a text or speech classifier runs a 1-d convolution over the sequence and
halves it with ``F.max_pool1d(x, 2)``. Exported with a dynamic length, it fails with "You marked T
as dynamic but your code specialized it to be a constant (10)", and the model has no ``int()``,
no ``if`` and no loop on the length.

This recipe finds where the length became a constant (inside the pooling op, with the method of
:ref:`recipe-find-specializing-line-logs`), pins it as a limitation of the pinned PyTorch, and
gives the workaround checked against eager on new lengths: the same pooling through
``return_indices=True``, whose remaining guard (the pooled length is not 1) is handled as in
:ref:`recipe-guard-true-for-every-size`.

The failure
-----------
"""

import contextlib
import logging
import re

import torch
import torch.nn.functional as F

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class ConvPool(torch.nn.Module):
    """A convolution over the sequence, then max-pooling by 2."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(4, 4, 3, padding=1)

    def forward(self, x):
        return F.max_pool1d(self.conv(x), 2)


torch.manual_seed(0)
model = ConvPool().eval()
x = torch.randn(2, 4, 10)
spec = ({0: Dim("batch"), 2: Dim("T", min=4)},)
try:
    torch.export.export(model, (x,), dynamic_shapes=spec)
    raise AssertionError("max_pool1d now keeps the length dynamic: update this recipe")
except torch._dynamo.exc.UserError as e:
    print("\n".join(line.split(" If you're using")[0] for line in str(e).splitlines()[:2]))
    assert "You marked T as dynamic but your code specialized it to be a constant (10)" in str(e), e

# %%
# Where the length became 10
# --------------------------
#
# The message names no line. The ``dynamic`` logs do: each guard is logged with the place that
# added it. Collected in the script (``torch._logging.set_logs`` is the Python form of
# ``TORCH_LOGS="+dynamic"``), the guard that fixed the length reads:


@contextlib.contextmanager
def shape_logs():
    """Collects the records of the ``dynamic`` logs at DEBUG level, and prints nothing."""
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)

    torch._logging.set_logs(dynamic=logging.DEBUG)
    logger = logging.getLogger("torch.fx.experimental.symbolic_shapes")
    saved_handlers = logger.handlers[:]
    logger.handlers = [Collect()]
    try:
        yield records
    finally:
        logger.handlers = saved_handlers
        torch._logging.set_logs()  # back to the defaults


with shape_logs() as records:
    with contextlib.suppress(torch._dynamo.exc.UserError):
        torch.export.export(model, (x,), dynamic_shapes=spec)

(guard,) = [r.getMessage() for r in records if "[guard added]" in r.getMessage() and ", 10)" in r.getMessage()]
print(re.sub(r"s\d+", "T", re.sub(r":\d+ in", ":NNN in", guard.split(", for more info")[0])))
assert re.match(r"eval Eq\(s\d+, 10\) \[guard added\] \(_ops\.py:\d+ in __call__\)", guard), guard

# %%
# ``Eq(T, 10)`` was added in ``_ops.py ... __call__``: inside a C++ operator, not in Python code.
# The convolution keeps the length symbolic (the workaround below keeps it and exports); the
# pooling does not. Called without ``return_indices``, ``F.max_pool1d`` reaches C++ code that
# turns the length into a plain integer (the guard above), so the length of the example becomes
# part of the program. That is a limitation
# of the pinned PyTorch, not of the model: the sentinel above will tell when it is lifted.
#
# The workaround: the same pooling with ``return_indices=True``
# -------------------------------------------------------------
#
# With ``return_indices=True`` the op goes through ``max_pool1d_with_indices``, which keeps the
# length symbolic. The values are the same; keep the first output:


class ConvPoolIndices(ConvPool):
    def forward(self, x):
        pooled, _ = F.max_pool1d(self.conv(x), 2, return_indices=True)
        return pooled


fixed = ConvPoolIndices()
fixed.load_state_dict(model.state_dict())
fixed.eval()
fixed_ep = torch.export.export(fixed, (x,), dynamic_shapes=spec)
print(fixed_ep.range_constraints)
assert fixed_ep.graph.find_nodes(op="call_function", target=torch.ops.aten.max_pool1d_with_indices.default)
check_against_eager(fixed_ep, model, [(torch.randn(b, 4, t),) for b, t in [(1, 4), (3, 7), (2, 33)]])

# %%
# The length is dynamic from 4, and the program matches the original model on 4, 7 and 33
# positions. Why ``min=4``? Without it, export refuses the spec with a guard on the pooled length:

try:
    torch.export.export(fixed, (x,), dynamic_shapes=({0: Dim("batch"), 2: Dim("T")},))
    raise AssertionError("the pooled length is no longer guarded: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).splitlines()[1])
    assert "satisfy the generated guard (L['x'].size()[2] // 2) != 1." in str(e), e

# %%
# ``T // 2 != 1`` says "the pooled sequence is not of length 1", false for 2 and 3 positions: a
# guard PyTorch adds on a size computed from the input, explained in
# :ref:`recipe-guard-true-for-every-size`. ``min=4`` states that short sequences do not occur;
# when they do, ``backed_size_oblivious`` (a private flag, see that recipe) keeps every length:

with torch.fx.experimental._config.patch(backed_size_oblivious=True):
    every_length_ep = torch.export.export(fixed, (x,), dynamic_shapes=({0: Dim("batch"), 2: Dim("T")},))
print(every_length_ep.range_constraints)
check_against_eager(every_length_ep, model, [(torch.randn(b, 4, t),) for b, t in [(1, 2), (2, 3), (3, 7), (2, 33)]])
