"""
.. _recipe-decoder-step-kv-cache:

A decoder step with past keys and values: keeping batch, sequence and cache length dynamic
==========================================================================================

A decoder step takes new tokens ``x`` (batch, seq, dim) and the past keys and values (batch,
past, dim), attends over past and new positions, and returns its output with the grown cache.
All three sizes vary at inference: ``seq`` is the prompt length on the first call and 1 on
every later call, ``past`` is 0 on the first call. The obvious example input, one new token and
an empty cache, is the one that breaks export. This recipe shows why (sizes 0 and 1 are
special), and exports with an example that keeps all three dimensions dynamic, then checks the
program against eager on a grid of sizes and on a real prefill-then-decode loop.

The model (a few lines of attention)
------------------------------------
"""

import logging
import math

import torch

Dim = torch.export.Dim


class DecoderStep(torch.nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.q, self.k, self.v, self.o = (torch.nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x, past_key, past_value):
        key = torch.cat([past_key, self.k(x)], dim=1)
        value = torch.cat([past_value, self.v(x)], dim=1)
        scores = self.q(x) @ key.transpose(1, 2) / math.sqrt(x.shape[-1])
        # New token i sees the whole past and the new tokens up to itself.
        past, seq = past_key.shape[1], x.shape[1]
        visible = torch.arange(past + seq) <= torch.arange(seq).unsqueeze(1) + past
        scores = scores.masked_fill(~visible, float("-inf"))
        return self.o(scores.softmax(dim=-1) @ value), key, value


def make_step_inputs(batch, seq, past, dim=8):
    return torch.randn(batch, seq, dim), torch.randn(batch, past, dim), torch.randn(batch, past, dim)


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class Recorder(logging.Handler):
    """Keeps the messages of the records it receives."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


model = DecoderStep()
batch, seq, past = Dim("batch"), Dim("seq"), Dim("past")
spec = ({0: batch, 1: seq}, {0: batch, 1: past}, {0: batch, 1: past})

# %%
# The first-call example fails: 0/1 specialization
# ------------------------------------------------
#
# Export the step with what a decoding loop passes most of the time: one new token, and an
# empty cache on the first call.

try:
    torch.export.export(model, make_step_inputs(batch=2, seq=1, past=0), dynamic_shapes=spec)
    raise AssertionError("seq=1 / past=0 examples now stay dynamic: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    message = str(e)

assert message.startswith("Constraints violated (past, seq)!"), message
assert "You marked seq as dynamic but your code specialized it to be a constant (1)" in message, message
assert "You marked past as dynamic but your code specialized it to be a constant (0)" in message, message

# %%
# ``torch._dynamo.exc.UserError`` is the class ``export`` raises for spec problems (a private
# class, a subclass of ``RuntimeError``: see :ref:`recipe-bounded-dim-min-max`). Export reads an example size of 0 or 1 as a constant,
# not as a sample of a dynamic size: a dimension of size 1 broadcasts and one of size 0 is
# empty, so code is often only valid for them. Here it is not the model that is special, it is
# the example. Both dimensions became constants and contradict the ``Dim`` objects.
#
# ``Dim.AUTO`` hides the problem until the first prompt
# -----------------------------------------------------
#
# With ``Dim.AUTO`` the same example exports: AUTO makes such a dimension static instead of
# raising, and only says so in log lines on stderr, one per dimension, from the logger of a
# private module, ``torch._export.non_strict_utils`` (recorded here). The program then only
# accepts one token and an empty cache, and the first real prompt hits a guard:

auto = Dim.AUTO
auto_spec = ({0: auto, 1: auto}, {0: auto, 1: auto}, {0: auto, 1: auto})
recorder = Recorder()
logging.getLogger("torch._export.non_strict_utils").addHandler(recorder)
auto_ep = torch.export.export(model, make_step_inputs(batch=2, seq=1, past=0), dynamic_shapes=auto_spec)
logging.getLogger("torch._export.non_strict_utils").removeHandler(recorder)
print("\n".join(recorder.messages))
hints = [m.split("sample input with ")[-1] for m in recorder.messages if "0/1 specialized; Dim.AUTO" in m]
assert hints == ["hint = 1.", "hint = 0.", "hint = 0."], recorder.messages
print(auto_ep.range_constraints)
try:
    auto_ep.module()(*make_step_inputs(batch=2, seq=5, past=0))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed: x.size()[1] == 1"), e
else:
    raise AssertionError("the AUTO program now accepts a prompt of 5 tokens: update this recipe")

# %%
# Only the batch is left in the range constraints: ``seq`` and ``past`` are static.
#
# The fix: an example of size 2 or more in every dynamic dimension
# -----------------------------------------------------------------
#
# Export with a "generic" example, here batch 2, 3 new tokens and 4 past positions, and keep
# the named ``Dim`` objects. Their default ``min`` is 0, so the program accepts every size from
# 0, one token and an empty cache included:

ep = torch.export.export(model, make_step_inputs(batch=2, seq=3, past=4), dynamic_shapes=spec)
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[0, int_oo]"] * 3, ep.range_constraints
outputs = ep.graph.find_nodes(op="output")[0].args[0]
output_shapes = [str(node.meta["val"].shape) for node in outputs]
print(output_shapes)
assert output_shapes[1] == output_shapes[2] and " + " in output_shapes[1], output_shapes

# %%
# Three symbols, each from 0. The output shapes show the cache growing by the number of new
# tokens: the second dimension of the returned keys and values is a sum of the two symbols.
#
# Accepting sizes 0 and 1 is not the same as having checked them. While tracing, export assumes
# that every dynamic size is at least 2 (that is why it refuses, or with ``Dim.AUTO``
# specializes, an example of 0 or 1), and it does not verify that the program it traced is right
# for 0 and 1. A model that treats one token apart shows it:


class LastChange(torch.nn.Module):
    def forward(self, x):
        if x.shape[1] == 1:  # a single new token: return it
            return x[:, 0]
        return x[:, -1] - x[:, 0]  # several: the change from the first to the last


last_change = LastChange()
change_ep = torch.export.export(last_change, (torch.randn(2, 3, 8),), dynamic_shapes=({0: batch, 1: seq},))
print(change_ep.range_constraints, change_ep._guards_code)
one_token = torch.arange(1.0, 17.0).reshape(2, 1, 8)  # two sequences of one token: 1 to 8, 9 to 16
print(change_ep.module()(one_token), last_change(one_token), sep="\n")
assert [str(r) for r in change_ep.range_constraints.values()] == ["VR[0, int_oo]"] * 2, change_ep.range_constraints
assert torch.equal(last_change(one_token), one_token[:, 0])
assert torch.equal(change_ep.module()(one_token), torch.zeros(2, 8)), "the program now handles seq=1 as eager does"

# %%
# Export raised nothing, the range of ``seq`` includes 1, there is no guard
# (``_guards_code``, private, is empty), and with one token the program returns zeros where eager
# returns the token: the ``if`` was decided for sizes of 2 and more, without a guard. The
# :ref:`recipe-sweep-shapes` recipe finds such cases systematically. For the decoder step, the
# only protection is to compare with eager at the sizes that matter, 0 and 1 included.
#
# Check the program on a grid of sizes
# ------------------------------------
#
# Every combination of batch (1, 3), new tokens (1, 4) and past length (0, 1, 5): the decoding
# case, the prefill case, the empty and the single-entry cache.

grid = [make_step_inputs(batch=b, seq=s, past=p) for b in (1, 3) for s in (1, 4) for p in (0, 1, 5)]
check_against_eager(ep, model, grid)
module = ep.module()

# %%
# And the way it is really used: a prompt of 5 tokens with an empty cache, then three decoding
# steps of one token, each feeding the cache returned by the previous one.

x, key, value = make_step_inputs(batch=2, seq=5, past=0)
eager_key, eager_value = key, value
for step in range(4):
    out, key, value = module(x, key, value)
    eager_out, eager_key, eager_value = model(x, eager_key, eager_value)
    torch.testing.assert_close((out, key, value), (eager_out, eager_key, eager_value))
    print(f"step {step}: x {tuple(x.shape)} -> cache {tuple(key.shape)}, matches eager")
    x = torch.randn(2, 1, 8)

# %%
# Past keys and values of different lengths are rejected by the module's guards, before any
# computation:

x, key, value = make_step_inputs(batch=2, seq=1, past=4)
try:
    module(x, key, value[:, :3])
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed"), e
    assert "past_value.size()[1]" in str(e) or "past_key.size()[1]" in str(e), e
else:
    raise AssertionError("the module no longer checks the cache lengths: update this recipe")
