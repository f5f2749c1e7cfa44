"""The sphinx-gallery internals the cookbook relies on (cookbook/site/gallery_internals.py) are all
there, and each check fails naming its internal when that internal is hidden: what an upgrade of
sphinx-gallery that moves one would do. In seconds, without a build."""

from types import SimpleNamespace

import pytest
import sphinx_gallery
from sphinx.errors import ConfigError
from sphinx_gallery import gen_gallery, gen_rst, py_source_parser, utils

from cookbook import REPO_ROOT
from cookbook.site.gallery_internals import INTERNALS, names_used, problem_of, refuse_run_stale_examples, unlisted


def without(module, name):
    return lambda monkeypatch: monkeypatch.delattr(module, name)


def without_default(key):
    return lambda monkeypatch: monkeypatch.delitem(gen_gallery.DEFAULT_GALLERY_CONF, key)


def replaced_text(name, old, new):
    """sphinx-gallery's template ``gen_rst.<name>`` with ``old`` written otherwise."""
    def hide(monkeypatch):
        assert old in getattr(gen_rst, name)
        monkeypatch.setattr(gen_rst, name, getattr(gen_rst, name).replace(old, new))
    return hide


def generate_file_rst_then(change):
    """sphinx-gallery's ``generate_file_rst``, followed by ``change(result, target_dir, fname)``."""
    def hide(monkeypatch):
        original = gen_rst.generate_file_rst

        def generate_file_rst(fname, target_dir, src_dir, gallery_conf):
            result = original(fname, target_dir, src_dir, gallery_conf)
            change(result, target_dir, fname)
            return result
        monkeypatch.setattr(gen_rst, "generate_file_rst", generate_file_rst)
    return hide


def renamed_out_vars(result, target_dir, fname):
    out_vars = result[3]
    for key in ("passing", "formatted_exception"):
        if key in out_vars:
            out_vars[f"{key}_v2"] = out_vars.pop(key)


def one_more_file(result, target_dir, fname):
    (target_dir / f"{fname}.log").write_text("a file that a newer sphinx-gallery writes next to each page")


def execute_code_block_without_compile(*args, **kwargs):
    return ""


def summary_that_says_otherwise(app, exception):
    return None


#: For each internal, how an upgrade of sphinx-gallery could take it away.
HIDE = {
    "gen_rst.handle_exception": without(gen_rst, "handle_exception"),
    "gen_rst.compile": lambda mp: mp.setattr(gen_rst, "execute_code_block", execute_code_block_without_compile),
    "gen_rst.generate_file_rst": without(gen_rst, "generate_file_rst"),
    "gen_rst.executable_script": without(gen_rst, "executable_script"),
    "gen_gallery.get_subsections": without(gen_gallery, "get_subsections"),
    "utils.get_md5sum": without(utils, "get_md5sum"),
    "md5 layout (<gallery>/<section>/plot_x.py.md5)": lambda mp: mp.setattr(gen_rst, "get_md5sum", lambda path, mode="b": "0" * 32),
    "gallery_conf['failing_examples']": without_default("failing_examples"),
    "out_vars['passing'] / out_vars['formatted_exception']": generate_file_rst_then(renamed_out_vars),
    "reset_modules hook (gallery_conf, fname, when)": lambda mp: mp.setattr(gen_rst, "clean_modules", lambda *a, **k: None),
    ".. GENERATED FROM PYTHON SOURCE LINES a-b": replaced_text("RST_BLOCK_HEADER", "PYTHON SOURCE LINES", "SOURCE LINES"),
    ".. rst-class:: sphx-glr-script-out": replaced_text("CODE_OUTPUT", "sphx-glr-script-out", "sphx-glr-output"),
    ".. _sphx_glr_<gallery>_<section>_<name>.py: label": replaced_text("EXAMPLE_HEADER", ".. _sphx_glr_{1}:", ".. _example_{1}:"),
    ".. _sphx_glr_download_ label": replaced_text("DOWNLOAD_LINKS_HEADER", "_sphx_glr_download_", "_download_"),
    "generated files (plot_x.rst, .py, .py.md5, .ipynb, .zip, .cost.json, .codeobj.json, images)": generate_file_rst_then(one_more_file),
    "py_source_parser.split_code_and_text_blocks / remove_config_comments": without(py_source_parser, "split_code_and_text_blocks"),
    "'executed N out of M file(s)' log line": lambda mp: mp.setattr(gen_gallery, "summarize_failing_examples", summary_that_says_otherwise),
    "_static/no_image.png": lambda mp: mp.setattr(sphinx_gallery, "__file__", "/nonexistent/sphinx_gallery/__init__.py"),
    "gallery_conf['run_stale_examples']": without_default("run_stale_examples"),
    "gallery_conf['parallel']": without_default("parallel"),
    "gen_gallery._fill_gallery_conf_defaults": without(gen_gallery, "_fill_gallery_conf_defaults"),
}


@pytest.mark.parametrize("internal", INTERNALS, ids=lambda internal: internal.name)
def test_the_installed_sphinx_gallery_still_has_it(internal):
    assert problem_of(internal) is None


@pytest.mark.parametrize("internal", INTERNALS, ids=lambda internal: internal.name)
def test_hiding_it_fails_naming_it(internal, monkeypatch):
    HIDE[internal.name](monkeypatch)
    message = problem_of(internal)
    assert message is not None, f"{internal.name} hidden, yet its check passes"
    assert f"sphinx-gallery internal {internal.name!r} changed" in message and internal.used_by in message, message


def test_every_internal_is_shown_hidden():
    assert set(HIDE) == {internal.name for internal in INTERNALS}


def test_every_name_of_sphinx_gallery_that_the_cookbook_and_its_tests_use_is_listed():
    used = {}
    for path in sorted((REPO_ROOT / "cookbook").rglob("*.py")) + sorted((REPO_ROOT / "tests").rglob("*.py")):
        if path.name == "test_gallery_internals.py":  # hides them on purpose
            continue
        for name in names_used(path.read_text(encoding="utf-8")):
            used.setdefault(name, path.relative_to(REPO_ROOT))
    assert "gen_rst.handle_exception" in used, "the scan finds no name at all"
    missing = unlisted(set(used))
    assert not missing, {name: str(used[name]) for name in missing}


def test_run_stale_examples_is_refused_with_what_to_do_instead():
    def app(value):
        return SimpleNamespace(config=SimpleNamespace(sphinx_gallery_conf={"run_stale_examples": value}))

    refuse_run_stale_examples(app(False))
    with pytest.raises(ConfigError, match=r"run_stale_examples.*without the time limit.*md5"):
        refuse_run_stale_examples(app(True))
