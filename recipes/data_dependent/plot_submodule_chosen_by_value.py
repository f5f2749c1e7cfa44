"""
.. _recipe-submodule-chosen-by-value:

``KeyError: 'domainu0 + 1'``: a submodule chosen by a tensor's value
====================================================================

A model built like a multi-domain classifier keeps one head per domain in an ``nn.ModuleDict``
and picks the head of each sample with ``self.heads[f"domain{idx.item() + 1}"]``. Eager mode runs
it; export fails with ``KeyError: 'domainu0 + 1'``, a key that no one wrote.

This recipe answers the reports of that kind: it explains where that key comes from (a value
read with ``.item()`` is a symbol while tracing, and the f-string writes the symbol), shows what
the strict mode says, and rewrites the selection with tensor operations (every head runs, and
indexing picks the results), checked against eager with a dynamic batch and number of samples.

Public reports of this kind: pytorch/pytorch#167719.

The failure
-----------
"""

import torch
from torch import nn

Dim = torch.export.Dim


class DomainHeads(nn.Module):
    """One linear head per domain; ``domains`` holds the domain (0 or 1) of each output wanted."""

    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleDict({"domain1": nn.Linear(8, 3), "domain2": nn.Linear(8, 3)})

    def forward(self, x, domains):
        return [self.heads[f"domain{idx.item() + 1}"](x) for idx in domains]


torch.manual_seed(0)
model = DomainHeads().eval()
x, domains = torch.randn(2, 8), torch.tensor([0, 1])
print([tuple(out.shape) for out in model(x, domains)])
try:
    torch.export.export(model, (x, domains))
    raise AssertionError("a ModuleDict key built from .item() now exports: update this recipe")
except KeyError as e:
    print(f"KeyError: {e}")
    assert str(e) == "'domainu0 + 1'", e

# %%
# While export traces the model, ``idx.item()`` does not return 0 or 1: it returns a symbol,
# ``u0``, which stands for "the value this tensor will hold when the program runs" (see
# :ref:`recipe-item-could-not-guard`). ``u0 + 1`` is another symbolic value, and an f-string
# writes its expression, so the key is the text ``"domainu0 + 1"``. The dictionary lookup then
# happens in plain Python, while tracing, and fails: the key a sample needs is only known when
# the program runs, and a program does not hold Python dictionary lookups.
#
# The strict mode traces the same lookup with TorchDynamo, and stops on the same exception with
# a less direct message; its "Developer debug context" line names it:

try:
    torch.export.export(model, (x, domains), strict=True)
    raise AssertionError("strict mode now exports the lookup: update this recipe")
except torch._dynamo.exc.Unsupported as e:
    print(str(e).splitlines()[0])
    print(next(line.strip() for line in str(e).splitlines() if "Developer debug context" in line))
    assert str(e).startswith("Observed exception"), e
    assert "Developer debug context: raised exception KeyError('domainu0 + 1')" in str(e), e

# %%
# The fix: run every head, select with a tensor index
# ---------------------------------------------------
#
# A choice that depends on data must be made by tensor operations. With few heads, compute all
# of them on the batch, stack the results, and index the stack with ``domains`` itself: the
# selection becomes an ``index`` op of the program, and the number of samples can be dynamic
# too. The heads here have the same output size; heads of different sizes need padding to a
# common size first.


class DomainHeadsStacked(DomainHeads):
    def forward(self, x, domains):
        every_head = torch.stack([head(x) for head in self.heads.values()])  # (heads, batch, 3)
        return every_head[domains]  # (len(domains), batch, 3)


stacked = DomainHeadsStacked()
stacked.load_state_dict(model.state_dict())
stacked.eval()
ep = torch.export.export(stacked, (x, domains), dynamic_shapes=({0: Dim("batch")}, {0: Dim("samples")}))
print(ep.range_constraints)

new_inputs = [(torch.randn(5, 8), torch.tensor([1, 0, 1])), (torch.randn(1, 8), torch.tensor([0])), (torch.randn(3, 8), torch.tensor([1, 1]))]
for new_x, new_domains in new_inputs:
    torch.testing.assert_close(ep.module()(new_x, new_domains), torch.stack(model(new_x, new_domains)))
print(f"the exported program matches eager on {len(new_inputs)} new input sets")

# %%
# The program returns one tensor where the original returned a list (the list's length depended
# on the data too); stacked, the original's outputs equal the program's on batches of 5, 1 and
# 3 and on 3, 1 and 2 samples. Computing every head costs more than computing one: with two
# heads and a choice for the whole batch, ``torch.cond`` runs only the branch it needs (see
# :ref:`recipe-cond-on-tensor-value`).
