"""
.. _recipe-var-keyword-kwargs:

``forward(self, input_ids, **kwargs)``: writing ``dynamic_shapes``, and "NameError: name 'L' is not defined"
============================================================================================================

Many models take their optional inputs through ``**kwargs``, as Hugging Face models do: the
attention mask, and flags such as ``return_dict``. Which names does ``dynamic_shapes`` use for
them, the names of the call (``attention_mask``) or the name of the parameter (``kwargs``)? And
what about a flag that is not a tensor?

This recipe answers the reports of that kind ("its top-level keys must be the arg names ['x', 'y',
'kwargs']", "Must provide a tree_name when there might be a mismatch", a ``dynamic_shapes``
mismatch on a model whose ``forward`` takes typed ``**kwargs``). On the pinned release both
spellings are accepted and give the same program. But with the default ``strict=False``, the
module of that program fails when it is called, with "NameError: name 'L' is not defined": a bug
of the pinned PyTorch in the check of its inputs, pinned below. Two workarounds (``strict=True``,
or explicit keyword parameters) are checked against eager on new shapes, and the recipe ends with
the one spec mistake left: forgetting the non-tensor keyword argument.

A model with ``**kwargs``
-------------------------
"""

import torch

Dim = torch.export.Dim


def check_against_eager_with_kwargs(ep, model, args_and_kwargs):
    """The exported program gives what eager gives on each pair of new (args, kwargs)."""
    module = ep.module()
    for args, kwargs in args_and_kwargs:
        torch.testing.assert_close(module(*args, **kwargs), model(*args, **kwargs))
    print(f"the exported program matches eager on {len(args_and_kwargs)} new input sets")


class Pooler(torch.nn.Module):
    """Embeds tokens, masks padding, sums over the sequence; options come through ``**kwargs``."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(100, 4)

    def forward(self, input_ids, **kwargs):
        hidden = self.embed(input_ids)
        mask = kwargs.get("attention_mask")
        if mask is not None:
            hidden = hidden * mask.unsqueeze(-1)
        pooled = hidden.sum(1)
        return {"pooled": pooled} if kwargs.get("return_dict", False) else (pooled,)


def tokens(batch, seq):
    """Token ids and a mask whose last position is padding, with ``return_dict=True``."""
    mask = torch.ones(batch, seq)
    mask[:, -1] = 0
    return (torch.randint(0, 100, (batch, seq)),), {"attention_mask": mask, "return_dict": True}


torch.manual_seed(0)
model = Pooler().eval()
args, kwargs = tokens(2, 5)
new_inputs = [tokens(3, 7), tokens(1, 2), tokens(4, 12)]
batch, seq = Dim("batch"), Dim("seq")

# %%
# The names of the call, and the program that cannot be called
# ------------------------------------------------------------
#
# The spec can name each keyword argument as the call does, at the top level next to
# ``input_ids``. ``return_dict`` is a ``bool``, not a tensor: its entry is ``None``. Export
# accepts it, and the program has a dynamic batch and sequence:

call_spec = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}, "return_dict": None}
call_ep = torch.export.export(model, args, kwargs, dynamic_shapes=call_spec)
print(call_ep.range_constraints)
assert [str(r) for r in call_ep.range_constraints.values()] == ["VR[0, int_oo]", "VR[0, int_oo]"]
try:
    call_ep.module()(*args, **kwargs)
    raise AssertionError("the module of a **kwargs program can now be called: update this recipe")
except NameError as e:
    print(f"NameError: {e}")
    assert str(e) == "name 'L' is not defined", e
print("\n".join(sorted(call_ep._guards_code)))
assert sorted(call_ep._guards_code) == [
    "L['input_ids'].size()[0] == L['kwargs']['attention_mask'].size()[0]",
    "L['input_ids'].size()[1] == L['kwargs']['attention_mask'].size()[1]",
], call_ep._guards_code

# %%
# ``ep.module()`` checks the inputs of each call against the conditions export recorded. Two of
# them say that ``input_ids`` and the mask have the same batch and the same length, and they are
# written with the names *inside* ``forward``: ``L['kwargs']['attention_mask']`` (``L`` for the local variables of
# ``forward``). The function that runs this check receives the flattened inputs, not ``L``, and
# fails on their first name. The lines above come from the private attribute ``_guards_code``,
# printed only to show the conditions. This is a bug of the pinned PyTorch (non-strict export of a
# ``**kwargs`` forward); the sentinel above will tell when it is fixed. The program itself is
# right: the failure is in the check, before any computation. ``ep.module(check_guards=False)``
# builds the module without that check, and it matches eager; it also accepts inputs the
# program was not made for, so use it only to confirm the diagnosis:

unchecked = call_ep.module(check_guards=False)
for new_args, new_kwargs in new_inputs:
    torch.testing.assert_close(unchecked(*new_args, **new_kwargs), model(*new_args, **new_kwargs))
print(f"the unchecked module matches eager on {len(new_inputs)} new input sets")

# %%
# Workaround 1: ``strict=True``
# -----------------------------
#
# The strict mode traces ``forward`` with TorchDynamo instead, and the module of its program can
# be called:

strict_ep = torch.export.export(model, args, kwargs, dynamic_shapes=call_spec, strict=True)
print(strict_ep.range_constraints)
check_against_eager_with_kwargs(strict_ep, model, new_inputs)

# %%
# Batch and sequence are dynamic, and the program matches eager on three new shapes.
#
# Workaround 2: explicit keyword parameters
# -----------------------------------------
#
# When strict mode fails on other code of the model, export a thin wrapper whose ``forward``
# names the inputs it passes on. The spec is then the one of any keyword arguments
# (:ref:`recipe-dynamic-shapes-structure`):


class ExplicitPooler(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask=None, return_dict=False):
        return self.model(input_ids, attention_mask=attention_mask, return_dict=return_dict)


explicit_ep = torch.export.export(ExplicitPooler(model), args, kwargs, dynamic_shapes=call_spec)
check_against_eager_with_kwargs(explicit_ep, model, new_inputs)

# %%
# The name of the parameter
# -------------------------
#
# The spec can also follow the signature: one entry per parameter, and a dict under ``"kwargs"``
# for what ``**kwargs`` receives. It gives the same program:

signature_spec = {"input_ids": {0: batch, 1: seq}, "kwargs": {"attention_mask": {0: batch, 1: seq}, "return_dict": None}}
signature_ep = torch.export.export(model, args, kwargs, dynamic_shapes=signature_spec, strict=True)
assert str(signature_ep.graph_module.code) == str(strict_ep.graph_module.code)
check_against_eager_with_kwargs(signature_ep, model, new_inputs)

# %%
# The tuple form follows the signature too: one element per parameter, the last one a dict for
# ``**kwargs``:

tuple_spec = ({0: batch, 1: seq}, {"attention_mask": {0: batch, 1: seq}, "return_dict": None})
tuple_ep = torch.export.export(model, args, kwargs, dynamic_shapes=tuple_spec, strict=True)
assert str(tuple_ep.graph_module.code) == str(strict_ep.graph_module.code)
check_against_eager_with_kwargs(tuple_ep, model, new_inputs)

# %%
# The mistake left: forgetting the flag
# -------------------------------------
#
# Every keyword argument of the call needs an entry, ``None`` for a non-tensor. Without
# ``return_dict``, export counts the keyword arguments it received and the entries of the spec,
# and reports the difference under the parameter's name, ``kwargs``, although the spec names
# ``attention_mask`` at the top level:

try:
    torch.export.export(model, args, kwargs, dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}})
    raise AssertionError("a spec without return_dict is now accepted: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).splitlines()[0])
    assert str(e).startswith(
        "Detected mismatch between the structure of `inputs` and `dynamic_shapes`: "
        "`inputs['kwargs']` has 2 elements, but `dynamic_shapes['kwargs']` has 1 elements"
    ), e

# %%
# Read ``inputs['kwargs']`` as "what ``**kwargs`` received" (``attention_mask`` and
# ``return_dict``) and add the missing names. The flag's value was used while tracing (the
# program returns a dict), and the module checks that calls pass the same value (see
# :ref:`recipe-int-float-inputs` for numbers and flags as inputs):

try:
    strict_ep.module()(*args, **{**kwargs, "return_dict": False})
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: return_dict == True", e
else:
    raise AssertionError("the program now accepts another value of return_dict: update this recipe")
