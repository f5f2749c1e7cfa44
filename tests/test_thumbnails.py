"""The thumbnail cards (cookbook/site/thumbnails.py): drawn when what they show changes, not at every build."""

import shutil
from pathlib import Path

import sphinx_gallery
from PIL import Image

from cookbook.site.thumbnails import SIZE, write_card


def test_a_card_is_drawn_once_and_again_when_its_title_changes_or_sphinx_gallery_replaced_it(tmp_path):
    card = tmp_path / "thumb" / "sphx_glr_plot_x_thumb.png"
    assert write_card(card, "A title", "A section", "#1f6f8b")
    with Image.open(card) as image:
        assert image.size == SIZE and image.getpixel((5, 100)) == (0x1F, 0x6F, 0x8B)
    assert not write_card(card, "A title", "A section", "#1f6f8b")
    assert write_card(card, "Another title", "A section", "#1f6f8b")
    # A recipe that runs again gets sphinx-gallery's placeholder, which the next card replaces.
    shutil.copy(Path(sphinx_gallery.__file__).parent / "_static" / "no_image.png", card)
    assert write_card(card, "Another title", "A section", "#1f6f8b")
    assert not write_card(card, "Another title", "A section", "#1f6f8b")
