"""Thumbnails that tell the sections apart.

sphinx-gallery shows the same placeholder for every recipe without a figure. Each recipe gets a
card instead: its section's colour, the section's name and the recipe's title. The cards are
drawn with Pillow (a dependency of sphinx-gallery) and are the same from build to build.
"""

from __future__ import annotations

import hashlib
import io
import json
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

SIZE = (400, 280)
# One colour per section, in the order of conf.SECTIONS (readable with white text, light or dark mode).
PALETTE = ["#1f6f8b", "#b5403a", "#6a4c93", "#2d7d46", "#a2611a", "#3c5a99", "#7a5c00", "#8b1e5b"]


#: The PNG text field that holds what a card shows, so that a build redraws only the cards that change.
WHAT = "cookbook-card"


#: Any change of this file (how a card is drawn) redraws every card.
_DRAWING = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def _what(title: str, section: str, colour: str) -> str:
    return json.dumps([title, section, colour, _DRAWING])


def draw_card(title: str, section: str, colour: str) -> bytes:
    image = Image.new("RGB", SIZE, colour)
    draw = ImageDraw.Draw(image)
    small = ImageFont.load_default(size=22)
    large = ImageFont.load_default(size=30)
    draw.rectangle([0, 0, SIZE[0], 52], fill="#ffffff")
    draw.text((20, 14), section, font=small, fill=colour)
    y = 72
    for line in textwrap.wrap(title, width=24)[:5]:
        draw.text((20, y), line, font=large, fill="#ffffff")
        y += 38
    info = PngImagePlugin.PngInfo()
    info.add_text(WHAT, _what(title, section, colour))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, pnginfo=info)
    return buffer.getvalue()


def _shows(path: Path, what: str) -> bool:
    """Whether ``path`` is a card drawn (by this code) for ``what``: read from its header, not drawn again.
    A card's text chunk comes before its pixels, so ``info`` has it without decoding the image
    (``image.text`` decodes it, at every build)."""
    try:
        with Image.open(path) as image:
            return image.format == "PNG" and image.info.get(WHAT) == what
    except (OSError, ValueError):
        return False


def write_card(path: Path, title: str, section: str, colour: str) -> bool:
    """Write the card to ``path`` unless that card is there already. True if written."""
    if path.exists() and _shows(path, _what(title, section, colour)):
        return False
    content = draw_card(title, section, colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return True
