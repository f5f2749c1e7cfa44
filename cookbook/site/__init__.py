"""The cookbook's Sphinx extension (``extensions = ["cookbook.site"]`` in conf.py): all its wiring is in :func:`setup`.

- **No stale pages.** sphinx-gallery re-runs a recipe only when the md5 of its source changed, so
  after a PyTorch upgrade it would publish yesterday's outputs. Before the gallery is generated,
  the versions that shape the outputs (:func:`cookbook.environment.build_fingerprint`) and the
  digest of ``conf.py`` are compared with those of the previous build; when they differ, every
  recipe's cached md5 is dropped so that every recipe runs again. An unchanged environment keeps
  the cache.
- **Nothing left of a removed recipe.** Before the gallery is generated, the pages, notebooks,
  images, md5 files, HTML output and run records of recipes that no longer exist are deleted
  (:mod:`cookbook.site.leftovers`): a removed or renamed recipe leaves no page that no index lists.
- **No machine paths on pages.** After the gallery is generated, its reST files are rewritten with
  :func:`cookbook.output_paths.scrub_paths`: ``# File: /home/me/.../plot_x.py:19`` becomes
  ``# File: recipes/section/plot_x.py:19``. The downloadable ``.py`` and ``.ipynb`` are untouched.
- **Related recipes** at the bottom of each recipe page (the other recipes of its section), and a
  thumbnail card per recipe in its section's colour (:mod:`cookbook.site.thumbnails`).
- **Reported by readers**: on each recipe page, the public reports of the corpus
  (``tests/data/reports``) that it answers, and on the troubleshooting page the coverage table
  (:mod:`cookbook.site.reports`).
- **Troubleshooting by error message**: ``_doc/troubleshooting.rst``, generated from the recipes
  (:mod:`cookbook.site.troubleshooting`).
- **What changed between PyTorch versions**: ``_doc/behaviour.rst`` and a page per section in
  ``_doc/behaviour-by-section/``, generated from the JSON
  files of ``make behaviour-report`` (:mod:`cookbook.site.behaviour_page`).
- **Recipes by API**: ``_doc/apis.rst``, generated from the recipes' code, and links from the API
  names of each recipe's code to it (:mod:`cookbook.site.apis`).
- **The environment on every page**, in the footer (``cookbook_versions`` in the templates).
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util import logging

from cookbook import BEHAVIOUR_DIR, REPO_ROOT, RECIPES_DIR
from cookbook.environment import DOCUMENTED_PACKAGES, MODEL_LIBRARIES, build_fingerprint, release, versions_line
from cookbook.output_paths import scrub_paths
from cookbook.recipes import discover_recipes, section_title, title_of
from cookbook.reports import REPORTS_DIR, load_reports, reports_by_recipe
from cookbook.environment import package_version
from cookbook.site.apis import api_uses, link_names_in_code
from cookbook.site.apis import write_page as write_apis_page
from cookbook.site.behaviour_page import history_box, recipe_history
from cookbook.site.behaviour_page import load_reports as load_behaviour_reports
from cookbook.site.behaviour_page import write_pages as write_behaviour_pages
from cookbook.site import recipe_pool
from cookbook.site.execution import RUNS_DIR
from cookbook.site.execution import report as report_recipe_runs
from cookbook.site.reports import recipe_reports_block, with_reports
from cookbook.site import leftovers, source_cache
from cookbook.site.gallery_internals import parse_each_recipe_once, refuse_run_stale_examples
from cookbook.site.rst import gallery_label, ref
from cookbook.site.thumbnails import PALETTE, write_card
from cookbook.site.troubleshooting import collect as collect_errors
from cookbook.site.troubleshooting import parse_sentinels
from cookbook.site.troubleshooting import write_error_index
from cookbook.site.troubleshooting import write_page as write_troubleshooting_page

logger = logging.getLogger(__name__)

FINGERPRINT_FILE = ".build-environment.json"
#: The errors the recipes demonstrate, read from the generated pages after sphinx-gallery, for the
#: troubleshooting page and, at the end of the build, the error matcher's index.
_documented_errors: list = []


def _gallery_dirs(app: Sphinx) -> list[Path]:
    dirs = app.config.sphinx_gallery_conf["gallery_dirs"]
    return [Path(app.srcdir) / d for d in ([dirs] if isinstance(dirs, str) else dirs)]


def invalidate_gallery_cache_on_new_environment(app: Sphinx) -> None:
    """Drop sphinx-gallery's md5 cache when the versions or the build configuration changed."""
    conf = Path(app.confdir) / "conf.py"
    current = build_fingerprint() | {"conf.py": hashlib.sha256(conf.read_bytes()).hexdigest()[:12]}
    for gallery in _gallery_dirs(app):
        record = gallery / FINGERPRINT_FILE
        previous = json.loads(record.read_text()) if record.exists() else None
        if previous != current:
            stale = list(gallery.rglob("*.md5"))
            for md5 in stale:
                md5.unlink()
            if previous is not None:
                changed = ", ".join(
                    f"{name} {previous.get(name, '?')} -> {version}"
                    for name, version in current.items()
                    if previous.get(name) != version
                )
                logger.info(f"[cookbook] environment changed ({changed}): every recipe runs again")
            gallery.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")


def remove_leftovers(app: Sphinx) -> None:
    """``builder-inited``, before sphinx-gallery and before Sphinx lists the pages to read: delete
    what recipes that no longer exist left in the gallery, the HTML output and the run records."""
    gallery_conf = app.config.sphinx_gallery_conf
    examples = gallery_conf["examples_dirs"]
    galleries = gallery_conf["gallery_dirs"]
    found = []
    for examples_dir, gallery_dir in zip([examples] if isinstance(examples, str) else examples,
                                         [galleries] if isinstance(galleries, str) else galleries):
        sources = leftovers.sources_of(Path(app.srcdir) / examples_dir)
        found += leftovers.gallery_leftovers(Path(app.srcdir) / gallery_dir, sources)
        found += leftovers.html_leftovers(Path(app.outdir), Path(app.doctreedir), gallery_dir, sources)
    found += leftovers.run_record_leftovers(RUNS_DIR, RECIPES_DIR)
    if found:
        leftovers.delete(found)
        logger.info(f"[cookbook] deleted {len(found)} file(s) or folder(s) left by recipes that no longer exist: "
                    + ", ".join(leftovers.owners(found)))


RELATED_BEGIN = ".. cookbook-related-recipes-begin"
RELATED_END = ".. cookbook-related-recipes-end"


def _related_block(source: Path, titles: dict[Path, str]) -> str:
    """Links to the other recipes of the section (``titles``: each recipe of it and its title)."""
    others = [other for other in titles if other != source]
    if not others:
        return ""
    lines = [RELATED_BEGIN, "", ".. rubric:: Related recipes", ""]
    for other in others:
        lines.append(f"- {ref(titles[other], gallery_label(other.parent.name, other.name))}")
    return "\n".join(lines + ["", RELATED_END, "", ""])


def _with_related(text: str, block: str) -> str:
    if RELATED_BEGIN in text:
        start, end = text.index(RELATED_BEGIN), text.index(RELATED_END) + len(RELATED_END) + 2
        text = text[:start] + text[end:]
    anchor = text.find("\n.. _sphx_glr_download_")
    return text if anchor < 0 or not block else text[: anchor + 1] + block + text[anchor + 1 :]


HISTORY_BEGIN = ".. cookbook-history-begin"
HISTORY_END = ".. cookbook-history-end"
_TITLE_UNDERLINE = re.compile(r"^=+$", re.MULTILINE)
#: Indented lines and the blank lines between them (a literal block), up to the next unindented line.
_INDENTED_BLOCK = re.compile(r"(?:[ \t]+\S[^\n]*\n|[ \t]*\n)*")


def _with_history(text: str, box: str) -> str:
    """The page with ``box`` after the first paragraph of its introduction (replacing an older box)."""
    if HISTORY_BEGIN in text:
        start, end = text.index(HISTORY_BEGIN), text.index(HISTORY_END) + len(HISTORY_END) + 2
        text = text[:start] + text[end:]
    title = _TITLE_UNDERLINE.search(text)
    if not box or not title:
        return text
    paragraph_end = text.find("\n\n", text.find("\n\n", title.end()) + 2)
    # A paragraph that ends with "::" introduces the indented (literal) block after it: the box goes
    # after that block, or it would end the paragraph's block before it starts ("... stops with::").
    if paragraph_end >= 0 and text[:paragraph_end].rstrip().endswith("::"):
        block_end = _INDENTED_BLOCK.match(text, paragraph_end + 2).end()
        # The blank line that ends the block, where the box goes.
        paragraph_end = block_end - 2 if text[paragraph_end + 2:block_end].endswith("\n\n") else -1
    if paragraph_end < 0:
        return text
    block = f"\n\n{HISTORY_BEGIN}\n\n{box}\n{HISTORY_END}"
    return text[:paragraph_end] + block + text[paragraph_end:]


def verified_torch() -> str:
    return release(package_version("torch"))


def _recipes_by_section(app: Sphinx):
    """Each section of the gallery that has a README: (its index, folder, title, and its recipes with
    their titles)."""
    for index, name in enumerate(app.config.cookbook_sections):
        section = RECIPES_DIR / name
        if not (section / "README.rst").exists():  # a section not written yet
            continue
        titles = {
            source: title_of(source.read_text(encoding="utf-8"), default=source.stem)
            for source in discover_recipes(RECIPES_DIR) if source.parent == section
        }
        yield index, section, section_title(section), titles


def draw_cards(app: Sphinx) -> int:
    """Each recipe's thumbnail card (:mod:`cookbook.site.thumbnails`), where it is not drawn yet.
    How many were drawn."""
    cards = 0
    for gallery in _gallery_dirs(app):
        for index, section, heading, titles in _recipes_by_section(app):
            for source, title in titles.items():
                thumb = gallery / section.name / "images" / "thumb" / f"sphx_glr_{source.stem}_thumb.png"
                cards += write_card(thumb, title, heading, PALETTE[index % len(PALETTE)])
    return cards


def write_pages_from_sources(app: Sphinx) -> None:
    """``builder-inited``, after the recipes' zygote is forked and before sphinx-gallery: what needs
    only the recipes' sources and the behaviour records, not their runs. The thumbnail cards, the
    APIs page, the behaviour page, and each recipe parsed for its sentinels (cached for the
    troubleshooting page).

    In a cold build this runs while the zygote imports torch, on the core that is otherwise idle
    then, instead of on one core after the last recipe, with the other idle (figures in
    DEVELOPERS.md's performance note). A card drawn before its recipe runs also spares
    sphinx-gallery's child from scaling its placeholder thumbnail: it draws one only where there is
    none. Where a child comes first (a build whose recipes need no torch starts them at once),
    :func:`finish_generated_pages` draws the card again over the placeholder."""
    cards = draw_cards(app)
    for source in discover_recipes(RECIPES_DIR):
        parse_sentinels(source.read_text(encoding="utf-8"))
    apis = write_apis_page(Path(app.srcdir) / "apis.rst", RECIPES_DIR)
    logger.info(f"[cookbook] APIs page: {apis} names")
    existing = {f"{section.name}/{source.name}" for _, section, _, titles in _recipes_by_section(app) for source in titles}
    sections = {section.name: title for _, section, title, _ in _recipes_by_section(app)}
    reports = write_behaviour_pages(Path(app.srcdir), BEHAVIOUR_DIR, verified_torch(), existing, sections)
    logger.info(f"[cookbook] behaviour pages: {reports} environment(s)")
    if cards:
        logger.info(f"[cookbook] {cards} thumbnail(s) drawn")


#: The digest of what the finished pages, the troubleshooting page and the matcher's index were
#: made from, at the end of the last build that made them (:func:`finishing_inputs`).
FINISHED_DIGEST = source_cache.CACHE_FILE.parent / "finished-pages.sha256"
ERROR_INDEX = Path("_static") / "error-index.js"
#: Whether this build found the finished pages as the last one left them (then it skips that work).
_unchanged = {"finished": False}


def finishing_inputs(app: Sphinx) -> str:
    """A digest of everything :func:`finish_generated_pages` and :func:`write_matcher_index` read:
    the generated pages, the recipes, the behaviour records and the reports (each file's path, size
    and time of change), the sections, the documented versions and the cookbook's code."""
    digest = hashlib.sha256()
    digest.update(json.dumps([source_cache.code_version(), list(app.config.cookbook_sections),
                              versions_line(DOCUMENTED_PACKAGES + MODEL_LIBRARIES)]).encode())
    files = [*RECIPES_DIR.rglob("*"), *BEHAVIOUR_DIR.glob("*.json"), *REPORTS_DIR.glob("*"), REPO_ROOT / "conf.py"]
    for gallery in _gallery_dirs(app):
        files += gallery.rglob("*.rst")
    for path in sorted(files):
        if path.is_file():  # relative: a copy of the repository (times kept) finds its pages finished
            stat = path.stat()
            digest.update(f"{path.relative_to(REPO_ROOT)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _finished_as_left(app: Sphinx) -> bool:
    """The generated pages are as the last build finished them, its troubleshooting page and
    matcher index are there, and nothing they were made from changed."""
    return (FINISHED_DIGEST.exists() and (Path(app.srcdir) / "troubleshooting.rst").exists()
            and (Path(app.outdir) / ERROR_INDEX).exists()
            and FINISHED_DIGEST.read_text(encoding="utf-8") == finishing_inputs(app))


def finish_generated_pages(app: Sphinx) -> None:
    """After sphinx-gallery: rewrite machine paths, add related recipes and history boxes, write the
    troubleshooting page, and draw again the cards that sphinx-gallery replaced (its "broken"
    thumbnail for a recipe that failed).

    Files are written only when their content changes, so a no-op build stays a no-op. When nothing
    this reads changed since the last build finished the pages (:func:`finishing_inputs`: sphinx-gallery
    wrote no page, no recipe, record or report changed), there is nothing to do, nor for the
    matcher's index."""
    _unchanged["finished"] = _finished_as_left(app)
    if _unchanged["finished"]:
        return
    FINISHED_DIGEST.unlink(missing_ok=True)  # written again once the matcher's index is
    rewritten = 0
    reports = load_behaviour_reports(BEHAVIOUR_DIR)
    reported = load_reports()
    answered = reports_by_recipe(reported)
    for gallery in _gallery_dirs(app):
        for _, section, _, titles in _recipes_by_section(app):
            for source in titles:
                page = gallery / section.name / (source.stem + ".rst")
                if not page.exists():
                    continue
                text = page.read_text(encoding="utf-8")
                new = _with_related(scrub_paths(text, REPO_ROOT), _related_block(source, titles))
                block = recipe_reports_block(answered.get(f"{section.name}/{source.name}", []))
                new = with_reports(new, block, before=RELATED_BEGIN)
                history = recipe_history(reports, f"{section.name}/{source.name}", verified_torch())
                new = _with_history(new, history_box(history, reports) if history else "")
                if new != text:
                    page.write_text(new, encoding="utf-8")
                    rewritten += 1
        _documented_errors[:] = collect_errors(gallery, RECIPES_DIR)
        count = write_troubleshooting_page(Path(app.srcdir) / "troubleshooting.rst", _documented_errors, reported)
        logger.info(f"[cookbook] troubleshooting page: {count} error messages")
    cards = draw_cards(app)
    if rewritten or cards:
        logger.info(f"[cookbook] {rewritten} generated page(s) finished, {cards} thumbnail(s) drawn again")


def drop_code_link_candidates(app: Sphinx) -> None:
    """sphinx-gallery keeps, next to each page, the names its code uses (``*.codeobj.json``), and
    when writing the page tokenizes every code block again to link those names to their API
    documentation. This site has none to link to (no ``backreferences_dir``, no intersphinx): the
    pass changed no link and took a third of Sphinx's writing time (DEVELOPERS.md's performance
    note). Without the file, sphinx-gallery skips the page. The names of
    the recipes' code link to the APIs page instead (:func:`link_api_names`)."""
    for gallery in _gallery_dirs(app):
        for candidates in gallery.rglob("*.codeobj.json"):
            candidates.unlink()


def freeze_before_reading(app: Sphinx, env, docnames) -> None:
    """``env-before-read-docs``: what Sphinx holds before it reads the pages (its modules, the
    extensions', the configuration, the gallery's state) is never garbage. After one collection it
    is frozen (``gc.freeze()``), so that the collector of this process, and of the processes it
    forks to read and write the pages, skips it instead of walking it in every full collection
    (the gain: DEVELOPERS.md's performance note). A build with nothing to read skips the collection."""
    if docnames:
        gc.collect()
        gc.freeze()


class SectionsDirective(SphinxDirective):
    """``.. cookbook-sections::``: each section of the gallery, its title linked, with the first
    paragraph of its README (which says which problems it answers) and how many recipes it has."""

    def run(self):
        lines = []
        for name in self.config.cookbook_sections:
            section = RECIPES_DIR / name
            if not (section / "README.rst").exists():
                continue
            paragraphs = (section / "README.rst").read_text(encoding="utf-8").strip().split("\n\n")
            intro = " ".join(paragraphs[1].split()) if len(paragraphs) > 1 else ""
            count = sum(recipe.parent == section for recipe in discover_recipes(RECIPES_DIR))
            lines += [
                f"- {ref(section_title(section), gallery_label(name))} ({count} recipes): {intro}",
                "",
            ]
            self.env.note_dependency(str(section / "README.rst"))
        container = nodes.container(classes=["cookbook-sections"])
        self.state.nested_parse(StringList(lines, source="cookbook-sections"), self.content_offset, container)
        return [container]


def write_matcher_index(app: Sphinx, exception) -> None:
    """The troubleshooting page's error matcher reads its index from ``_static/error-index.js``:
    the errors its page lists (read from the generated pages once, on ``builder-inited``)."""
    if exception is None and app.builder.format == "html" and not _unchanged["finished"]:
        count = write_error_index(Path(app.outdir) / ERROR_INDEX, _documented_errors)
        logger.info(f"[cookbook] error matcher: {count} documented errors indexed")
        FINISHED_DIGEST.parent.mkdir(parents=True, exist_ok=True)
        FINISHED_DIGEST.write_text(finishing_inputs(app), encoding="utf-8")


def add_versions_to_context(app: Sphinx, config) -> None:
    """The footer's versions, as a value of ``html_context``: Sphinx writes every page again when a
    value of it changes, so that no page that is not rebuilt keeps the versions of an older build."""
    config.html_context = {**config.html_context,
                           "cookbook_versions": versions_line(DOCUMENTED_PACKAGES + MODEL_LIBRARIES)}  # transformers: the models section


def link_api_names(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """In a recipe page's code, each PyTorch API name links to its entry of the APIs page."""
    parts = pagename.split("/")
    if len(parts) != 3 or parts[0] not in app.config.sphinx_gallery_conf["gallery_dirs"] or "body" not in context:
        return
    recipe = RECIPES_DIR / parts[1] / f"{parts[2]}.py"
    if recipe.exists():
        spellings = api_uses(recipe.read_text(encoding="utf-8")).spellings
        context["body"] = link_names_in_code(context["body"], spellings, app.builder.get_relative_uri(pagename, "apis"))


def setup(app: Sphinx) -> dict:
    # torch is not imported here (it would cost every build, a no-op one included): before each recipe,
    # in the process that runs it, execution.around_recipe imports it and binds its log handlers
    # to the process's stderr (the recipe's log, recipe_pool), so that torch's log lines never reach a page.
    # sphinx-gallery generates the gallery on builder-inited at the default priority (500).
    # sphinx-gallery's run_stale_examples would run recipes in this process, outside the pool (cookbook/site/gallery_internals.py).
    app.connect("builder-inited", refuse_run_stale_examples, priority=90)
    app.connect("builder-inited", parse_each_recipe_once, priority=95)
    app.connect("builder-inited", invalidate_gallery_cache_on_new_environment, priority=100)
    # Before anything reads the gallery: what removed or renamed recipes left (cookbook/site/leftovers.py).
    app.connect("builder-inited", remove_leftovers, priority=110)
    # Each recipe to run gets a fresh fork of a zygote, all sections at once (cookbook/site/recipe_pool.py).
    app.connect("builder-inited", recipe_pool.start, priority=450)
    # While the zygote imports torch, the work that needs only the sources.
    app.connect("builder-inited", write_pages_from_sources, priority=460)
    app.connect("builder-inited", recipe_pool.stop, priority=600)
    app.connect("build-finished", recipe_pool.stop, priority=100)
    app.add_config_value("cookbook_sections", [], "html")
    app.connect("builder-inited", finish_generated_pages, priority=900)
    app.connect("builder-inited", drop_code_link_candidates, priority=901)
    app.connect("env-before-read-docs", freeze_before_reading)
    app.connect("config-inited", add_versions_to_context)
    app.connect("html-page-context", link_api_names)
    # Before sphinx-gallery's summary of failing examples (priority 500), which ends the build.
    app.connect("build-finished", report_recipe_runs, priority=400)
    app.connect("build-finished", write_matcher_index, priority=300)
    app.connect("build-finished", source_cache.save, priority=950)
    app.add_directive("cookbook-sections", SectionsDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
