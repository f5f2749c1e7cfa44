"""`make screenshots`: the landing page and one recipe page of the built site, light and dark,
as PNG files in _build/screenshots/."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support.site_server import browser, serve  # noqa: E402

PAGES = {
    "landing": "index.html",
    "recipe": "auto_recipes/constraints/plot_dx_plus_dy.html",
    "gallery": "auto_recipes/index.html",
    "troubleshooting": "troubleshooting.html",
    "behaviour": "behaviour.html",
}


def main() -> None:
    out = ROOT / "_build" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with serve() as base, browser() as chromium:
        for scheme in ("light", "dark"):
            page = chromium.new_page(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
            for name, path in PAGES.items():
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                target = out / f"{name}-{scheme}.png"
                page.screenshot(path=str(target), full_page=name == "landing")
                print(target.relative_to(ROOT))
            page.close()


if __name__ == "__main__":
    main()
