"""No recipe reaches the network (cookbook.network): both zygotes, the harness's and the build's,
guard Python's sockets; every attempt is refused and noted, even one that the recipe swallowed.

``tests/test_recipes.py`` checks that each recipe's run (the build's record, or the harness's own
run) noted none. Here, the guard itself: a recipe that tries to download, and swallows the refusal,
is seen by both."""

from __future__ import annotations

import textwrap

from cookbook.harness.runner import run_recipe

DOWNLOADS = textwrap.dedent('''
    """
    A recipe that downloads
    =======================
    """
    import contextlib
    import urllib.request

    with contextlib.suppress(OSError):
        urllib.request.urlopen("http://example.com", timeout=5)
    print("went on")
''')


def test_the_harness_refuses_and_notes_an_attempt_that_the_recipe_swallowed(tmp_path):
    recipe = tmp_path / "plot_download.py"
    recipe.write_text(DOWNLOADS)
    result = run_recipe(recipe)
    assert result.passed, result.report()  # the recipe swallowed the refusal...
    assert result.network == ["getaddrinfo ('example.com', 80)"]  # ...the guard noted it


def test_a_recipe_that_reaches_no_network_notes_nothing(tmp_path):
    recipe = tmp_path / "plot_offline.py"
    recipe.write_text('"""\nOffline\n=======\n"""\nimport socket\n\nprint(socket.gethostname())\n')
    result = run_recipe(recipe)
    assert result.passed, result.report()
    assert result.network == []
