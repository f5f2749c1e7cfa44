"""
.. _recipe-namedtuple-dataclass-inputs:

Detected mismatch between the structure of inputs and dynamic_shapes: namedtuple and dataclass inputs
=====================================================================================================

A model takes its batch as a ``NamedTuple`` or a dataclass of tensors. Which shape does
``dynamic_shapes`` take for it? The answers differ: for a namedtuple, the spec is the same
namedtuple holding specs; for a dataclass, registered with ``torch.export.register_dataclass``, it
is a *list* with one spec per field, in the order of the fields. A plain tuple, a list or a dict
for the namedtuple, and a tuple or a dict for the dataclass, are refused with messages that are
not obvious to read. This recipe shows both forms, every refused form with its message, and checks
the programs against eager on new shapes.

A namedtuple input
------------------
"""

import dataclasses
import re
from typing import NamedTuple

import torch

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


class Batch(NamedTuple):
    tokens: torch.Tensor  # (batch, seq, features)
    mask: torch.Tensor  # (batch, seq)


class Pooled(NamedTuple):
    mean: torch.Tensor
    count: torch.Tensor


class Pool(torch.nn.Module):
    def forward(self, batch):
        total = (batch.tokens * batch.mask.unsqueeze(-1)).sum(1)
        count = batch.mask.sum(1, keepdim=True)
        return Pooled(total / count, count)


def make_batch(size, seq):
    lengths = torch.randint(1, seq + 1, (size, 1))
    return Batch(torch.randn(size, seq, 4), (torch.arange(seq) < lengths).float())


torch.manual_seed(0)
pool = Pool()
batch, seq = Dim("batch"), Dim("seq")
example = make_batch(2, 5)

spec = {"batch": Batch(tokens={0: batch, 1: seq}, mask={0: batch, 1: seq})}
ep = torch.export.export(pool, (example,), dynamic_shapes=spec)
print(ep.range_constraints)
result = ep.module()(make_batch(3, 6))
print(type(result).__name__, result.mean.shape)
assert isinstance(result, Pooled)
check_against_eager(ep, pool, [(make_batch(3, 6),), (make_batch(6, 2),)])

# %%
# The spec of a namedtuple is a namedtuple of the same class, with a spec in each field. The
# program rebuilds the ``Pooled`` namedtuple it returns, and matches eager on new batch sizes and
# lengths.
#
# A tuple, a list or a dict is refused
# ------------------------------------
#
# A namedtuple *is* a tuple, so a plain tuple of two specs looks right. It is not, and neither is
# a list nor a dict keyed by the field names:


def without_address(message):
    """The first line of an error, without the memory address it may contain."""
    return re.sub(r" at 0x[0-9a-f]+", "", message.splitlines()[0])


wrong_forms = {
    "tuple": ({0: batch, 1: seq}, {0: batch, 1: seq}),
    "list": [{0: batch, 1: seq}, {0: batch, 1: seq}],
    "dict": {"tokens": {0: batch, 1: seq}, "mask": {0: batch, 1: seq}},
}
for form, batch_spec in wrong_forms.items():
    try:
        torch.export.export(pool, (example,), dynamic_shapes={"batch": batch_spec})
        raise AssertionError(f"a {form} spec for a namedtuple is now accepted: update this recipe")
    except torch._dynamo.exc.UserError as e:
        message = without_address(str(e))
        print(message)
        assert message.startswith("Detected mismatch between the structure of `inputs` and `dynamic_shapes`"), e
        assert "is a <function namedtuple>" in message and f"is a <class '{form}'>" in message, e

# %%
# (``torch._dynamo.exc.UserError`` is in a private module; code you keep can catch its base class,
# ``RuntimeError``. The original messages also print the address of a function, removed here.)
# The message calls your input a ``<function namedtuple>``: it names the factory that makes
# namedtuple classes, not ``Batch``. What it means is "the input is a namedtuple, the spec is a
# tuple". Export matches the spec against the input container by container, and a namedtuple
# class is a container type of its own, different from ``tuple``.
#
# A dataclass input
# -----------------
#
# The same batch as a dataclass must first be registered, so that export can take it apart into its
# fields (unregistered, it fails as
# :ref:`sphx_glr_auto_recipes_structured_inputs_plot_custom_cache_class.py` shows). Here the class
# also has a ``float`` field:


@dataclasses.dataclass
class DataBatch:
    tokens: torch.Tensor
    mask: torch.Tensor
    temperature: float = 1.0


class DataPool(torch.nn.Module):
    def forward(self, batch):
        weights = batch.mask.unsqueeze(-1) / batch.temperature
        return (batch.tokens * weights).sum(1)


def make_data_batch(size, seq, temperature=2.0):
    return DataBatch(*make_batch(size, seq), temperature)


data_pool = DataPool()
data_example = make_data_batch(2, 5)
torch.export.register_dataclass(DataBatch, serialized_type_name="DataBatch")

# %%
# The spec of a registered dataclass is a list with one entry per field, in the order of the
# fields, ``None`` for the ``float``:

data_spec = {"batch": [{0: batch, 1: seq}, {0: batch, 1: seq}, None]}
data_ep = torch.export.export(data_pool, (data_example,), dynamic_shapes=data_spec)
print(data_ep.range_constraints)
check_against_eager(data_ep, data_pool, [(make_data_batch(3, 6),), (make_data_batch(6, 2),)])

# %%
# The ``float`` is a constant of the program, checked on every call:

try:
    data_ep.module()(make_data_batch(3, 6, temperature=0.5))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed") and "temperature == 2.0" in str(e), e
else:
    raise AssertionError("the float field is no longer specialized: update this recipe")

# %%
# The refused forms of a dataclass spec
# -------------------------------------
#
# A dataclass instance holding specs is refused (see the cache recipe linked above). So are a
# tuple, a dict keyed by field names, and a list that leaves out the ``float`` field:

wrong_data_forms = {
    "tuple": ({0: batch, 1: seq}, {0: batch, 1: seq}, None),
    "dict": {"tokens": {0: batch, 1: seq}, "mask": {0: batch, 1: seq}, "temperature": None},
}
for form, batch_spec in wrong_data_forms.items():
    try:
        torch.export.export(data_pool, (data_example,), dynamic_shapes={"batch": batch_spec})
        raise AssertionError(f"a {form} spec for a dataclass is now accepted: update this recipe")
    except ValueError as e:
        print(e)
        assert str(e) == f"Node type mismatch; expected <class 'list'>, but got <class '{form}'>.", e

try:
    torch.export.export(data_pool, (data_example,), dynamic_shapes={"batch": [{0: batch, 1: seq}, {0: batch, 1: seq}]})
    raise AssertionError("a spec without the float field is now accepted: update this recipe")
except ValueError as e:
    print(e)
    assert str(e) == "Node arity mismatch; expected 3, but got 2.", e

# %%
# These are plain ``ValueError`` messages from the flattening code, without the path of the input:
# "expected <class 'list'>" is the hint that a registered class wants a list, and "arity" counts
# its fields, all of them, not only the tensors.
#
# Why the two forms differ
# ------------------------
#
# Export flattens inputs and specs with the same machinery (``torch.utils._pytree``). A namedtuple
# class accepts anything in its fields, so a ``Batch`` of specs is a valid ``Batch``, and the two
# trees match node for node. A registered class is only known through its flatten function; export
# compares the spec with the *list* of children that function returns. In short:
#
# * namedtuple input: the same namedtuple class, holding specs (``None`` for non-tensor fields);
# * registered dataclass input: a list, one entry per field in field order (``None`` for
#   non-tensor fields);
# * either one: a ``torch.export.ShapesCollection`` keyed by the tensors avoids writing the
#   structure (see :ref:`sphx_glr_auto_recipes_structured_inputs_plot_shapes_collection.py`).
