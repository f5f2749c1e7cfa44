"""
.. _recipe-sweep-shapes:

Does the exported program match eager on every size it accepts? Sweeping shapes
===============================================================================

Export succeeded and the program matches eager on the example input. That says little about
other sizes: export decided some things once, while tracing the example, and a program can be
right for most sizes and wrong for a few. This recipe builds a small grid from the program's
own ranges (each minimum and maximum, the size just outside each end, and a size inside), runs
eager and the exported module on every point, and prints one table. On a model that looks
harmless, the sweep finds a batch size for which the program returns NaN while eager does not,
and a size outside the declared range that the program accepts. The fix ends with a clean
sweep.

A model that is right for the example
-------------------------------------

The model standardizes each feature over the batch, and returns a batch of one as it is (the
standard deviation of a single sample is undefined).
"""

import itertools
import warnings

import torch

Dim = torch.export.Dim


class Model(torch.nn.Module):
    def forward(self, x):
        if x.shape[0] == 1:
            return x
        return (x - x.mean(dim=0)) / x.std(dim=0)


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


model = Model()
spec = ({0: Dim("batch", max=64), 1: Dim("n", min=2, max=8)},)
example = torch.randn(4, 3)
ep = torch.export.export(model, (example,), dynamic_shapes=spec)
print(ep.range_constraints)

check_against_eager(ep, model, [(example,), (torch.randn(7, 5),), (torch.randn(2, 8),)])

# %%
# Export raised nothing, and the usual check passes: the example and two new shapes match.
#
# The sweep
# ---------
#
# Three small functions. ``dim_range`` reads the range of one dimension of one input from the
# program. ``edge_sizes`` picks the sizes to try: just below the minimum, the minimum, one
# above, the middle, the maximum and one above it. ``sweep`` runs every combination and gives
# each a verdict:
#
# * ``ok``: inside the ranges, same result as eager;
# * ``guard``: outside the ranges, refused by a guard, as it should be;
# * ``DIFFERS``: the program returns something else than eager;
# * ``GUARD-IN``: inside the ranges, but refused by a guard (a hidden specialization);
# * ``outside``: outside the ranges, but accepted (and same result as eager).


def dim_range(ep, input_name, dim):
    node = next(n for n in ep.graph.nodes if n.op == "placeholder" and n.name == input_name)
    value_range = ep.range_constraints[node.meta["val"].shape[dim].node.expr]
    upper = None if str(value_range.upper) == "int_oo" else int(value_range.upper)
    return int(value_range.lower), upper


def edge_sizes(low, high):
    top = high if high is not None else low + 16
    sizes = {low - 1, low, low + 1, (low + top) // 2, top}
    if high is not None:
        sizes.add(high + 1)
    return sorted(s for s in sizes if s >= 0)


def sweep(ep, model, make_inputs, ranges):
    module = ep.module()
    verdicts = {}
    for sizes in itertools.product(*(edge_sizes(*r) for r in ranges)):
        inside = all(lo <= s and (hi is None or s <= hi) for s, (lo, hi) in zip(sizes, ranges))
        inputs = make_inputs(*sizes)
        expected = model(*inputs)
        try:
            got = module(*inputs)
        except AssertionError:  # a guard refused the input
            verdicts[sizes] = "GUARD-IN" if inside else "guard"
            continue
        if got.shape != expected.shape or not torch.allclose(got, expected):
            verdicts[sizes] = "DIFFERS"
        else:
            verdicts[sizes] = "ok" if inside else "outside"
    return verdicts


def print_table(verdicts, row_name, col_name):
    rows = sorted({k[0] for k in verdicts})
    cols = sorted({k[1] for k in verdicts})
    print(f"{row_name} \\ {col_name}".ljust(12) + "".join(f"{c:>9}" for c in cols))
    for r in rows:
        print(f"{r:<12}" + "".join(f"{verdicts[r, c]:>9}" for c in cols))


ranges = [dim_range(ep, "x", 0), dim_range(ep, "x", 1)]
print(ranges)
verdicts = sweep(ep, model, lambda b, n: (torch.randn(b, n),), ranges)
print_table(verdicts, "batch", "n")

# %%
# 30 calls on tiny tensors. The edges of both ranges behave: batch 0 and 64 and ``n`` from 2
# to 8 match eager, a batch of 65 or ``n = 9`` is refused. Two findings that no single example
# shows:
#
# * the row of batch 1 ``DIFFERS`` wherever the module accepts it, although 1 is inside the
#   range ``[0, 64]``;
# * the column of ``n = 1`` is accepted (``outside``) although the range of ``n`` starts at 2.

assert all(verdicts[1, c] == "DIFFERS" for c in (1, 2, 3, 5, 8)), "batch 1 is now right: update this recipe"
assert all(verdicts[b, 1] == "outside" for b in (0, 32, 64)), verdicts

# %%
# The two ``UserWarning`` lines printed above the table come from the sweep's batch of 0:
# ``x.std(dim=0)`` of no row warns, in eager (the recipe's line) and in the program (through
# ``torch/_ops.py``). The result has no row either way, and matches.

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    empty = model(torch.randn(0, 3))
print(empty.shape, [str(w.message).split(".")[0] for w in caught])
assert empty.shape == (0, 3) and any(str(w.message).startswith("std(): degrees of freedom is <= 0") for w in caught)

# %%
# Why batch 1 is wrong
# --------------------
#
# ``if x.shape[0] == 1`` is Python: export evaluated it once, with the example's batch of 4,
# and kept only the branch taken. The graph has no trace of the other one:

print(ep.graph_module.code)
print(ep.module()(torch.randn(1, 3)))

# %%
# Export did not make the test a guard either: the range of ``batch`` still includes 1 and the
# module accepts it, then divides by the standard deviation of one sample, NaN, as printed
# above (with the ``std()`` warning again: one sample has no degree of freedom either). A single
# example, or a few random sizes, would never have tried 1. Outside the range, a size the
# module refuses looks like this:

try:
    ep.module()(torch.randn(65, 3))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] <= 64", e
else:
    raise AssertionError("batch 65 is now accepted: update this recipe")

# %%
# ``n = 1`` is accepted because the module does not check a lower bound of 2 (sizes 0 and 1 are
# special to export, and it leaves them out of its checks); a bound of 3 or more is checked. The
# results are still right there, the model does not depend on ``n``, but the range printed by
# export is not a promise that 1 is refused.
#
# The fix: keep both branches in the graph
# ----------------------------------------
#
# ``torch.cond`` records both branches and picks one at run time. The ``x.clone()`` is needed:
# a branch may not return its input as is.


class FixedModel(torch.nn.Module):
    def forward(self, x):
        return torch.cond(
            x.shape[0] == 1,
            lambda x: x.clone(),
            lambda x: (x - x.mean(dim=0)) / x.std(dim=0),
            (x,),
        )


fixed = FixedModel()
fixed_ep = torch.export.export(fixed, (example,), dynamic_shapes=spec)
fixed_verdicts = sweep(fixed_ep, fixed, lambda b, n: (torch.randn(b, n),), ranges)
print_table(fixed_verdicts, "batch", "n")
assert "DIFFERS" not in fixed_verdicts.values() and "GUARD-IN" not in fixed_verdicts.values(), fixed_verdicts

check_against_eager(fixed_ep, model, [(torch.randn(*shape),) for shape in [(1, 3), (1, 7), (5, 3), (9, 7)]])

# %%
# No ``DIFFERS`` left: the fixed program matches the original ``model`` on 4 new shapes, batch 1
# included (the warnings above the table are the batch of 0's, as before). The ``outside``
# column remains, as explained
# above; if ``n = 1`` must be refused, check it before calling the program, or give ``n`` a
# minimum of 3.
