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
