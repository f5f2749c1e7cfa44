"""
.. _recipe-max-min-on-sizes:

max(x.shape[0], y.shape[0]) and math on sizes: what stays dynamic
=================================================================

Models compute with sizes in plain Python: the longest of two sequences, the shorter one, a
``math.sqrt`` of a length. During export a size is a symbolic integer (``torch.SymInt``), and
Python operations on it either keep it symbolic, add a *guard* (a condition the program will
check), or turn it into a constant. This recipe shows which is which on the pinned PyTorch:
two-argument ``max``/``min`` stay symbolic, ``max`` of three sizes and hand-written comparisons
add guards, ``math.sqrt``, ``float()`` and ``int()`` specialize. The fixes are
``torch.sym_max``, ``torch.sym_min``, ``torch.sym_sqrt``, ``torch.sym_float``, ``torch.sym_int``
and ``torch.sym_ite``, checked against eager on new shapes.

``max`` of two sizes works
--------------------------

``PadToLongest`` pads two sequences to the longer one and stacks them:
"""

import math

import torch
import torch.nn.functional as F

Dim = torch.export.Dim


def pad_rows(t, rows):
    return F.pad(t, (0, 0, 0, rows - t.shape[0]))


class PadToLongest(torch.nn.Module):
    def forward(self, x, y):
        longest = max(x.shape[0], y.shape[0])
        return torch.stack([pad_rows(x, longest), pad_rows(y, longest)])


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def random_inputs(*shapes):
    """A tuple of random tensors, one per shape."""
    return tuple(torch.randn(*shape) for shape in shapes)


pad_to_longest = PadToLongest()
x, y = torch.randn(3, 2), torch.randn(5, 2)
spec = {"x": {0: Dim("nx")}, "y": {0: Dim("ny")}}

ep = torch.export.export(pad_to_longest, (x, y), dynamic_shapes=spec)
print(ep.graph_module.code)
assert "torch.sym_max(" in ep.graph_module.code
check_against_eager(ep, pad_to_longest, [random_inputs((4, 2), (6, 2)), random_inputs((6, 2), (2, 2))])

# %%
# The graph computes ``torch.sym_max`` of the two sizes when it runs, and the module matches
# eager whichever input is longer. This is not Python's ``max`` at work: while it traces, export
# (in its default, non-strict mode) replaces the built-in ``max`` and ``min`` by
# ``torch.sym_max`` and ``torch.sym_min`` for calls with two arguments or one list. Python's own
# ``max`` would compare the sizes, and a comparison needs a ``True``/``False`` answer, which
# export can only give by fixing a guard such as ``nx < ny``. The next model hits that path.
#
# ``max`` of three sizes adds guards
# ----------------------------------


class PadToLongest3(torch.nn.Module):
    def forward(self, x, y, z):
        longest = max(x.shape[0], y.shape[0], z.shape[0])
        return torch.stack([pad_rows(x, longest), pad_rows(y, longest), pad_rows(z, longest)])


pad_to_longest3 = PadToLongest3()
x, y, z = torch.randn(3, 2), torch.randn(5, 2), torch.randn(4, 2)
try:
    torch.export.export(
        pad_to_longest3, (x, y, z), dynamic_shapes={"x": {0: Dim("nx")}, "y": {0: Dim("ny")}, "z": {0: Dim("nz")}}
    )
    raise AssertionError("max of three sizes now stays symbolic: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert "Not all values of ny = L['y'].size()[0]" in message, message

# %%
# ``torch._dynamo.exc.UserError`` is the class export raises (a private class, a subclass of
# ``RuntimeError``: see :ref:`recipe-bounded-dim-min-max`). With three arguments, the call goes
# to Python's ``max``, which compares the sizes: export decided that ``y`` is the longest, as in
# the example, and the guards this adds do not hold for every size the ``Dim`` objects allow.
# The message talks about a minimum for ``ny``, which hides the real problem. With ``Dim.AUTO``,
# export accepts the guards silently and the program only works when ``y`` is the longest:

auto = {"x": {0: Dim.AUTO}, "y": {0: Dim.AUTO}, "z": {0: Dim.AUTO}}
ep = torch.export.export(pad_to_longest3, (x, y, z), dynamic_shapes=auto)
print(ep._guards_code)

# %%
# (``_guards_code`` is private; it lists the checks of the module.) When ``x`` is the longest:

try:
    ep.module()(torch.randn(6, 2), torch.randn(3, 2), torch.randn(2, 2))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed"), e
else:
    raise AssertionError("the AUTO program now accepts any longest input: update this recipe")

# %%
# The guard ``y > x`` fails. Two rewrites keep the result symbolic. ``max`` of *one list* is
# replaced by export like the call with two arguments:


class PadToLongest3List(torch.nn.Module):
    def forward(self, x, y, z):
        longest = max([x.shape[0], y.shape[0], z.shape[0]])
        return torch.stack([pad_rows(x, longest), pad_rows(y, longest), pad_rows(z, longest)])


longest_first_or_last = [random_inputs((6, 2), (3, 2), (2, 2)), random_inputs((2, 2), (3, 2), (7, 2))]
ep = torch.export.export(PadToLongest3List(), (x, y, z), dynamic_shapes=auto)
print(ep._guards_code)
assert ep._guards_code == [] and "torch.sym_max(" in ep.graph_module.code, ep._guards_code
check_against_eager(ep, pad_to_longest3, longest_first_or_last)

# %%
# The explicit form, ``torch.sym_max`` two arguments at a time, does not rely on export's
# replacement:


class PadToLongest3Fixed(torch.nn.Module):
    def forward(self, x, y, z):
        longest = torch.sym_max(torch.sym_max(x.shape[0], y.shape[0]), z.shape[0])
        return torch.stack([pad_rows(x, longest), pad_rows(y, longest), pad_rows(z, longest)])


ep = torch.export.export(PadToLongest3Fixed(), (x, y, z), dynamic_shapes=auto)
print(ep._guards_code)
assert ep._guards_code == [], ep._guards_code
check_against_eager(ep, pad_to_longest3, longest_first_or_last)

# %%
# No guard in either, and the results match the original model for any longest input.
#
# ``min``: the same with ``torch.sym_min``
# ----------------------------------------
#
# Truncating both inputs to the shorter one works the same way; ``torch.sym_min`` is the explicit
# form:


class TruncateToShortest(torch.nn.Module):
    def forward(self, x, y):
        shortest = torch.sym_min(x.shape[0], y.shape[0])
        return x[:shortest] * y[:shortest]


truncate = TruncateToShortest()
x, y = torch.randn(3, 2), torch.randn(5, 2)
ep = torch.export.export(truncate, (x, y), dynamic_shapes=spec)
assert "torch.sym_min(" in ep.graph_module.code
check_against_eager(ep, truncate, [random_inputs((4, 2), (6, 2)), random_inputs((6, 2), (2, 2))])

# %%
# ``math.sqrt`` and ``float()`` on a size specialize it
# -----------------------------------------------------
#
# ``Normalize`` divides a sum by the number of rows and by its square root:


class Normalize(torch.nn.Module):
    def forward(self, x):
        n = x.shape[0]
        return x.sum(0) / float(n), x.sum(0) / math.sqrt(n)


normalize = Normalize()
x = torch.randn(5, 3)
try:
    torch.export.export(normalize, (x,), dynamic_shapes=({0: Dim("n")},))
    raise AssertionError("float()/math.sqrt of a size now stay symbolic: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert "You marked n as dynamic but your code specialized it to be a constant (5)" in message, message

# %%
# ``float(n)`` and ``math.sqrt(n)`` must return a real Python float, so export takes the value of
# the example, 5, and the dimension is no longer dynamic (see
# :ref:`recipe-specialized-to-constant` to find such lines). The ``torch.sym_*`` functions return
# symbolic values instead:


class NormalizeFixed(torch.nn.Module):
    def forward(self, x):
        n = x.shape[0]
        return x.sum(0) / torch.sym_float(n), x.sum(0) / torch.sym_sqrt(n)


ep = torch.export.export(NormalizeFixed(), (x,), dynamic_shapes=({0: Dim("n")},))
print(ep.graph_module.code)
check_against_eager(ep, normalize, [random_inputs((2, 3)), random_inputs((11, 3))])

# %%
# The graph converts the size with ``torch.sym_float`` and takes its square root with
# ``torch._sym_sqrt`` when it runs. ``n ** 0.5`` does as well: the power of a size is symbolic.


class NormalizePow(torch.nn.Module):
    def forward(self, x):
        return x.sum(0) / x.shape[0] ** 0.5


ep = torch.export.export(NormalizePow(), (x,), dynamic_shapes=({0: Dim("n")},))
print(ep.graph_module.code)
assert "** 0.5" in ep.graph_module.code, ep.graph_module.code
check_against_eager(ep, NormalizePow(), [random_inputs((2, 3)), random_inputs((11, 3))])

# %%
# ``int()`` on a size: ``torch.sym_int``, or ``//``
# ---------------------------------------------------
#
# ``int()`` must return a real Python integer, so it fixes its result to the example's value.
# ``Zeros`` appends ``n / 2`` rows of zeros (rounded down) to ``x``; with 5 rows, ``int(5 / 2)``
# is 2, and export turns that into a guard only 4 and 5 satisfy:


class Zeros(torch.nn.Module):
    def forward(self, x):
        half = int(x.shape[0] / 2)
        return torch.cat([x, x.new_zeros(half, x.shape[1])])


n = Dim("n", min=4)
try:
    torch.export.export(Zeros(), (x,), dynamic_shapes=({0: n},))
    raise AssertionError("int() of a size now stays symbolic: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert "satisfy the generated guard (L['x'].size()[0] // 2) == 2" in message, message

# %%
# (``min=4`` keeps ``n / 2`` away from 0 and 1, the sizes export treats as special.)
# ``torch.sym_int`` is the symbolic version of ``int()``; ``n // 2`` is simpler and gives the
# same value for sizes:


class ZerosSymInt(torch.nn.Module):
    def forward(self, x):
        half = torch.sym_int(x.shape[0] / 2)
        return torch.cat([x, x.new_zeros(half, x.shape[1])])


class ZerosFloorDiv(torch.nn.Module):
    def forward(self, x):
        return torch.cat([x, x.new_zeros(x.shape[0] // 2, x.shape[1])])


for fixed in (ZerosSymInt(), ZerosFloorDiv()):
    ep = torch.export.export(fixed, (x,), dynamic_shapes=({0: n},))
    print(type(fixed).__name__, ep._guards_code)
    assert ep._guards_code == [], ep._guards_code
    check_against_eager(ep, Zeros(), [random_inputs((4, 3)), random_inputs((9, 3))])

# %%
# Both export without guard and match the original model on 4 and 9 rows. The same holds for
# ``int(math.ceil(n / 2))``: write ``(n + 1) // 2`` (see :ref:`recipe-specialized-to-constant`).
#
# ``a if a >= b else b``: ``torch.sym_ite``
# -----------------------------------------
#
# A conditional expression on sizes is a comparison, so it guards like Python's ``max``:


class PadToLongestIf(torch.nn.Module):
    def forward(self, x, y):
        a, b = x.shape[0], y.shape[0]
        longest = a if a >= b else b
        return torch.stack([pad_rows(x, longest), pad_rows(y, longest)])


auto2 = {"x": {0: Dim.AUTO}, "y": {0: Dim.AUTO}}
x, y = torch.randn(3, 2), torch.randn(5, 2)
ep = torch.export.export(PadToLongestIf(), (x, y), dynamic_shapes=auto2)
print(ep._guards_code)
assert ep._guards_code == ["L['x'].size()[0] < L['y'].size()[0]"], ep._guards_code

# %%
# ``torch.sym_ite(condition, a, b)`` computes ``a if condition else b`` when the program runs,
# without a guard:


class PadToLongestIte(torch.nn.Module):
    def forward(self, x, y):
        a, b = x.shape[0], y.shape[0]
        longest = torch.sym_ite(a >= b, a, b)
        return torch.stack([pad_rows(x, longest), pad_rows(y, longest)])


ep = torch.export.export(PadToLongestIte(), (x, y), dynamic_shapes=auto2)
print(ep._guards_code)
assert ep._guards_code == [] and "torch.sym_ite(" in ep.graph_module.code, ep._guards_code
check_against_eager(ep, PadToLongestIf(), [random_inputs((6, 2), (2, 2)), random_inputs((2, 2), (7, 2))])
