"""Small reST helpers shared by the pages the build generates."""

from __future__ import annotations

from cookbook import GALLERY_DIR

def gallery_label(section: str, filename: str | None = None) -> str:
    """sphinx-gallery's reference label of a section's index, or of one recipe's page."""
    label = f"sphx_glr_{GALLERY_DIR}_{section}"
    return f"{label}_{filename}" if filename else label


def literal(text: str) -> str:
    """``text`` as inline literal reST (safe with backquotes and backslashes; whitespace at either end,
    which reST does not allow inside the marks, is dropped: a key cut at 160 characters can end with it)."""
    return ":code:`" + text.strip().replace("\\", "\\\\").replace("`", "\\`") + "`"


def ref(title: str, label: str) -> str:
    """A ``:ref:`` to ``label`` shown as ``title``, whatever characters the title holds."""
    title = title.replace("``", "")  # link text is not parsed: inline-literal marks would show as they are
    escaped = title.replace("\\", "\\\\").replace("`", "\\`").replace("<", "\\<")
    return f":ref:`{escaped} <{label}>`"
