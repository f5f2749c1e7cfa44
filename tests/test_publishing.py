"""The one repository setting and the addresses derived from it (cookbook/repository.py), and the
sitemap and robots.txt that cookbook/site/publishing.py writes from them."""

import pytest

from cookbook.repository import DEFAULT_REPOSITORY, pages_url, repository, repository_url, url_path
from cookbook.site.publishing import robots, sitemap


def test_the_repository_is_github_actions_one_else_the_default():
    assert repository({"GITHUB_REPOSITORY": "someone/their-fork"}) == "someone/their-fork"
    assert repository({}) == DEFAULT_REPOSITORY
    assert repository({"GITHUB_REPOSITORY": ""}) == DEFAULT_REPOSITORY


def test_a_value_that_is_no_repository_is_refused_naming_the_variable():
    with pytest.raises(ValueError, match="GITHUB_REPOSITORY='not a repository'"):
        repository({"GITHUB_REPOSITORY": "not a repository"})


def test_the_site_address_is_github_pages_one_for_the_repository():
    assert pages_url("Someone/their-fork") == "https://someone.github.io/their-fork/"
    assert pages_url("someone/Someone.github.io") == "https://someone.github.io/"  # a user's own site
    assert url_path(pages_url("someone/their-fork")) == "/their-fork/"
    assert url_path("https://someone.github.io") == "/"
    assert repository_url("someone/their-fork") == "https://github.com/someone/their-fork"


def test_the_sitemap_lists_each_page_at_the_site_address_escaped():
    text = sitemap("https://someone.github.io/fork/", ["index.html", "a&b.html"])
    assert "<loc>https://someone.github.io/fork/index.html</loc>" in text
    assert "<loc>https://someone.github.io/fork/a&amp;b.html</loc>" in text
    assert robots("https://someone.github.io/fork/").endswith("Sitemap: https://someone.github.io/fork/sitemap.xml\n")


def _tiny_site(tmp_path, extensions):
    from sphinx.application import Sphinx

    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    (source / "conf.py").write_text(f"extensions = {extensions!r}\nhtml_baseurl = 'https://someone.github.io/x/'\n")
    if not (source / "index.rst").exists():
        (source / "index.rst").write_text("Home\n====\n\nA page.\n")

    def build():
        app = Sphinx(str(source), str(source), str(tmp_path / "html"), str(tmp_path / "doctrees"), "html",
                     status=None, warning=None, freshenv=False)
        app.build()
        return tmp_path / "html" / "404.html"

    return source, build


def test_the_404_page_is_written_again_only_when_a_page_is(tmp_path):
    source, build = _tiny_site(tmp_path, ["notfound.extension", "cookbook.site.publishing"])
    page = build()
    assert page.exists()
    page.write_text("kept")  # a no-op build keeps it as it is
    build()
    assert page.read_text() == "kept"
    (source / "index.rst").write_text("Home\n====\n\nAnother text.\n")  # a page changed: written again
    build()
    assert "404" in page.read_text()
    page.unlink()  # a missing page is written, even by a no-op build
    build()
    assert page.exists()


def test_the_404_guard_refuses_a_build_where_it_cannot_find_the_404_handler(tmp_path):
    from sphinx.errors import ExtensionError

    _, build = _tiny_site(tmp_path, ["cookbook.site.publishing", "notfound.extension"])  # wrong order
    with pytest.raises(ExtensionError, match="expected one html-collect-pages handler of notfound.extension"):
        build()


def test_the_search_page_is_written_again_only_when_a_page_is(tmp_path):
    source, build = _tiny_site(tmp_path, ["notfound.extension", "cookbook.site.publishing"])
    search = build().parent / "search.html"
    assert "search" in search.read_text().lower()
    search.write_text("kept")  # a no-op build keeps it as it is
    build()
    assert search.read_text() == "kept"
    (source / "index.rst").write_text("Home\n====\n\nYet another text.\n")  # a page changed: written again
    build()
    assert "search" in search.read_text().lower() and search.read_text() != "kept"
    search.unlink()  # a missing page is written, even by a no-op build
    build()
    assert search.exists()
