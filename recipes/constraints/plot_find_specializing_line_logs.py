"""
.. _recipe-find-specializing-line-logs:

Which line specialized my dimension? ``TORCH_LOGS="+dynamic"`` and ``TORCHDYNAMO_EXTENDED_DEBUG_GUARD_ADDED``
=============================================================================================================

In a large model, "You marked seq as dynamic but your code specialized it to be a constant" says
*what* happened, not *where*. The message itself points at ``TORCH_LOGS="+dynamic"``, whose
output, for a real model, is a wall of lines. Two of them matter: the line that says which guard fixed the
dimension and where, and, with ``TORCHDYNAMO_EXTENDED_DEBUG_GUARD_ADDED`` set to that guard, the
whole call stack that led to it.

This recipe captures the logs inside the script (``torch._logging.set_logs`` and a logging
handler), keeps those few lines, follows the stack down to the line responsible, and fixes it.
The environment variables do the same from a shell; the end of the recipe shows how.
:ref:`recipe-specialized-to-constant` finds the line with ``torch.export.draft_export`` instead
and goes through the usual culprits.

A model where the line is hard to find
--------------------------------------
"""

import contextlib
import io
import logging
import math
import re

import torch
import torch.fx.experimental._config as shape_config
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

Dim = torch.export.Dim


def position_scale(seq):
    return 1.0 / math.sqrt(seq)


class Positions(torch.nn.Module):
    def forward(self, x):
        seq = x.shape[1]
        return torch.arange(seq, dtype=x.dtype)[None, :, None] * position_scale(seq)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.positions = Positions()

    def forward(self, x):
        return torch.relu(self.linear(x) + self.positions(x))


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.Sequential(Block(), Block(), Block())

    def forward(self, x):
        return self.blocks(x)


torch.manual_seed(0)
model = Model().eval()
x = torch.randn(2, 6, 4)
spec = ({1: Dim("seq")},)

try:
    torch.export.export(model, (x,), dynamic_shapes=spec)
    raise AssertionError("the model no longer specializes seq: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert str(e).startswith("Constraints violated (seq)!"), e
    assert "You marked seq as dynamic but your code specialized it to be a constant (6)" in str(e), e
    assert 'run with TORCH_LOGS="+dynamic"' in str(e), e

# %%
# (``torch._dynamo.exc.UserError`` is private; code you keep can catch ``RuntimeError``, its base
# class.) Nothing in the message names a file or a line.
#
# Step 1: ``TORCH_LOGS="+dynamic"``, filtered
# -------------------------------------------
#
# ``TORCH_LOGS="+dynamic"`` sets the ``dynamic`` logs of PyTorch to ``DEBUG``. Inside a script,
# ``torch._logging.set_logs(dynamic=logging.DEBUG)`` does the same: it is the documented Python
# API of ``TORCH_LOGS``, despite the underscore. The records come from the logger
# ``torch.fx.experimental.symbolic_shapes``; a handler of our own collects them, in place of the
# one that prints them to stderr with a timestamp and a process id.


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

print(f"{len(records)} log records")

# %%
# Among those records, two kinds matter. ``create_symbol`` says which symbol stands for which
# input size, and ``[guard added]`` says which condition tracing assumed, and where. The symbols
# are numbered (``s27``...); the numbers change with argument names and PyTorch versions, so the
# lines printed here replace each symbol with the input size it stands for, and shorten paths to
# a file name.

messages = [r.getMessage() for r in records]
symbols = dict(re.findall(r"create_symbol (s\d+) = \d+ for (\S+)", "\n".join(messages)))
print("symbols for:", list(symbols.values()))
assert list(symbols.values()) == ["L['x'].size()[1]"], symbols


def readable(message):
    """A log message with input sizes for symbols and file names for paths, first line only."""
    message = message.splitlines()[0]
    message = re.sub(r"s\d+", lambda m: symbols.get(m.group(0), m.group(0)), message)
    return re.sub(r"\((?:[^()\s]*/)?([^/()\s]+:\d+ in \w+)\)", r"(\1)", message)


guards = [m for m in messages if "[guard added]" in m]
print("\n".join(readable(m).split(", for more info")[0] for m in guards))
assert len(guards) == 1, guards
assert 'for more info run with TORCHDYNAMO_EXTENDED_DEBUG_GUARD_ADDED="' in guards[0], guards
assert readable(guards[0]).startswith("eval Eq(L['x'].size()[1], 6) [guard added] ("), guards
assert readable(guards[0]).split(", for more info")[0].endswith(" in position_scale)"), guards

# %%
# One guard, ``Eq(L['x'].size()[1], 6)``: the sequence length equals 6. Its location is the
# innermost frame of user code, the function ``position_scale`` (the raw line has the path, and
# ends with advice cut here). ``math.sqrt`` needs a Python ``float``, so the symbolic length was
# converted to its example value, and tracing recorded the condition under which that value stays
# right.
#
# In a small model, that is enough. In a large one, ``position_scale`` may be a helper called
# from many places, and the question becomes *which call*. The end of the log line says what to
# do next: run again with ``TORCHDYNAMO_EXTENDED_DEBUG_GUARD_ADDED`` set to the guard.
#
# Step 2: ``TORCHDYNAMO_EXTENDED_DEBUG_GUARD_ADDED``, the stack of one guard
# --------------------------------------------------------------------------
#
# The guard string, with its real symbol, is in the log line:

guard = re.search(r'TORCHDYNAMO_EXTENDED_DEBUG_GUARD_ADDED="([^"]+)"', guards[0]).group(1)

# %%
# PyTorch reads the environment variable once, when it is imported, into
# ``torch.fx.experimental._config.extended_debug_guard_added`` (a private module). Inside a
# running script, set that attribute; from a shell, set the variable. When tracing adds exactly
# that guard, the log record carries the Python stack (``record.stack_info``). The frames of the
# model's own file are the ones to read:

assert hasattr(shape_config, "extended_debug_guard_added"), "the private config moved: update this recipe"
with shape_logs() as records, shape_config.patch(extended_debug_guard_added=guard):
    with contextlib.suppress(torch._dynamo.exc.UserError):
        torch.export.export(model, (x,), dynamic_shapes=spec)

stacks = [r.stack_info for r in records if r.stack_info and "[guard added]" in r.getMessage()]
assert len(stacks) == 1, len(stacks)


def frames_of(stack, path):
    """(line, function, code) of each frame of ``stack`` (a formatted Python stack) in file ``path``."""
    frames, lines = [], stack.splitlines()
    for i, text in enumerate(lines):
        match = re.match(r'\s*File "([^"]+)", line (\d+), in (\S+)$', text)
        if match and match.group(1) == path:
            code = lines[i + 1].strip() if i + 1 < len(lines) and not lines[i + 1].lstrip().startswith("File ") else ""
            frames.append((int(match.group(2)), match.group(3), code))
    return frames


user_frames = frames_of(stacks[0], Model.forward.__code__.co_filename)
for line, function, code in user_frames:
    print(f"line {line}, in {function}: {code}")
assert [function for _, function, _ in user_frames[-4:]] == ["forward", "forward", "forward", "position_scale"]
assert [code for _, _, code in user_frames[-4:]] == [
    "return self.blocks(x)",
    "return torch.relu(self.linear(x) + self.positions(x))",
    "return torch.arange(seq, dtype=x.dtype)[None, :, None] * position_scale(seq)",
    "return 1.0 / math.sqrt(seq)",
], user_frames

# %%
# Read from the bottom: ``math.sqrt(seq)`` in ``position_scale``, called by
# ``Positions.forward``, called by ``Block.forward`` (through ``self.positions``), called by
# ``Model.forward``, called by the ``export`` line of this script. The frames of PyTorch between
# them (tracing, ``nn.Module.__call__``, ``Sequential``) are left out here; the raw stack has
# them all.
#
# The fix
# -------
#
# ``seq ** -0.5`` computes the same scale without leaving the symbolic world: a power of a
# symbolic integer is a symbolic float, and the graph computes it at run time.


def position_scale(seq):  # noqa: F811 (the fixed version replaces the one above)
    return seq**-0.5


ep = torch.export.export(model, (x,), dynamic_shapes=spec)
ranges = [str(r) for r in ep.range_constraints.values()]
print(ranges)
assert ranges == ["VR[0, int_oo]"], ranges


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


check_against_eager(ep, model, [(torch.randn(2, 3, 4),), (torch.randn(2, 11, 4),)])

# %%
# ``Positions`` looks ``position_scale`` up when it runs, so redefining the function fixes the
# model in place. The sequence length now has the range of ``Dim("seq")``, and the program
# matches eager on sequences of 3 and 11.
#
# The same from a shell
# ---------------------
#
# Without changing the script::
#
#     TORCH_LOGS="+dynamic" python export_model.py 2>&1 | grep -E "create_symbol|guard added"
#
# then, with the guard copied from the ``[guard added]`` line, symbol included (for this model,
# something like ``Eq(s27, 6)``)::
#
#     TORCH_LOGS="+dynamic" TORCHDYNAMO_EXTENDED_DEBUG_GUARD_ADDED="Eq(s27, 6)" python export_model.py
#
# Look for ``Stack (most recent call last)`` under the ``[guard added]`` line. Each log line
# starts with a level, a timestamp, a process id and a path, which is why this recipe collects
# the records instead of printing them. If the error is about a data-dependent symbol (``u0``),
# the message names ``TORCHDYNAMO_EXTENDED_DEBUG_CREATE_SYMBOL``, which gives the stack of the
# line that created the symbol. A branch on a tensor's value, for instance:


class Branch(torch.nn.Module):
    def forward(self, x):
        return x * 2 if x.sum() > 0 else x


try:
    with contextlib.redirect_stderr(io.StringIO()):  # export prints its partial graph there
        torch.export.export(Branch(), (x,), dynamic_shapes=spec)
    raise AssertionError("a branch on a tensor's value now exports: update this recipe")
except GuardOnDataDependentSymNode as e:
    hint = [line for line in str(e).splitlines() if "TORCHDYNAMO_EXTENDED_DEBUG_CREATE_SYMBOL" in line]
    print(str(e).splitlines()[0], *hint, sep="\n")
    assert re.fullmatch(r'For extended logs when we create symbols, also add TORCHDYNAMO_EXTENDED_DEBUG_CREATE_SYMBOL="u\d+"', hint[0]), hint

# %%
# (``GuardOnDataDependentSymNode`` is in ``torch.fx.experimental.symbolic_shapes``, a private
# module; it is a ``RuntimeError``. Before raising, export also prints on stderr the graph it
# traced up to the failure, kept off this page.) Set that variable, with the symbol the message
# gives, beside ``TORCH_LOGS="+dynamic"``.
