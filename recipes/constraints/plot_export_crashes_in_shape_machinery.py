"""
.. _recipe-export-crashes-in-shape-machinery:

``KeyError`` in ``solve``, ``'One' object has no attribute 'name'``: export crashing inside its own shape machinery
===================================================================================================================

Some export errors do not come from the model at all: export fails in the code that solves
and prints the constraints on the dimensions. Readers have posted a ``KeyError`` on a source
name raised in the solver's ``solve``, an ``InternalTorchDynamoError: 'One' object has no attribute
'name'`` in the rewrite of an equality constraint, a crash while formatting the violated
constraints (``prettify_results``), and a "Constraints violated" whose guard only restates the
default range, ``2 <= x <= 9223372036854775807``, with a suggested fix that changes nothing.
Such a traceback ends in PyTorch's files, and nothing in it names a line of the model.

This recipe builds a small model like each of these reports (claiming nothing about the real
models), runs it on the pinned release and pins what happens now: none of them crashes; each
either exports or gives an ordinary message that names the problem of the spec or of the code.
Then it gives the fix of each, checked against eager on new shapes, and what to do when export
still crashes in its own machinery: simplify the spec, switch ``strict``, run
``torch.export.draft_export`` to get a report instead of a crash, and cut a minimal reproduction
for an upstream report.

Public reports of this kind: pytorch/pytorch#138847 (``KeyError`` in ``solve``),
pytorch/pytorch#148478 (one ``Dim`` for every axis, a guard restating the default range),
pytorch/pytorch#182266 (``'One' object has no attribute 'name'``), pytorch/pytorch#144852 (a crash in
``prettify_results``).

An ``if`` on ``x.size(0) % 2`` with ``Dim.DYNAMIC``
---------------------------------------------------

The first report reads the batch's parity in an ``if``, with ``Dim.DYNAMIC`` for the batch, and
export failed in its solver with ``KeyError: "L['args'][0][0].size()[0]"``. A model built like it
does not fail on the pinned release:
"""

import contextlib
import inspect
import io
import re

import torch

Dim = torch.export.Dim


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def quiet_export(model, args, spec, strict=False):
    """``torch.export.export``; strict mode also logs the error it raises on stderr, kept off the page."""
    with contextlib.redirect_stderr(io.StringIO()):
        return torch.export.export(model, args, dynamic_shapes=spec, strict=strict)


class Parity(torch.nn.Module):
    def forward(self, x):
        if x.size(0) % 2:
            return x * 2
        return x + 1


parity = Parity()
parity_ep = quiet_export(parity, (torch.randn(4, 3),), ({0: Dim.DYNAMIC},))
print(parity_ep.range_constraints)
try:
    parity_ep.module()(torch.randn(5, 3))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] % 2 == 0", e
else:
    raise AssertionError("the program now takes an odd batch: update this recipe")

# %%
# Export now goes through, but read what it did: ``Dim.DYNAMIC`` accepts whatever the trace
# decided, and the trace took the branch of the example (4 rows, even). The program keeps that
# branch only and refuses an odd batch when it runs. With a named ``Dim``, export says so at
# export time instead, and suggests keeping only even batches:

try:
    quiet_export(parity, (torch.randn(4, 3),), ({0: Dim("batch")},))
    raise AssertionError("an if on the batch's parity now exports with a named Dim: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).split("\n\n")[0])
    assert "satisfy the generated guard (L['x'].size()[0] % 2) == 0." in str(e), e
    assert "Suggested fixes:\n  _batch = Dim('_batch', min=1, max=oo)\n  batch = 2*_batch" in str(e), e

# %%
# Both branches are real cases of this model, so neither the suggested fix nor the program above is
# the answer. ``torch.cond`` keeps both: its predicate may be a condition on a size.


class ParityCond(torch.nn.Module):
    def forward(self, x):
        return torch.cond(x.size(0) % 2 == 1, lambda t: t * 2, lambda t: t + 1, (x,))


parity_cond_ep = quiet_export(ParityCond(), (torch.randn(4, 3),), ({0: Dim("batch")},))
check_against_eager(parity_cond_ep, parity, [(torch.randn(b, 3),) for b in (2, 3, 5, 8)])

# %%
# One ``Dim`` object for every axis of every input
# ------------------------------------------------
#
# The second report built its spec with a ``tree_map`` that put the same ``Dim`` object on every
# axis of every tensor input. One ``Dim`` object means one size: the spec says that all those axes
# are equal. Export answered with a guard that only restated the default range. Here is a model
# built like that: an image of ``(batch, height, channels)``, its ids, and a query. On the pinned
# release, export names the first two axes that the spec declares equal and that are not:


class ImageQuery(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)

    def forward(self, query, inputs):
        img, img_ids = inputs["img"], inputs["img_ids"]
        features = self.proj(img) + img_ids.unsqueeze(-1).float()
        return query @ features.sum(1).T


image_query = ImageQuery()
image_args = (torch.randn(4, 8), {"img": torch.randn(4, 6, 8), "img_ids": torch.ones(4, 6, dtype=torch.long)})


def every_axis(args, dim):
    """The spec of the report: ``dim`` on every axis of every tensor."""
    return torch.utils._pytree.tree_map_only(torch.Tensor, lambda t: dict.fromkeys(range(t.dim()), dim), args)


shared_spec = every_axis(image_args, Dim("dim"))
print(shared_spec[1]["img"])
try:
    quiet_export(image_query, image_args, shared_spec)
    raise AssertionError("one Dim on axes of sizes 4 and 8 now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).split("\n\n")[0])
    assert str(e).startswith("L['query'].size()[1] = 8 is not equal to L['query'].size()[0] = 4"), e

# %%
# ``torch.utils._pytree`` is private; the report used it and it is convenient here, but the
# spec can be written by hand. The fix is one ``Dim`` per meaning: ``batch`` where the batch of
# images is, ``height`` where the height is, ``rows`` for the queries (the model never needs them
# to equal anything), and no ``Dim`` on the features, which the ``Linear`` needs to be 8 (a
# ``Dim`` there is the error of :ref:`recipe-specialized-to-constant`). When you do not know
# which axes are equal, ``Dim.AUTO`` on every axis lets export find out, and the program says
# what it found:

batch, height, rows = Dim("batch"), Dim("height"), Dim("rows")
per_meaning = ({0: rows}, {"img": {0: batch, 1: height}, "img_ids": {0: batch, 1: height}})
image_inputs = [
    (torch.randn(r, 8), {"img": torch.randn(b, h, 8), "img_ids": torch.ones(b, h, dtype=torch.long)}) for r, b, h in [(3, 2, 3), (1, 5, 11)]
]
check_against_eager(quiet_export(image_query, image_args, per_meaning), image_query, image_inputs)


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


auto_ep = quiet_export(image_query, image_args, every_axis(image_args, Dim.AUTO))
print(dynamic_dims_by_input(auto_ep))
assert dynamic_dims_by_input(auto_ep) == {"query": [0], "inputs_img": [0, 1], "inputs_img_ids": [0, 1]}, auto_ep
check_against_eager(auto_ep, image_query, image_inputs)

# %%
# A ``Dim`` shared with a dimension of size 1
# -------------------------------------------
#
# The third report exported a decoder with a list of past keys and values and crashed with
# ``'One' object has no attribute 'name'`` in the rewrite of an *equality constraint* (two axes
# sharing a ``Dim``) where one side resolved to the constant 1. A decoder built like one with a
# single key/value head (axis 1 of each cache tensor has size 1) and a ``heads`` ``Dim`` shared by
# the cache tensors gives, on the pinned release, the ordinary message, in both modes:


class OneHeadDecoder(torch.nn.Module):
    """A token embedding, one key/value head appended to each cache tensor of the list."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(50, 8)
        self.key = torch.nn.Linear(8, 8)

    def forward(self, input_ids, past_key_values):
        hidden = self.embed(input_ids)
        new_key = self.key(hidden).unsqueeze(1)
        caches = [torch.cat([past, new_key], dim=2) for past in past_key_values]
        scores = hidden.unsqueeze(1) @ caches[0].transpose(-1, -2)
        return scores, caches


decoder = OneHeadDecoder()
decoder_args = (torch.randint(0, 50, (2, 3)), [torch.randn(2, 1, 5, 8), torch.randn(2, 1, 5, 8)])
batch, seq, past, heads = Dim("batch"), Dim("seq"), Dim("past"), Dim("heads")
heads_spec = ({0: batch, 1: seq}, [{0: batch, 1: heads, 2: past}] * 2)
for strict in (False, True):
    try:
        quiet_export(decoder, decoder_args, heads_spec, strict=strict)
        raise AssertionError("a Dim on the single head now exports: update this recipe")
    except torch._dynamo.exc.UserError as e:
        print(f"strict={strict}:", str(e).splitlines()[:2])
        assert str(e).startswith("Constraints violated (heads)!"), e
        assert "You marked heads as dynamic but your code specialized it to be a constant (1)" in str(e), e

# %%
# The number of heads is a property of the model, not of the input: it is 1 for every input.
# Drop the ``Dim`` on that axis (``None``, or ``Dim.STATIC``) and on every axis of size 1 in the
# example, and keep the ones that vary:

decoder_spec = ({0: batch, 1: seq}, [{0: batch, 2: past}] * 2)
decoder_ep = quiet_export(decoder, decoder_args, decoder_spec)
print(decoder_ep.range_constraints)
check_against_eager(
    decoder_ep,
    decoder,
    [(torch.randint(0, 50, (b, s)), [torch.randn(b, 1, p, 8), torch.randn(b, 1, p, 8)]) for b, s, p in [(3, 4, 2), (5, 1, 9)]],
)

# %%
# Height and width of a patch-based transformer
# ---------------------------------------------
#
# The fourth report exported a diffusion transformer with ``Dim("fm_height", min=16)`` and
# ``Dim("fm_width", min=16)``, and export crashed while formatting the constraint violation
# (``dim_constraints.prettify_results``): the reporter never saw which constraint was violated.
# A model built like one (patches of 2 by 2, a position embedding of 32 by 32 patches cropped at
# the center, the patches put back into an image) gets the formatted message on the pinned
# release:


class PatchTransformer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.patchify = torch.nn.Conv2d(4, 8, kernel_size=2, stride=2)
        self.pos_embed = torch.nn.Parameter(torch.randn(1, 32, 32, 8))
        self.unpatchify = torch.nn.Linear(8, 2 * 2 * 4)

    def forward(self, hidden_states):
        b, _, height, width = hidden_states.shape
        h, w = height // 2, width // 2
        x = self.patchify(hidden_states).flatten(2).transpose(1, 2)
        top, left = (32 - h) // 2, (32 - w) // 2
        x = x + self.pos_embed[:, top : top + h, left : left + w, :].reshape(1, h * w, 8)
        x = self.unpatchify(x).reshape(b, h, w, 2, 2, 4)
        return x.permute(0, 5, 1, 3, 2, 4).reshape(b, 4, height, width)


torch.manual_seed(0)
patch_model = PatchTransformer()
latents = torch.randn(2, 4, 32, 32)
reported_spec = ({2: Dim("fm_height", min=16), 3: Dim("fm_width", min=16)},)
try:
    quiet_export(patch_model, (latents,), reported_spec)
    raise AssertionError("the cropped position embedding now exports for every height: update this recipe")
except torch._dynamo.exc.UserError as e:
    patch_message = str(e)
    print(patch_message.splitlines()[0])
    print("\n".join(line[:140] + " ..." for line in patch_message.splitlines()[1:3]))
crop_guard = "satisfy the generated guard 16 + (L['hidden_states'].size()[2] // 2) + (((-1)*(L['hidden_states'].size()[2] // 2)) // 2) >= 0"
assert patch_message.startswith("Constraints violated (fm_height, fm_width)!"), patch_message
assert crop_guard in patch_message, patch_message

# %%
# Read the guard with ``h = height // 2``: ``16 + h - ceil(h / 2)`` between 0 and 32 is "the crop
# fits in the 32 patches of the position embedding". Evaluated in plain Python (as in
# :ref:`recipe-guard-true-for-every-size`), it is false from a height of 68. The other guards say
# that the height and width must be even (the patches). These are facts of the model: state them
# in the spec with a derived ``Dim`` (``2 * h``, see :ref:`recipe-derived-dims`) and the range of
# patches you serve, here 8 to 24.

(crop_line,) = [line for line in patch_message.splitlines() if crop_guard in line and "fm_height" in line]
crop_expression = crop_line.split("generated guard ")[1].rstrip(".").replace("L['hidden_states'].size()[2]", "height")
crop_fits = [height for height in range(16, 200) if eval(crop_expression, {"__builtins__": {}}, {"height": height})]
print("the crop guard holds for heights", crop_fits[0], "to", crop_fits[-1])
assert crop_fits == list(range(16, 68)), crop_fits

patches_h, patches_w = Dim("patches_h", min=8, max=24), Dim("patches_w", min=8, max=24)
patch_spec = ({2: 2 * patches_h, 3: 2 * patches_w},)
patch_ep = quiet_export(patch_model, (latents,), patch_spec)
# In the order of their names (export lists the two sizes in either order from run to run).
print(dict(sorted(patch_ep.range_constraints.items(), key=lambda item: str(item[0]))))
check_against_eager(patch_ep, patch_model, [(torch.randn(2, 4, h, w),) for h, w in [(16, 48), (40, 22), (48, 48)]])

# %%
# Strict or non-strict
# --------------------
#
# ``'One' object has no attribute 'name'`` came wrapped in ``InternalTorchDynamoError``: it was
# raised while TorchDynamo traced, that is in strict mode. ``strict=False`` (the default, see
# :ref:`recipe-strict-vs-non-strict`) does not run TorchDynamo, and is the first thing to try
# when a crash names a file of ``torch/_dynamo``. If one mode crashes and the other gives an ordinary message, the crash is a
# bug of the mode that crashed, and the other mode's message is the one to act on. On the pinned
# release, both modes give the same message for the decoder above (the loop over ``strict``).

strict_default = inspect.signature(torch.export.export).parameters["strict"].default
print("torch.export.export(..., strict=...) defaults to", strict_default)
assert strict_default is False

# %%
# %%
# ``draft_export``: a report instead of a crash
# ---------------------------------------------
#
# Every export error ends with "you can replace your ``export()`` call with
# ``draft_export()``". ``torch.export.draft_export`` takes the same arguments and, instead of
# stopping at the first problem, returns a program and a report of every assumption it had to
# make (see :ref:`recipe-draft-export-report` to read it). It runs here on the crop of the
# position embedding alone, with the reported spec: the smallest model that gives the crop's guard
# (how to cut one is the next section's subject).


class CroppedPositions(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.pos_embed = torch.nn.Parameter(torch.randn(1, 32, 32, 8))

    def forward(self, hidden_states):
        h = hidden_states.shape[2] // 2
        top = (32 - h) // 2
        return self.pos_embed[:, top : top + h]


crop_model = CroppedPositions()
with contextlib.redirect_stderr(io.StringIO()):
    draft_ep = torch.export.draft_export(crop_model, (latents,), dynamic_shapes=({2: Dim("fm_height", min=16)},))
report = draft_ep._report
failure_types = sorted({str(failure.failure_type) for failure in report.failures})
print("issues:", len(report.failures), failure_types)
print(draft_ep.range_constraints)
assert not report.successful() and failure_types == ["GUARD_ADDED"], failure_types
assert "this guard was added" in str(report) and "framework stacktrace" in str(report), str(report)[:300]
assert [str(r) for r in draft_ep.range_constraints.values()] == ["VR[16, 65]"], draft_ep.range_constraints
check_against_eager(draft_ep, crop_model, [(torch.randn(2, 4, 30, 32),)])
try:
    draft_ep.module()(torch.randn(2, 4, 16, 48))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed:"), e
else:
    raise AssertionError("the draft program now takes a height of 16: update this recipe")

# %%
# The report (``ep._report``, a *private* attribute) lists each guard with the line of PyTorch
# that added it (its "framework stacktrace"). The program's range is 16 to 65, and the program
# also checks, when it runs, guards that export would have refused: it takes a height of 30, close
# to the example's 32, and refuses 16. ``draft_export`` does not raise on the guards, so it may get
# past a crash in the code that checks them or prints them, and its report then shows what export
# was checking. Use it to learn what the model needs, not to ship: fix the spec (here, the derived ``Dim`` above)
# and export again with ``torch.export.export``.
#
# A size as an input of the graph
# -------------------------------
#
# Another report of this kind, exporting an image encoder with a dynamic batch, stopped at
# ``AssertionError: SymInt graph input is not implemented yet``: the message says that a size
# reached the graph as an input of its own (the report does not show which size). The pinned
# release accepts such inputs: an ``int`` argument marked ``Dim.DYNAMIC`` becomes an input of the
# graph whose value is a ``SymInt``:


class FirstRows(torch.nn.Module):
    def forward(self, x, n):
        return x[:n] * 2


first_rows_ep = quiet_export(FirstRows(), (torch.randn(6, 3), 4), ({0: Dim("rows")}, Dim.DYNAMIC))
inputs = {node.name: type(node.meta["val"]).__name__ for node in first_rows_ep.graph.nodes if node.op == "placeholder"}
print(inputs)
assert inputs == {"x": "FakeTensor", "n": "SymInt"}, inputs
check_against_eager(first_rows_ep, FirstRows(), [(torch.randn(7, 3), 5), (torch.randn(3, 3), 2)])
try:
    first_rows_ep.module()(torch.randn(7, 3), 1)
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: n != 1", e
else:
    raise AssertionError("the program now takes n = 1: update this recipe")
try:
    first_rows_ep.module()(torch.randn(7, 3), 0)
except AssertionError as e:
    assert str(e).startswith("Guard failed:"), e
else:
    raise AssertionError("the program now takes n = 0: update this recipe")

# %%
# Like an input's size, the integer was traced as a value that is neither 0 nor 1 (see
# :ref:`recipe-zero-one-specialization`): the program refuses ``n = 1`` and ``n = 0``.

# %%
# Cutting a minimal reproduction
# ------------------------------
#
# When the crash is still there with both modes and with a spec reduced to the dimensions that
# must vary, it is a PyTorch bug: report it upstream. A report gets fixed when a maintainer can
# run it in seconds. Cut the model down while the error stays the same: remove a layer, export again, keep the
# removal if the message (its first line and the guard or the exception) did not change. For the
# patch transformer, the crop of the position embedding alone gives the same guard:


try:
    quiet_export(crop_model, (latents,), ({2: Dim("fm_height", min=16)},))
    raise AssertionError("the crop alone now exports for every height: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(str(e).splitlines()[0])
    assert str(e).startswith("Constraints violated (fm_height)!") and crop_guard in str(e), e
print("torch", torch.__version__.split("+")[0])
assert re.fullmatch(r"\d+\.\d+\.\d+", torch.__version__.split("+")[0]), torch.__version__

# %%
# ``CroppedPositions``, the example ``torch.randn(2, 4, 32, 32)`` and that call make a reproduction
# that a maintainer can paste. What an upstream report should contain:
#
# 1. ``torch.__version__`` (and the nightly date if you use one), and whether the error is the
#    same with the latest release or nightly.
# 2. The smallest model that gives the error, defined in the report: no checkpoint, no download,
#    no library model when a ten-line module does it.
# 3. The exact call: ``torch.export.export`` or ``torch.onnx.export(..., dynamo=True)``, ``strict=``,
#    the example inputs as ``torch.randn(...)`` with their shapes, and ``dynamic_shapes`` written out
#    (not built by a ``tree_map``), reduced to the axes without which the error goes away.
# 4. The full traceback, and what ``strict=True``/``strict=False`` and ``draft_export`` do with the
#    same arguments.
#
# What to do when export crashes inside its own machinery
# -------------------------------------------------------
#
# 1. Simplify the spec: one ``Dim`` per meaning, never one ``Dim`` object for every axis; no
#    ``Dim`` on an axis of size 1 (heads, channels) nor shared with one; ``Dim.AUTO`` where you do
#    not know, then read the program's ranges.
# 2. Try the other mode: a crash in a file of ``torch/_dynamo`` comes from strict mode; see
#    whether ``strict=False`` gives an ordinary message, and act on that one.
# 3. Run ``torch.export.draft_export`` with the same arguments: it reports the guards instead of
#    raising, and its program shows the ranges the model allows.
# 4. Look at what the message hides: a ``Dim.DYNAMIC`` program may have kept one branch of an
#    ``if`` on a size (``torch.cond`` keeps both).
# 5. If it still crashes, cut a minimal reproduction and report it upstream.
