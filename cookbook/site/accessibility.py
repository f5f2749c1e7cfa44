"""What makes every page usable with the keyboard alone and with a screen reader, done when the
page is written rather than by JavaScript in the reader's browser (``cookbook.site.accessibility``
in conf.py's extensions). The templates (``_doc/_templates``) name the two sidebars and give the
search page its heading; ``cookbook.css`` draws the focus rings.

- Every code and output block can be reached and scrolled with the keyboard: its ``<pre>`` is
  focusable (``tabindex="0"``) and named for what it holds ("Python code", "Output"), as a group.
- A gallery card's link is named by the recipe's title (``cookbook.css`` hides the text that
  sphinx-gallery hides with ``display: none``, which left the link without a name, for the eye
  only); the visible title below it is hidden from screen readers, which would read it twice.
"""

from __future__ import annotations

import re

from sphinx.application import Sphinx

_BLOCK = re.compile(r'<div class="(?P<classes>[^"]*)"><div class="highlight"><pre>')
_CARD_TITLE = '<div class="sphx-glr-thumbnail-title">'
#: Names of the blocks by the language Sphinx highlighted them in (``highlight-<language>``).
LANGUAGE_NAMES = {"python": "Python code", "python3": "Python code", "pycon": "Python session", "diff": "Diff",
                  "bash": "Shell commands", "console": "Shell session", "none": "Text", "default": "Code"}


def block_name(classes: str) -> str:
    """The accessible name of a code block from the classes of its wrapper."""
    names = classes.split()
    if "sphx-glr-script-out" in names:
        return "Output"
    for name in names:
        if name.startswith("highlight-"):
            language = name.removeprefix("highlight-")
            return LANGUAGE_NAMES.get(language.lower(), f"{language} code")
    return "Code"


def accessible_body(body: str) -> str:
    body = _BLOCK.sub(
        lambda m: f'<div class="{m["classes"]}"><div class="highlight">'
                  f'<pre tabindex="0" role="group" aria-label="{block_name(m["classes"])}">', body)
    return body.replace(_CARD_TITLE, '<div class="sphx-glr-thumbnail-title" aria-hidden="true">')


def rewrite_body(app: Sphinx, pagename, templatename, context, doctree) -> None:
    if "body" in context:
        context["body"] = accessible_body(context["body"])


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", rewrite_body)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
