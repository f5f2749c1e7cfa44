"""Match an error message, or a whole traceback, to the recipes that document it.

A reader's message never matches the cookbook's letter for letter: their tensors are called
``input_ids``, their sizes are 8 and 512, their symbols ``s44``, their paths theirs. Both sides
are reduced to the same *features* before they are compared:

- a traceback's frames (``File "...", line N, in f`` and the code line under it, the ``^^^``
  markers, "During handling of ...", IPython's numbered code lines), file paths and line numbers
  are dropped;
- symbols (``s17``, ``u0``) become ``SYM``, numbers ``NUM``; quoted names, the names inside
  ``x.size()[0]``, ``inputs['x']``, ``L['x']`` and a dimension's name where a message gives it
  (:data:`NAMED_PLACES`: "Constraints violated (batch)", "You marked batch as dynamic",
  "batch = 4" under "Suggested fixes") become ``NAME``;
- the older wording of a message becomes today's (:data:`OLDER_WORDINGS`), comparison operators
  become words (``==`` is ``eq``), and what is left is split into lowercase words (one-letter
  words and a few stop words dropped); the features are those words, the pairs of consecutive
  words, and the exception's class (``exc:usererror``) from
  ``torch._dynamo.exc.UserError: ...`` lines.

Each documented error (the captured error of a sentinel's cell, :mod:`cookbook.site.troubleshooting`)
is a weighted vector of its features (tf-idf over all documented errors); a query is scored against
each by cosine similarity, a recipe by its best error. Words that no documented error holds (the
reader's own names) weigh nothing. The same rules run in the browser
(``_doc/_static/error-matcher.js``, on the index :func:`index_entries` writes at build time); the
tests hold both to the same results.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

#: Words too common to tell two errors apart.
STOP_WORDS = frozenset("""
a an the to of is in for and or be this that it with on as at by are was were if you your we can not
""".split())

_RANK_PREFIX = re.compile(r"^\[rank\d+\]:\s?", re.ASCII)
_FRAME = re.compile(r'^\s*File "[^"]*", line \d+', re.ASCII)
_DROPPED_LINE = re.compile(
    r"^\s*(Traceback \(most recent call last\):|During handling of the above exception|"
    r"The above exception was the direct cause|[~^\s]+$|"
    # IPython's tracebacks: "UserError   Traceback (most recent call last)", "Cell In[1], line 48".
    r"\w+\s+Traceback \(most recent call last\)|Cell In\[\d+\], line \d+)",
    re.ASCII,
)
_NEWLINE = re.compile(r"\r?\n")
#: IPython's numbered code lines around the failing one: "---> 48     so_path = ...", "     45 width = ...".
_IPYTHON_CODE = re.compile(r"^(?:\s+\d+ |-+>\s*\d+ )", re.ASCII)
_EXCEPTION_LINE = re.compile(r"^\s*((?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception|Warning|Violation)))\s*:", re.ASCII)
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\w.~-]*/)+[\w.-]+(?::\d+)?", re.ASCII)
_SYMBOL = re.compile(r"\b[suqz]\d+\b", re.ASCII)
_QUOTED = re.compile(r"'[^'\s]{1,60}'|\"[^\"\s]{1,60}\"", re.ASCII)
_NAME_BEFORE_SIZE = re.compile(r"\b[A-Za-z_][\w.\[\]]*?(?=\.(?:size|shape)\b)", re.ASCII)
_NUMBER = re.compile(r"-?\b\d+(?:\.\d+)?\b", re.ASCII)
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
_OPERATORS = (("==", " EQ "), ("!=", " NE "), ("<=", " LE "), (">=", " GE "), ("<", " LT "), (">", " GT "))
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def error_lines(text: str) -> list[str]:
    """The lines of a message or traceback that carry the error: frames and markers dropped."""
    kept, skip_code = [], False
    for raw in _NEWLINE.split(text):
        line = _RANK_PREFIX.sub("", raw.rstrip())
        if _FRAME.match(line):
            skip_code = True  # the source line printed under a frame
            continue
        if skip_code and line.startswith("    ") and not _EXCEPTION_LINE.match(line):
            skip_code = False
            continue
        skip_code = False
        if not line.strip() or _DROPPED_LINE.match(line) or _IPYTHON_CODE.match(line):
            continue
        kept.append(line)
    return kept


def words(line: str) -> list[str]:
    """A line's words once names, numbers, symbols and paths are replaced by placeholders."""
    for older, current in OLDER_WORDINGS:
        line = older.sub(current, line)
    for place, name in NAMED_PLACES:
        line = place.sub(name, line)
    line = _PATH.sub(" ", line)
    line = _QUOTED.sub(" NAME ", line)
    line = _NAME_BEFORE_SIZE.sub(" NAME ", line)
    line = _SYMBOL.sub(" SYM ", line)
    line = _NUMBER.sub(" NUM ", line)
    for operator, word in _OPERATORS:
        line = line.replace(operator, word)
    return [word.lower() for word in _WORD.findall(line) if len(word) > 1 and word.lower() not in STOP_WORDS]


def features(text: str) -> Counter:
    """The features of a message (see the module's docstring), with their counts."""
    found = Counter()
    for line in error_lines(text):
        exception = _EXCEPTION_LINE.match(line)
        if exception:
            found["exc:" + exception.group(2).lower()] += 1
            line = line[exception.end():]
        tokens = words(line)
        found.update(tokens)
        found.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:]))
    return found


@dataclass(frozen=True)
class Documented:
    """One error a recipe documents, as the index holds it."""

    title: str  # the recipe's title
    page: str  # the recipe's page, relative to the site's root
    exception: str
    text: str  # the error as the page shows it


@dataclass
class Match:
    title: str
    page: str
    score: float
    line: str  # the documented line that shares most with the query


class Matcher:
    def __init__(self, documented: list[Documented]) -> None:
        self.documented = documented
        counted = [features(entry.text) for entry in documented]
        frequency = Counter(feature for found in counted for feature in found)
        total = len(documented)
        self.idf = {feature: math.log((1 + total) / (1 + count)) + 1.0 for feature, count in frequency.items()}
        self.vectors = [self._vector(found) for found in counted]

    def _vector(self, found: Counter) -> dict[str, float]:
        vector = {feature: (1 + math.log(count)) * self.idf[feature] for feature, count in found.items() if feature in self.idf}
        norm = math.sqrt(sum(value * value for value in vector.values())) or 1.0
        return {feature: value / norm for feature, value in vector.items()}

    def _best_line(self, entry: Documented, query: dict[str, float]) -> str:
        def shared(line: str) -> float:
            return sum(query.get(feature, 0.0) for feature in features(line))
        lines = error_lines(entry.text) or [entry.text]
        return max(lines, key=lambda line: (shared(line), -lines.index(line))).strip()

    def match(self, text: str, limit: int = 5) -> list[Match]:
        """The recipes whose documented errors are closest to ``text``, best first."""
        query = self._vector(features(text))
        best: dict[str, tuple[float, Documented]] = {}
        for entry, vector in zip(self.documented, self.vectors):
            score = sum(value * vector.get(feature, 0.0) for feature, value in query.items())
            if score > 0 and score > best.get(entry.page, (0.0, None))[0]:
                best[entry.page] = (score, entry)
        ranked = sorted(best.values(), key=lambda item: (-item[0], item[1].page))[:limit]
        return [Match(entry.title, entry.page, round(score, 4), self._best_line(entry, query)) for score, entry in ranked]


def index_entries(errors) -> list[dict]:
    """The matcher's index as the site ships it (``_static/error-index.js``), from the
    troubleshooting page's errors (:class:`cookbook.site.troubleshooting.DemonstratedError`)."""
    return [{"title": e.title, "page": e.page, "exception": e.exception, "text": e.text} for e in errors]


def matcher_from_index(entries: list[dict]) -> Matcher:
    return Matcher([Documented(e["title"], e["page"], e["exception"], e["text"]) for e in entries])
