"""Where the cookbook lives on GitHub, and where its site is published: one setting.

``conf.py`` sets ``cookbook_repository`` from :func:`repository`: the ``owner/name`` that GitHub
Actions gives every workflow in ``GITHUB_REPOSITORY``, else :data:`DEFAULT_REPOSITORY`. Everything
that points at the repository or at the published site derives from it: the site's address
(:func:`pages_url`, Sphinx's ``html_baseurl``: canonical links, the sitemap, link previews and the
404 page's links) and the repository's own address (:func:`repository_url`, for links that open an
issue). A fork's CI publishes the fork's own copy without any change.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlparse

#: The repository when ``GITHUB_REPOSITORY`` is not set (a build on a developer's machine).
DEFAULT_REPOSITORY = "dynamic-shapes-cookbook/dynamic-shapes-export-cookbook"
_OWNER_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")


def repository(environ=os.environ) -> str:
    """``owner/name``: ``GITHUB_REPOSITORY`` when set (in GitHub Actions), else the default."""
    value = environ.get("GITHUB_REPOSITORY") or DEFAULT_REPOSITORY
    if not _OWNER_NAME.fullmatch(value):
        raise ValueError(f"GITHUB_REPOSITORY={value!r} is not a GitHub repository (expected owner/name)")
    return value


def repository_url(owner_name: str) -> str:
    return f"https://github.com/{owner_name}"


def pages_url(owner_name: str) -> str:
    """The address GitHub Pages publishes the repository's site at, with a final slash:
    ``https://owner.github.io/name/``, or ``https://owner.github.io/`` for the repository named
    ``owner.github.io``. (A custom domain set in the repository's Pages settings redirects there.)"""
    owner, name = owner_name.split("/")
    host = f"{owner.lower()}.github.io"
    return f"https://{host}/" if name.lower() == host else f"https://{host}/{name}/"


def url_path(url: str) -> str:
    """The path of an address, with a final slash: ``/name/`` for ``https://owner.github.io/name/``."""
    path = urlparse(url).path
    return path if path.endswith("/") else path + "/"
