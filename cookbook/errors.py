"""Match an error message, or a whole traceback, to the recipes that document it.

A reader's message never matches the cookbook's letter for letter: their tensors are called
``input_ids``, their sizes are 8 and 512, their symbols ``s44``, their paths theirs. Both sides
are reduced to the same *features* before they are compared:

- a traceback's frames (``File "...", line N, in f`` and the code line under it, a frame whose
  excerpt starts within its path, ``torch/fx/x.py", line N, in f``, IPython's ``File /x.py:N, in f(a)``
  or ``x.py:N, in f(a)``, the ``^^^`` markers, "During handling of ...", IPython's numbered code
  lines), file paths and line numbers are dropped, and so is PyTorch's boilerplate
  (:data:`BOILERPLATE_LINES`, :data:`BOILERPLATE_PHRASES`: the draft_export paragraph, the TORCH_LOGS
  and TORCHDYNAMO_EXTENDED_DEBUG hints, docs links, the ONNX exporter's advice under the step that
  failed, whose sentence becomes ``onnx_exporter_step_1`` (2, 3)), and so are a terminal's colours;
  pasted log lines lose their prefix and stand for the error they report, and PyTorch's fixed
  sentences keep only what tells them apart (:data:`REWRITTEN_LINES`: ``failed during
  evaluate_expr(...)``, ``[E:onnxruntime ...]``, ``[torch.onnx]`` steps, the FX node an error
  happened in, ``While executing %x : [num_users=1] = call_function[target=torch.ops.aten.x.y](...)``
  becomes ``While executing x``);
- onnxruntime's errors are told by the operator of the failing node: its sentence around the node
  ("Non-zero status code returned while running Reshape node. Name:'...'") becomes ``onnxruntime_node
  onnx_op_reshape``, its status code (``6 : RUNTIME_EXCEPTION``, ``1 : FAIL``, which differ between its
  releases) is dropped, and the reason after "Status Message:" is a line of its own; C++ names
  (``onnxruntime::ReshapeHelper::ReshapeHelper(...)``) are dropped like paths (Windows paths too);
- the frames still count, as *operations* (:data:`OPERATIONS`: ``op:view`` from ``_reshape_view_helper``
  or from ``x.view(...)`` on the reader's own line, the code line under a ``", line N`` frame outside
  PyTorch or the failing line IPython marks, ``-> 48 y = x.view(...)``): a recipe whose code calls
  none of the paste's operations, and whose text names none of their internal functions
  (``_broadcast_shapes``), scores :data:`OTHER_OPERATIONS` of its score; a traceback without its
  exception line stands for the message its raising frame raises (:data:`FRAME_MESSAGES`);
- symbols (``s17``, ``u0``) become ``SYM``, float symbols (``zuf0``, ``zf0``) ``SYM_FLOAT``, numbers
  ``NUM``, except what tells causes apart: a constant or hint of 0 or 1 (``zero_one``), the class named (``class_float``,
  ``class_cache``, ``class_user``), the direction of a key mismatch (``keys_missing``,
  ``keys_unknown``); quoted names (but the exporters' own :data:`API_NAMES`), the names inside
  ``x.size()[0]``, ``inputs['x']``, ``L['x']`` and a dimension's name where a message gives it
  (:data:`NAMED_PLACES`: "Constraints violated (batch)", "You marked batch as dynamic",
  "batch = 4" under "Suggested fixes") become ``NAME``;
- the older wording of a message becomes today's (:data:`OLDER_WORDINGS`), comparison operators
  become words (``==`` is ``eq``), and what is left is split into lowercase words (one-letter
  words and a few stop words dropped); the features are those words, the pairs of consecutive
  words, and the exception's class (``exc:usererror``) from
  ``torch._dynamo.exc.UserError: ...`` lines (its module path is not a word); a line that repeats
  another (once per input that shares a dimension) counts once.

Each entry of the index (the captured error of a sentinel's cell, :mod:`cookbook.site.troubleshooting`,
and each recipe's title, the warnings its page shows and the messages older releases raised for
its sentinels: :data:`KINDS`) is a weighted vector of its features (tf-idf over all entries), and
so is each of its lines when it has several (a sentinel's cell prints several messages: a count, a
range, the error; a paste may hold one of them), if the line has words of its own (:func:`has_words`);
a query (the whole paste, each of its chained exception blocks, and its first error line against
titles and warnings) is scored against each by cosine similarity, an entry by its best vector, a
recipe by its best entry. A word that no entry holds (the reader's own names, another tool's
vocabulary) matches nothing but weighs in the query's norm as the rarest word would, so that a paste
mostly about something else gets a low confidence (word pairs that no entry holds do not). Below
:data:`NO_MATCH_BELOW` (calibrated on the tune half of the corpus of real reports, ``make matcher-eval``),
:meth:`Matcher.answer` says that no recipe documents the error and gives the closest recipes as
related, with a link to report it (:func:`report_link`). The same rules run in the browser
(``_doc/_static/error-matcher.js``, on the index :func:`index_entries` writes at build time); the
tests hold both to the same results.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote

#: Words too common to tell two errors apart.
STOP_WORDS = frozenset("""
a an the to of is in for and or be this that it with on as at by are was were if you your we can not
""".split())

_RANK_PREFIX = re.compile(r"^\[rank\d+\]:\s?", re.ASCII)
#: A paste quoted in Markdown (``> ...``) or commented out in code (``# ...``).
_QUOTE_PREFIX = re.compile(r"^[#>] ?", re.ASCII)
#: An exception printed as its class: "<class 'torch._dynamo.exc.UserError'>: ..." (in backticks too).
_CLASS_EXCEPTION = re.compile(r"^(\s*)`?<class '((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)'>`?:", re.ASCII)
#: "'NoneType' object has no attribute 'size'": the class named tells causes apart.
_OBJECT_OF_CLASS = re.compile(r"'(\w+)' object has no attribute", re.ASCII)
#: A traceback's frame: ``File "x.py", line 3, in f``, one whose excerpt starts within the path
#: (``torch/fx/x.py", line 3, in f``) and IPython's ``File /x.py:3, in f(a)`` or ``x.py:3, in f(a)``.
_FRAME = re.compile(r'^\s*(?:File "[^"]*", line \d+|\S*\.py", line \d+|(?:File )?\S+\.py:\d+, in )', re.ASCII)
_DROPPED_LINE = re.compile(
    r"^\s*(Traceback \(most recent call last\):|During handling of the above exception|"
    r"The above exception was the direct cause|[~^\s]+$|Original traceback:\s*$|"
    # IPython's tracebacks: "UserError   Traceback (most recent call last)", "Cell In[1], line 48".
    r"\w+\s+Traceback \(most recent call last\)|Cell In\[\d+\], line \d+)",
    re.ASCII,
)
_NEWLINE = re.compile(r"\r?\n")
#: A terminal's colours, copied with the text (the ONNX exporter colours "This is step 1/3").
_ANSI = re.compile(r"\x1b\[[0-9;]*m", re.ASCII)
#: IPython's numbered code lines around the failing one: "---> 48     so_path = ...", "     45 width = ...".
_IPYTHON_CODE = re.compile(r"^(?:\s+\d+ |-+>\s*\d+ )", re.ASCII)
_IPYTHON_FAILING = re.compile(r"^-+>\s*\d+ ", re.ASCII)
#: An exception line: its class is a feature (``exc:usererror``), its module path is not. PyTorch's
#: data-dependent error is the one class that ends in none of the usual suffixes.
_EXCEPTION_LINE = re.compile(
    r"^\s*((?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception|Warning|Violation)|GuardOnDataDependentSymNode))\s*:", re.ASCII)
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\w.~-]*[/\\])+[\w.-]+(?::\d+)?", re.ASCII)
#: Every kind of symbol torch prints: sizes ``s0``, unbacked integers ``u0`` and floats ``zuf0``,
#: float inputs ``zf0``, and the rarer ``q0``, ``z0``, ``c0``, ``ps0``, ``d0``.
_SYMBOL = re.compile(r"\b(?:zuf|zf|uf|ps|s|u|q|z|c|d)\d+\b", re.ASCII)
#: Float symbols (``zuf0``, ``zf0``) stay apart from the others: a float read from a tensor or given
#: as an input is another cause than a size or an integer read from a tensor.
_FLOAT_SYMBOL = re.compile(r"\b(?:zuf|zf|uf)\d+\b", re.ASCII)
_QUOTED = re.compile(r"'[^'\s]{1,60}'|\"[^\"\s]{1,60}\"", re.ASCII)
_NAME_BEFORE_SIZE = re.compile(r"\b[A-Za-z_][\w.\[\]]*?(?=\.(?:size|shape)\b)", re.ASCII)
_NUMBER = re.compile(r"-?\b\d+(?:\.\d+)?\b", re.ASCII)
#: onnxruntime's status ("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION :", ": 1 : FAIL :") differs between its
#: releases and providers for the same failure: the node's operator and the status message tell it.
_ORT_STATUS = re.compile(r"\[ONNXRuntimeError\] : \d+ : [A-Z_]+ :", re.ASCII)
#: Its sentence around a failing node is the same for every failure: the node's operator is what it says.
_ORT_NODE = re.compile(r"Non-zero status code returned while running (\w+) node\.(?: Name:'[^']*(?:'|$))?", re.ASCII)
#: What follows says why the node failed: a line of its own (a paste may hold the first half only).
_ORT_STATUS_MESSAGE = re.compile(r"\s*\bStatus Message:\s*", re.ASCII)
#: C++ names in a message ("onnxruntime::ReshapeHelper::ReshapeHelper(const onnxruntime::TensorShape&, ...)",
#: "c10::SymInt"): the function of a C++ frame, cut off where a paste is cut, not words of the message.
_CPP_NAME = re.compile(r"\b\w+(?:::~?\w+)+(?:\([^()]*\)?)?(?:\s*const\b)?", re.ASCII)
#: Older PyTorch releases worded some errors otherwise: a reader on an old release pastes those.
#: (pattern, today's words); the same table is in error-matcher.js.
OLDER_WORDINGS = (
    # torch <= 2.4: "Not all values of n = L['x'].size()[0] in the specified range n <= 64 are valid
    # because n was inferred to be a constant (4)."
    # (the range clause is empty when the Dim has no bounds: "in the specified range are valid")
    (re.compile(r"Not all values of \S+ = \S+ in the specified range (?:.*? )?are valid because \S+ was inferred to be a constant",
                re.ASCII), "You marked NAME as dynamic but your code specialized it to be a constant"),
    (re.compile(r"was inferred to be a constant", re.ASCII), "specialized it to be a constant"),
)
#: Where PyTorch's messages name a dimension or an input by the reader's own name; the same table
#: is in error-matcher.js.
NAMED_PLACES = (
    (re.compile(r"Constraints violated \([^)]*\)", re.ASCII), "Constraints violated (NAME)"),
    (re.compile(r"You marked \S+ as dynamic", re.ASCII), "You marked NAME as dynamic"),
    (re.compile(r"^\s*[A-Za-z_]\w* = ", re.ASCII), "NAME = "),
)
#: Comparison operators carry meaning in guards (``== 4`` against ``<= 64``): they become words.
_OPERATORS = (("==", " EQ "), ("!=", " NE "), ("<=", " LE "), (">=", " GE "), ("<", " LT "), (">", " GT "), (" % ", " MOD "))
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
#: A line that names an exception of any class (``GuardOnDataDependentSymNode: ...`` too): a paste
#: that holds one is not a bare traceback.
_ANY_EXCEPTION = re.compile(r"^\s*(?:[A-Za-z_]\w*\.)*[A-Z]\w*: ", re.ASCII)
#: A frame's function: ``File "x.py", line 3, in view``, IPython's ``File /x.py:1798, in f(a, b)``,
#: "Caused by: (_refs/__init__.py:3806 in _reshape_view_helper)".
_FRAME_FUNCTION = re.compile(
    r'(?:^\s*File "[^"]*", line \d+|^\s*(?:File )?\S+:\d+|\.py", line \d+), in ([A-Za-z_]\w*)|\.py:\d+ in ([A-Za-z_]\w*)\)', re.ASCII)
_CALL = re.compile(r"([A-Za-z_]\w*)\(", re.ASCII)
#: A frame in PyTorch's own code: its code line is PyTorch's, not the reader's, and names no operation of theirs.
_TORCH_FRAME = re.compile(r"(?:^|[\s/\\\"])torch[/\\]", re.ASCII)
#: A code line that branches on a value (``if seq_len > limit:``): a Python ``if`` on a tensor (``op:cond``).
_BRANCH = re.compile(r"^\s*(?:if|elif|while) ", re.ASCII)
#: Quoted words that are PyTorch's own (arguments of the exporters), not the reader's names: kept as words.
API_NAMES = frozenset(("dynamic_axes", "dynamic_shapes", "input_names", "output_names", "dynamo", "strict"))
#: The function names in frames and code lines that tell which operation failed, and the operation
#: they stand for (``op:view`` is a feature); the same table is in error-matcher.js.
OPERATIONS = {
    "view": "view", "reshape": "view", "_reshape_view_helper": "view", "infer_size": "view",
    "_broadcast_shapes": "broadcast", "_maybe_broadcast": "broadcast", "broadcast_shapes": "broadcast",
    "pick_memory_format": "conv", "conv1d": "conv", "conv2d": "conv", "_conv_forward": "conv", "convolution": "conv",
    "__bool__": "cond", "guard_bool": "cond", "item": "item", "_local_scalar_dense": "item", "tolist": "item",
    "interpolate": "interpolate", "upsample_nearest2d": "interpolate", "upsample_bilinear2d": "interpolate",
    "cond": "cond", "if": "cond", "nonzero": "nonzero", "masked_select": "nonzero",
    "multi_head_attention_forward": "attention", "scaled_dot_product_attention": "attention",
    "unbind": "unbind", "tensor_split": "unbind",
    "aot_compile": "aoti", "aoti_compile_and_package": "aoti", "solve": "solve", "prettify_results": "solve",
}
#: When a paste is a traceback without its exception line, the frame that raises tells the error:
#: the message that function raises stands for the missing line, without a class (the class it
#: reached the reader as is unknown: export re-raises a data-dependent error as a UserError); the
#: same table is in error-matcher.js.
FRAME_MESSAGES = {
    "_check_dynamic_shapes": "Detected mismatch between the structure of `inputs` and `dynamic_shapes`",
    "_tree_map_with_path": "Detected mismatch between the structure of `inputs` and `dynamic_shapes`",
    "produce_guards_and_solve_constraints": "Constraints violated",
    "produce_guards": "Constraints violated",
    "_reshape_view_helper": "Could not guard on data-dependent expression",
    "guard_bool": "Could not guard on data-dependent expression",
    "_make_data_dependent_error": "Could not guard on data-dependent expression",
}
#: A recipe whose code calls none of the operations that the paste's frames name scores this share.
OTHER_OPERATIONS = 0.5
#: PyTorch's boilerplate: the same sentences under many errors, which say nothing of the cause.
#: Whole lines dropped, and phrases cut out of a line; the same tables are in error-matcher.js.
BOILERPLATE_LINES = re.compile(
    r"The error above occurred when calling torch\.export|call with `draft_export\(\)`|"
    r"^\s*Set TORCH_LOGS=|^\s*For more information about this error, see|^\s*Potential framework code culprit|"
    r"^\s*User Stack \(most recent call last\)|^\s*\(snipped, see stack below|"
    # The hints under a data-dependent error: "For extended logs when we create symbols, also add
    # TORCHDYNAMO_EXTENDED_DEBUG_CREATE_SYMBOL=...", "If you suspect the guard was triggered from C++, add ...".
    r"^\s*For extended logs when we create symbols|^\s*If you suspect the guard was triggered from C\+\+|"
    r"^\s*For more debugging help, see|^\s*For C\+\+ stack trace, run with|"
    # The ONNX exporter's advice under the step that failed, and its summary's frame.
    r"^\s*- (?:Modify the model code for `torch\.export\.export`|Debug `torch\.export\.export`|"
    r"Create an issue in the PyTorch GitHub|Create an error report with|If there is a missing ONNX function|"
    r"If there is an internal error during ONNX conversion)|"
    r"^\s*#{1,2} Exception summary|^\s*\(Refer to the full stack trace above", re.ASCII)
BOILERPLATE_PHRASES = re.compile(
    r"(?:For more information, )?run with TORCH_LOGS=\S*|,? ?(?:for more info run with )?TORCHDYNAMO_EXTENDED_DEBUG\w*=?\S*|"
    r"For more information about this error, see:?|https?://\S+|"
    r"\(Could this error message be improved\?[^)]*\)", re.ASCII)
#: Log lines pasted instead of the exception: their prefix (glog's ``W0213 09:47:01.171000 226363
#: path:6578] [2/0]``, ExecuTorch's ``E 00:00:00.215190 executorch:file.cpp:105]``) is dropped, and
#: the lines that stand for an exception become its words; PyTorch's fixed sentences keep only what
#: tells them apart (:data:`REWRITTEN_LINES`); the same tables are in error-matcher.js.
_LOG_PREFIX = re.compile(r"^[IWEFD] ?\d{2,4}[ :][\d:.]+ +(?:\d+ )?\S+:\d+\] (?:\[[\d/]+\] )?", re.ASCII)
#: The FX node an error happened in: "While executing %x : [num_users=1] = call_function[target=torch.ops.aten.x.vec](args = ...)".
_FX_NODE = re.compile(r"While executing %\S+ : \[[^\]]*\] = \w+\[target=(?:torch\.ops\.\w+\.(\w+)(?:\.\w+)?|"
                      r"<built-in (?:function|method) (\w+)[^>]*>|(?:[\w.]*\.)?(\w+))\].*$",
                      re.ASCII)
REWRITTEN_LINES = (
    # The expression, without the arguments that follow it ("hint=None, size_oblivious=False",
    # "None, False), **{}"): they are the same under every such line.
    (re.compile(r"failed (?:during|while running) evaluate_expr\(\W*(.*?)(?:,\s*(?:\w+=)?(?:None|False|True)\b.*)?$", re.ASCII),
     r"Could not guard on data-dependent expression \1"),
    (re.compile(r"^.*?\[E:onnxruntime:[^\]]*\]\s*", re.ASCII), "RuntimeException: [ONNXRuntimeError] : RUNTIME_EXCEPTION : "),
    (re.compile(r"^\s*\[torch\.onnx\] (?=.*\u274c)", re.ASCII), "TorchExportError: step failed "),
    (re.compile(r"^\s*\[torch\.onnx\] ", re.ASCII), ""),
    # The FX node an error happened in: its operation (``upsample_nearest2d`` of
    # ``torch.ops.aten.upsample_nearest2d.vec``, ``_check`` of ``torch._check``), not its arguments.
    (_FX_NODE, r"While executing \1\2\3"),
    # The ONNX exporter's wrapper says which of its steps failed (1: torch.export, 2: decompositions,
    # 3: the translation to ONNX), in a sentence that is the same under every error of that step.
    (re.compile(r"Failed to (?:export the model with torch\.export|decompose the FX graph for ONNX compatibility|"
                r"convert the exported program to an ONNX model)\. This is step (\d)/\d+ of exporting the model to ONNX\."
                r"(?: Next steps:)?", re.ASCII), r"onnx_exporter_step_\1"),
)
#: The details that tell causes apart, kept as words of their own: a constant or a hint that is 0 or
#: 1 (the 0/1 specialization) against any other, a class that Python builds in against a cache class
#: or the reader's own.
_ZERO_ONE = re.compile(r"(constant \(|hint of |hint = |[=!]= )([01])(?![\d.])", re.ASCII)
_CLASS = re.compile(r"<class '(?:[\w.]*\.)?(\w+)'>", re.ASCII)
BUILTIN_CLASSES = frozenset("int float bool str list tuple dict NoneType".split())
#: "top-level keys must be the arg names ['a', 'b'] of `inputs`, but here they are ['b']": which way they differ.
_KEYS = re.compile(r"arg names `?\[([^\]]*)\]`? of `?inputs`?, but here they are `?\[([^\]]*)\]", re.ASCII)
_KEY = re.compile(r"'([^']*)'", re.ASCII)


def _class_word(match: re.Match) -> str:
    name = match.group(1)
    kind = name.lower() if name in BUILTIN_CLASSES else "cache" if "cache" in name.lower() else "user"
    return f" class_{kind} "


def _keys_words(match: re.Match) -> str:
    expected, given = set(_KEY.findall(match.group(1))), set(_KEY.findall(match.group(2)))
    return (match.group(0) + (" KEYS_MISSING" if expected - given else "") + (" KEYS_UNKNOWN" if given - expected else ""))


def error_lines(text: str) -> list[str]:
    """The lines of a message or traceback that carry the error: frames, markers and PyTorch's
    boilerplate dropped, log lines turned into the error they report."""
    kept, skip_code = [], False
    for raw in _NEWLINE.split(text):
        line = _QUOTE_PREFIX.sub("", _RANK_PREFIX.sub("", _ANSI.sub("", raw).rstrip()))
        line = _CLASS_EXCEPTION.sub(r"\1\2:", _LOG_PREFIX.sub("", line))
        if _FRAME.match(line):
            skip_code = True  # the source line printed under a frame
            continue
        if skip_code and line.startswith("    ") and not _EXCEPTION_LINE.match(line):
            skip_code = False
            continue
        skip_code = False
        if not line.strip() or _DROPPED_LINE.match(line) or _IPYTHON_CODE.match(line) or BOILERPLATE_LINES.search(line):
            continue
        for pattern, replacement in REWRITTEN_LINES:
            line = pattern.sub(replacement, line)
        line = BOILERPLATE_PHRASES.sub(" ", line)
        kept += [part for part in _ORT_STATUS_MESSAGE.split(line) if part.strip()]
    if not any(_ANY_EXCEPTION.match(line) for line in kept):
        implied = [FRAME_MESSAGES[name] for name in frame_functions(text) if name in FRAME_MESSAGES]
        kept += implied[-1:]
    return kept


def frame_functions(text: str) -> list[str]:
    """The functions of a traceback's frames, outermost first."""
    found = []
    for raw in _NEWLINE.split(text):
        frame = _FRAME_FUNCTION.search(raw)
        if frame:
            found.append(frame.group(1) or frame.group(2))
    return found


def operations(text: str) -> list[str]:
    """The operations (:data:`OPERATIONS`) that a traceback's frames (their function, and the calls
    of the code line printed under a frame) name, each once, in order."""
    found, after_frame = [], False
    for raw in _NEWLINE.split(text):
        frame = _FRAME_FUNCTION.search(raw)
        names = [frame.group(1) or frame.group(2)] if frame else []
        node = _FX_NODE.search(raw)  # "While executing %x : ... [target=torch.ops.aten.view.default]"
        names += [node.group(1) or node.group(2) or node.group(3)] if node else []
        failing = _IPYTHON_FAILING.match(raw)  # IPython marks a frame's failing line "-> 1448 code"
        if (after_frame or failing) and not frame:
            code = raw[failing.end():] if failing else raw
            names = (["if"] if _BRANCH.match(code) else []) + _CALL.findall(code)
        # The code line printed under a frame of the reader's code (IPython prints numbered lines
        # around it instead, and marks the failing one).
        after_frame = bool(frame and frame.group(1)) and '", line ' in raw and not _TORCH_FRAME.search(raw)
        for name in names:
            if name in OPERATIONS and OPERATIONS[name] not in found:
                found.append(OPERATIONS[name])
    return found


def source_operations(source: str) -> list[str]:
    """The operations (:data:`OPERATIONS`) that a recipe's code calls or its text names, each once, in
    order: the recipe side of the ``op:`` features (its pages show no frames)."""
    found = []
    # A call, or an internal name the recipe's text gives (``_broadcast_shapes``, ``pick_memory_format``:
    # the frames readers paste name it, the recipe explains where it comes from).
    for name in _CALL.findall(source) + [word for word in _WORD.findall(source) if "_" in word.strip("_") or word.startswith("_")]:
        if name in OPERATIONS and OPERATIONS[name] not in found:
            found.append(OPERATIONS[name])
    return found


def words(line: str) -> list[str]:
    """A line's words once names, numbers, symbols and paths are replaced by placeholders."""
    for older, current in OLDER_WORDINGS:
        line = older.sub(current, line)
    for place, name in NAMED_PLACES:
        line = place.sub(name, line)
    line = _KEYS.sub(_keys_words, line)
    line = _CLASS.sub(_class_word, _OBJECT_OF_CLASS.sub(lambda m: _class_word(m) + " object has no attribute", line))
    line = _ZERO_ONE.sub(lambda m: m.group(1) + " ZERO_ONE ", line)
    line = _CPP_NAME.sub(" ", _ORT_STATUS.sub("[ONNXRuntimeError] :", line))
    line = _ORT_NODE.sub(lambda m: f" onnxruntime_node onnx_op_{m.group(1).lower()} ", line)
    line = _PATH.sub(" ", line)
    line = _QUOTED.sub(lambda m: f" {m.group(0)[1:-1]} " if m.group(0)[1:-1] in API_NAMES else " NAME ", line)
    line = _NAME_BEFORE_SIZE.sub(" NAME ", line)
    line = _SYMBOL.sub(" SYM ", _FLOAT_SYMBOL.sub(" SYM_FLOAT ", line))
    line = _NUMBER.sub(" NUM ", line)
    for operator, word in _OPERATORS:
        line = line.replace(operator, word)
    return [word.lower() for word in _WORD.findall(line) if len(word) > 1 and word.lower() not in STOP_WORDS]


#: The words that stand for what a reader's message has in their place: not words of a line's own.
PLACEHOLDERS = frozenset(("name", "num", "sym", "sym_float"))


def has_words(line: str) -> bool:
    """Whether a line has words besides its exception's class and the placeholders (:data:`PLACEHOLDERS`)."""
    return bool(set(words(_EXCEPTION_LINE.sub("", line))) - PLACEHOLDERS)


def features(text: str) -> Counter:
    """The features of a message (see the module's docstring), with their counts."""
    found, seen = Counter(), set()
    for line in error_lines(text):
        exception = _EXCEPTION_LINE.match(line)
        key = exception.group(2) if exception else ""
        if exception:
            line = line[exception.end():]
        tokens = words(line)
        # A line repeated (once per input that shares a dimension: "You marked NAME as dynamic ...")
        # counts once: how many times it repeats is the reader's model, not the cause.
        if (key, *tokens) in seen:
            continue
        seen.add((key, *tokens))
        if exception:
            found["exc:" + key.lower()] += 1
        found.update(tokens)
        found.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:]))
    found.update("op:" + name for name in operations(text))
    return found


#: Lines where a paste chains another exception: each block between them is scored on its own.
_CHAIN = re.compile(r"^\s*(During handling of the above exception|The above exception was the direct cause)", re.ASCII)
#: Below this confidence (the best score) the matcher says that no recipe documents the error.
#: Calibrated on the ``tune`` half of the corpus of real reports (``make matcher-eval`` prints the
#: calibration); the same value is in error-matcher.js.
NO_MATCH_BELOW = 0.30
#: What an index entry is: an error a recipe demonstrates, its title, a warning it shows, or the
#: message an older release raised for the same expectation (from ``_doc/behaviour/``).
KINDS = ("error", "title", "warning", "older wording")


def blocks(text: str) -> list[str]:
    """The exception blocks of a paste (split where one exception chains another)."""
    found, current = [], []
    for line in _NEWLINE.split(text):
        if _CHAIN.match(line) and current:
            found.append("\n".join(current))
            current = []
        current.append(line)
    found.append("\n".join(current))
    return [block for block in found if error_lines(block)]


@dataclass(frozen=True)
class Documented:
    """One entry of the index: an error a recipe documents (or its title, a warning, an older wording)."""

    title: str  # the recipe's title
    page: str  # the recipe's page, relative to the site's root
    exception: str
    text: str  # the error as the page shows it
    kind: str = "error"  # one of KINDS
    ops: tuple[str, ...] = ()  # the operations the recipe's code calls or its text names (source_operations)


@dataclass
class Match:
    title: str
    page: str
    score: float
    line: str  # the documented line that shares most with the query
    kind: str = "error"  # the kind of the entry that matched best (KINDS)


@dataclass
class Answer:
    """What the matcher says about a paste: the recipes that document it, or "no match" with the
    closest ones as related."""

    matches: list[Match]  # best first; empty when no_match
    confidence: float  # the best score
    related: list[Match]  # when no_match: the closest recipes, which do not document this error
    query: str  # the paste's error lines, normalised (paths dropped), for a report

    @property
    def no_match(self) -> bool:
        return not self.matches

    @property
    def family(self) -> str:
        """The section of the closest recipe (``data_dependent``), or empty."""
        closest = (self.matches or self.related)[:1]
        return closest[0].page.split("/")[-2] if closest else ""


def report_link(repository_url: str, answer: Answer) -> str:
    """A link that opens an issue on the repository, prefilled with the normalised error (the same
    link as error-matcher.js builds)."""
    first = answer.query.split("\n")[0][:100]
    body = (f"No recipe documents this error (closest family: {answer.family or 'none'}).\n\n"
            f"```\n{answer.query}\n```\n")
    return (f"{repository_url}/issues/new?title={quote('No recipe for: ' + first, safe=_URI_SAFE)}"
            f"&body={quote(body, safe=_URI_SAFE)}")


#: What JavaScript's encodeURIComponent leaves as it is, besides letters, digits and ``_.-~``.
_URI_SAFE = "!*'()"


def normalised(text: str, limit: int = 1500) -> str:
    """The paste's error lines without the reader's file paths: what a report of it should hold."""
    return "\n".join(_PATH.sub("...", line).strip() for line in error_lines(text))[:limit]


class Matcher:
    def __init__(self, documented: list[Documented]) -> None:
        self.documented = documented
        counted = [self._entry_features(entry.text, entry.ops) for entry in documented]
        frequency = Counter(feature for found in counted for feature in found)
        total = len(documented)
        self.idf = {feature: math.log((1 + total) / (1 + count)) + 1.0 for feature, count in frequency.items()}
        self.unknown_idf = math.log(1 + total) + 1.0  # the weight of a word that no entry holds
        self.vectors = [self._vector(found) for found in counted]
        # Each line of an entry of several lines, on its own (the same weights), when it has words of its
        # own: a line of placeholders ("(4, 7)") or of a class alone ("<class 'AssertionError'>: ") would
        # match any paste that holds a number or that class.
        self.line_vectors = []
        for entry in documented:
            lines = error_lines(entry.text)
            self.line_vectors.append([self._vector(self._entry_features(line, entry.ops)) for line in lines
                                      if has_words(line)] if len(lines) > 1 else [])

    @staticmethod
    def _entry_features(text: str, ops: tuple[str, ...]) -> Counter:
        found = features(text)
        found.update("op:" + name for name in ops)
        return found

    def _vector(self, found: Counter) -> dict[str, float]:
        vector = {feature: (1 + math.log(count)) * self.idf[feature] for feature, count in found.items() if feature in self.idf}
        # A word that no entry holds weighs in the norm as the rarest word would (a paste's words that
        # no recipe uses make it less likely that a recipe documents it), but matches nothing. Word pairs
        # are left out: pairs of known words that no entry joins are in every long paste.
        unknown = self.unknown_idf ** 2 * sum((1 + math.log(count)) ** 2 for feature, count in found.items()
                                              if feature not in self.idf and " " not in feature)
        norm = math.sqrt(sum(value * value for value in vector.values()) + unknown) or 1.0
        return {feature: value / norm for feature, value in vector.items()}

    def _best_line(self, entry: Documented, query: dict[str, float]) -> str:
        def shared(line: str) -> float:
            return sum(query.get(feature, 0.0) for feature in features(line))
        # A line of placeholders or of a class alone ("['meta', 'meta']") is never the one shown.
        every_line = error_lines(entry.text)
        lines = [line for line in every_line if has_words(line)] or every_line or [entry.text]
        return max(lines, key=lambda line: (shared(line), -lines.index(line))).strip()

    def _share(self, entry: Documented, ops: list[str]) -> float:
        return OTHER_OPERATIONS if ops and not set(ops) & set(entry.ops) else 1.0

    def _queries(self, text: str) -> list[tuple[dict[str, float], bool]]:
        """(vector, whether it is scored against every entry or only titles and warnings): the whole
        paste, each of its exception blocks, and its first error line (a title or a warning)."""
        queries = [(self._vector(features(text)), True)]
        parts = blocks(text)
        if len(parts) > 1:
            queries += [(self._vector(features(part)), True) for part in parts]
        lines = error_lines(text)
        if len(lines) > 1:
            queries.append((self._vector(features(lines[0])), False))
        return queries

    def match(self, text: str, limit: int = 5) -> list[Match]:
        """The recipes whose documented errors are closest to ``text``, best first."""
        best: dict[str, tuple[float, int, dict[str, float]]] = {}
        ops = operations(text)
        for query, everything in self._queries(text):
            for index, (entry, vector) in enumerate(zip(self.documented, self.vectors)):
                if not everything and entry.kind not in ("title", "warning"):
                    continue
                vectors = [vector, *self.line_vectors[index]] if everything else [vector]
                score = max(sum(value * v.get(feature, 0.0) for feature, value in query.items()) for v in vectors)
                score *= self._share(entry, ops)
                # To 1e-9: Python's and JavaScript's logarithms may differ in the last bit, ties must not.
                score = round(score * 1e9) / 1e9
                if score > 0 and score > best.get(entry.page, (0.0, 0, None))[0]:
                    best[entry.page] = (score, index, query)
        ranked = sorted(best.values(), key=lambda item: (-item[0], self.documented[item[1]].page))[:limit]
        return [Match(self.documented[index].title, self.documented[index].page, round(score, 4),
                      self._best_line(self.documented[index], query), self.documented[index].kind)
                for score, index, query in ranked]

    def answer(self, text: str, limit: int = 5, threshold: float = NO_MATCH_BELOW) -> Answer:
        """:meth:`match`, with an honest "no match" when the confidence (the best score) is below ``threshold``."""
        matches = self.match(text, limit)
        confidence = matches[0].score if matches else 0.0
        if confidence < threshold:
            return Answer([], confidence, matches[:3], normalised(text))
        return Answer(matches, confidence, [], normalised(text))


def index_entries(errors, extras=()) -> list[dict]:
    """The matcher's index as the site ships it (``_static/error-index.js``), from the
    troubleshooting page's errors (:class:`cookbook.site.troubleshooting.DemonstratedError`) and
    the ``extras`` (titles, warnings, older wordings: :class:`Documented`)."""
    entries = [{"title": e.title, "page": e.page, "exception": e.exception, "text": e.text, "kind": "error",
                "ops": list(getattr(e, "ops", ()))} for e in errors]
    entries += [{"title": e.title, "page": e.page, "exception": e.exception, "text": e.text, "kind": e.kind,
                 "ops": list(e.ops)} for e in extras]
    return entries


def matcher_from_index(entries: list[dict]) -> Matcher:
    return Matcher([Documented(e["title"], e["page"], e["exception"], e["text"], e.get("kind", "error"),
                               tuple(e.get("ops", ()))) for e in entries])
