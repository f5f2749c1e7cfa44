"""
.. _recipe-optional-inputs-none:

"Trying to flatten user inputs with exported input tree spec": an input that is sometimes ``None``
==================================================================================================

Many models take an optional tensor: ``forward(self, x, mask=None)``, where ``None`` means "no
padding, use every position". Export traces one call, so it sees the mask or it sees ``None``, and
the program it returns serves that case only. Called the other way, it raises "Trying to flatten
user inputs with exported input tree spec", or an ``AttributeError`` on ``None``, or worse, runs
and ignores the mask.

This recipe shows the error a ``dynamic_shapes`` entry for an argument that was not passed gives,
what each of the three programs (mask left out, ``None`` passed, a mask passed) does with the
other case, and two fixes: always pass a mask, or export one program per case.

A pooling layer with an optional mask
-------------------------------------
"""

import torch

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class MaskedMean(torch.nn.Module):
    """The mean over the sequence of ``x`` (batch, seq, features), of the positions ``mask`` keeps."""

    def forward(self, x, mask=None):
        if mask is None:
            return x.mean(dim=1)
        weights = mask.unsqueeze(-1).to(x.dtype)
        return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)


torch.manual_seed(0)
model = MaskedMean()
x = torch.randn(2, 5, 4)
mask = torch.tensor([[True, True, True, False, False], [True] * 5])  # the first sequence is padded
x_dims = {0: Dim("batch"), 1: Dim("seq")}

# %%
# An entry in ``dynamic_shapes`` for an argument that was not passed
# -------------------------------------------------------------------
#
# Exported with ``x`` alone, the model's ``forward`` is called without ``mask``. A spec that also
# gives ``mask`` an entry, even ``None``, is refused: the keys of a ``dynamic_shapes`` dict must be
# the arguments of *this* call.

try:
    torch.export.export(model, (x,), dynamic_shapes={"x": x_dims, "mask": None})
    raise AssertionError("a spec entry for an argument not passed is now accepted: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert "top-level keys must be the arg names ['x']" in str(e), e

# %%
# (``torch._dynamo.exc.UserError`` is private; its public base class ``RuntimeError`` catches
# it too.)
#
# The mask left out: a program without a mask
# -------------------------------------------
#
# With the entry removed, export succeeds, and the program has one input: the ``if mask is None``
# branch ran while tracing, and the other branch is not in the graph. Called with a mask, it
# refuses the call before running anything, with the error of this page's title:

without_mask = torch.export.export(model, (x,), dynamic_shapes={"x": x_dims})
print(without_mask.graph_signature)
assert [spec.arg.name for spec in without_mask.graph_signature.input_specs] == ["x"]

try:
    without_mask.module()(x, mask)
    raise AssertionError("the program now accepts an input it was not exported with: update this recipe")
except ValueError as e:
    print(e)
    assert str(e).startswith("Trying to flatten user inputs with exported input tree spec"), e
    exported_spec, called_spec = str(e).split("but actually got")
    assert exported_spec.count("*") == 1 and called_spec.count("*") == 2, e

# %%
# The message compares two tree specs: the structure of the exported inputs (a tuple of one
# tensor, ``[*]``) and that of the call (a tuple of two, ``[*, *]``). It means "these are not the
# arguments the program was exported with", whatever their shapes.
#
# ``None`` passed: a program that ignores the mask
# ------------------------------------------------
#
# Passing ``None`` explicitly, with ``None`` as its spec, gives a program whose signature lists
# ``mask``. It does not check what it receives there: called with a mask, it runs and returns the
# unmasked mean, as if the mask were ``None``. No error, a wrong result for the padded sequence:

none_passed = torch.export.export(model, (x, None), dynamic_shapes={"x": x_dims, "mask": None})
print(none_passed.graph_signature)
assert [spec.arg.name for spec in none_passed.graph_signature.input_specs] == ["x", "mask"]

ignored = none_passed.module()(x, mask)
print("with a mask:", ignored)
torch.testing.assert_close(ignored, model(x))  # the mean of all 5 positions
assert not torch.allclose(ignored[0], model(x, mask)[0])  # not the mean of the first 3

# %%
# A mask passed: a program that needs one
# ---------------------------------------
#
# Exported with a mask, the program holds the masked branch and checks the mask's shape. Without a
# mask it refuses the call as above; with ``None`` in the mask's place, its input checks fail on
# ``None`` itself with an ``AttributeError`` that does not say which input is wrong:

mask_dims = {0: Dim("batch"), 1: Dim("seq")}
with_mask = torch.export.export(model, (x, mask), dynamic_shapes={"x": x_dims, "mask": mask_dims})

try:
    with_mask.module()(x)
    raise AssertionError("the program now accepts a call without the mask: update this recipe")
except ValueError as e:
    assert str(e).startswith("Trying to flatten user inputs with exported input tree spec"), e

try:
    with_mask.module()(x, None)
    raise AssertionError("the program now accepts None for the mask: update this recipe")
except AttributeError as e:
    print(e)
    assert "'NoneType' object" in str(e), e

# %%
# One program serves one structure of inputs: which arguments are tensors and which are ``None``
# is fixed at export, like a static dimension, and ``dynamic_shapes`` cannot make it vary.
#
# Fix 1: always pass a mask
# -------------------------
#
# When "no mask" means "keep every position", an all-``True`` mask is the same thing. The caller
# builds one when it has none, and the program exported with a mask serves both cases. Checked
# against eager, with and without a mask, on new batch sizes and sequence lengths:

masked_module = with_mask.module()


def run_with_mask(x, mask=None):
    """Calls the program exported with a mask; ``None`` becomes a mask that keeps every position."""
    if mask is None:
        mask = torch.ones(x.shape[:2], dtype=torch.bool)
    return masked_module(x, mask)


for batch, seq in [(3, 7), (1, 2), (4, 9)]:
    new_x = torch.randn(batch, seq, 4)
    new_mask = torch.rand(batch, seq) > 0.3
    new_mask[:, 0] = True
    torch.testing.assert_close(run_with_mask(new_x, new_mask), model(new_x, new_mask))
    torch.testing.assert_close(run_with_mask(new_x), model(new_x))
print("one program, with and without a mask, matches eager on 3 new shapes")

# %%
# Fix 2: one program per case
# ---------------------------
#
# When ``None`` selects other code (a default causal mask, a skipped layer), export the model
# twice, once per case, and pick the program by whether the mask is given. Both programs keep
# their dimensions dynamic:

programs = {False: without_mask.module(), True: with_mask.module()}


def run_either(x, mask=None):
    """Calls the program exported for this case: without a mask, or with one."""
    return programs[mask is not None](*((x,) if mask is None else (x, mask)))


new_inputs = [(torch.randn(3, 7, 4),), (torch.randn(1, 2, 4),)]
check_against_eager(without_mask, model, new_inputs)
masked_inputs = [(torch.randn(3, 7, 4), torch.rand(3, 7) > 0.5), (torch.randn(1, 2, 4), torch.ones(1, 2, dtype=torch.bool))]
check_against_eager(with_mask, model, masked_inputs)
for inputs in [*new_inputs, *masked_inputs]:
    torch.testing.assert_close(run_either(*inputs), model(*inputs))

# %%
# In short: a program is exported for one structure of its inputs. Leave ``None`` arguments out of
# ``dynamic_shapes`` when you leave them out of the call, never export with ``None`` an input
# that callers will fill, and either pass the optional tensor always (a neutral value for
# "none") or keep one program per case.
