"""The published site, as search engines and link previews see it (``cookbook.site.publishing`` in
conf.py's extensions). Every address derives from ``html_baseurl`` (conf.py: from the repository).

- **sitemap.xml and robots.txt**, written at the end of every build from all the pages Sphinx knows,
  sorted. (sphinx-sitemap lists only the pages the last build wrote, so an incremental build
  wrote a sitemap of the few pages that changed, jdillard/sphinx-sitemap#13, and in the order the
  writing processes finished.) Each file is written only when its content changes.
- **The 404 page** (sphinx-notfound-page, ``_doc/_templates/404.html``) offers the search and a box
  for an error message, which opens the troubleshooting page with the text in its matcher
  (``_static/error-from-address.js``, loaded on that page only).
- **The 404 page is written only when pages are**: sphinx-notfound-page renders it on every build, with
  the whole navigation tree (about a fifth of a no-op build). A build that reads no page and has no
  out-of-date page to write changes nothing the 404 page shows (a change of a template or of an
  ``html`` configuration value makes every page out of date), so it keeps the page already built
  (:func:`write_404_only_when_pages_change`).
- **Link previews**: a recipe page's Open Graph image is its card (sphinxext-opengraph writes the
  tags; this sets the image before it runs); the other pages show the site's card.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

from cookbook.repository import DEFAULT_REPOSITORY, repository_url
from cookbook.site.thumbnails import PALETTE, write_card

#: The site's card (the link preview of the pages that are not recipes), drawn into the built site.
SITE_CARD = "_static/cookbook-card.png"
#: Pages that are no content to index.
NOT_IN_SITEMAP = ("search", "404")


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def sitemap(base_url: str, pages: list[str]) -> str:
    urls = "".join(f"  <url><loc>{escape(base_url + page)}</loc></url>\n" for page in pages)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{urls}</urlset>\n')


def robots(base_url: str) -> str:
    return f"User-agent: *\nAllow: /\n\nSitemap: {base_url}sitemap.xml\n"


def write_sitemap_and_robots(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html" or not app.config.html_baseurl:
        return
    base_url = app.config.html_baseurl
    pages = sorted(app.builder.get_target_uri(name) for name in app.env.found_docs if name not in NOT_IN_SITEMAP)
    out = Path(app.outdir)
    _write_if_changed(out / "sitemap.xml", sitemap(base_url, pages))
    _write_if_changed(out / "robots.txt", robots(base_url))
    write_card(out / SITE_CARD, app.config.project, "Recipes for torch.export and ONNX", PALETTE[0])


def recipe_card(app: Sphinx, pagename: str) -> str | None:
    """The output name (under ``_images/``) of the card of the recipe page ``pagename``, if it has one."""
    parts = pagename.split("/")
    if len(parts) != 3 or not parts[2].startswith("plot_"):
        return None
    card = "/".join([*parts[:2], "images", "thumb", f"sphx_glr_{parts[2]}_thumb.png"])
    known = app.env.images.get(card)  # the gallery's index shows the card: Sphinx copies it to _images/
    return known[1] if known else None


def set_preview_image(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Before sphinxext-opengraph (priority 500) reads the page's fields: its ``og:image``."""
    if not doctree or not app.config.html_baseurl:
        return
    fields = context.get("meta") or {}
    card = recipe_card(app, pagename)
    if card:
        fields.setdefault("og:image", f"{app.config.html_baseurl}_images/{card}")
        fields.setdefault("og:image:alt", f"The card of the recipe: {context.get('title', '')}".rstrip(": "))
    context["meta"] = fields


def load_error_from_address(app: Sphinx, pagename, templatename, context, doctree) -> None:
    if pagename == "troubleshooting":
        app.add_js_file("error-from-address.js")  # in html-page-context: for this page only


def add_repository_to_context(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """The templates' ``cookbook_repository`` (owner/name) and ``cookbook_repository_url``."""
    context["cookbook_repository"] = app.config.cookbook_repository
    context["cookbook_repository_url"] = repository_url(app.config.cookbook_repository)


#: The module whose ``html-collect-pages`` handler renders the 404 page.
NOTFOUND_MODULE = "notfound.extension"


def track_page_changes(app: Sphinx) -> dict[str, int]:
    """How many pages this build reads (``read``) and finds out of date to write (``outdated``),
    counted as Sphinx says so; both stay 0 in a build that changes no page."""
    changes = {"read": 0, "outdated": 0}

    def count_read(app, env, docnames):
        changes["read"] += len(docnames)

    def count_outdated(app, builder):
        changes["outdated"] += sum(1 for _ in builder.get_outdated_docs())

    app.connect("env-before-read-docs", count_read)
    app.connect("write-started", count_outdated)
    return changes


def write_search_page_only_when_pages_change(app: Sphinx, changes: dict[str, int]) -> None:
    """``builder-inited``: the search page is written again unless this build changes no page and
    the page exists. What it shows besides its form is the navigation of every page, which changes
    only with a page; writing it cost a quarter of a no-op build (furo lays out that navigation).

    Sphinx writes it from ``gen_additional_pages`` through ``handle_page("search", ...)``, with no
    setting to skip it; a guard on the builder's ``handle_page`` does (``tests/test_site.py`` checks
    that a no-op build leaves the page as it was and that an edited page's build writes it)."""
    builder = app.builder
    if getattr(builder, "search", False) is False or not hasattr(builder, "handle_page"):
        return
    handle_page = builder.handle_page

    def guarded(pagename, *args, **kwargs):
        if (pagename == "search" and not changes["read"] and not changes["outdated"]
                and (Path(app.outdir) / "search.html").exists()):
            return None
        return handle_page(pagename, *args, **kwargs)

    builder.handle_page = guarded


def write_404_only_when_pages_change(app: Sphinx, changes: dict[str, int]) -> None:
    """Put a guard before sphinx-notfound-page's ``html-collect-pages`` handler: the 404 page is
    rendered unless this build read no page, found no page out of date, and the page exists.

    sphinx-notfound-page has no setting for this: its handler is found among Sphinx's listeners
    (``app.events.listeners``, stable since Sphinx 3), and the build stops, naming what changed, if
    it is not there exactly once (``tests/test_site.py`` checks this and the skip itself)."""
    ours = [listener for listener in app.events.listeners.get("html-collect-pages", [])
            if getattr(listener.handler, "__module__", "") == NOTFOUND_MODULE]
    if len(ours) != 1:
        raise ExtensionError(f"cookbook.site.publishing: expected one html-collect-pages handler of {NOTFOUND_MODULE} "
                             f"(the 404 page), found {len(ours)}: list 'notfound.extension' before it in conf.py's "
                             "extensions, or update write_404_only_when_pages_change for this sphinx-notfound-page")
    listener = ours[0]
    app.disconnect(listener.id)

    def collect_404(app):
        page = Path(app.outdir) / f"{app.config.notfound_pagename}.html"
        if not changes["read"] and not changes["outdated"] and page.exists():
            return []
        return listener.handler(app)

    app.connect("html-collect-pages", collect_404, priority=listener.priority)


def setup(app: Sphinx) -> dict:
    # conf.py sets it (cookbook.repository.repository()); extensions read app.config.cookbook_repository.
    app.add_config_value("cookbook_repository", DEFAULT_REPOSITORY, "html", types=frozenset({str}))
    app.connect("html-page-context", add_repository_to_context)
    app.connect("html-page-context", load_error_from_address)
    app.connect("html-page-context", set_preview_image, priority=400)
    app.connect("build-finished", write_sitemap_and_robots)
    changes = track_page_changes(app)
    write_404_only_when_pages_change(app, changes)
    app.connect("builder-inited", lambda app: write_search_page_only_when_pages_change(app, changes))
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
