"""What the build computes from a recipe's source is kept across builds (cookbook/site/source_cache.py):
computed once per source text and code version, read back by the next build, and never wrong."""

import pickle

from cookbook.site import source_cache


def fresh_store(monkeypatch, path):
    store = source_cache._Store(path)
    monkeypatch.setattr(source_cache, "_store", store)
    return store


def test_a_result_is_computed_once_then_read_back_by_the_next_build(tmp_path, monkeypatch):
    calls = []

    def count_lines(source: str) -> int:
        calls.append(source)
        return len(source.splitlines())

    store = fresh_store(monkeypatch, tmp_path / "sources.pickle")
    cached = source_cache.kept_across_builds(count_lines)
    assert cached("a\nb\n") == 2 and cached("a\nb\n") == 2 and calls == ["a\nb\n"]
    assert store.save() and not store.save()  # written once, then only when something new was computed

    fresh_store(monkeypatch, tmp_path / "sources.pickle")  # the next build: a new process
    again = source_cache.kept_across_builds(count_lines)
    assert again("a\nb\n") == 2 and calls == ["a\nb\n"]  # read back, not computed
    assert again("a\nb\nc\n") == 3 and len(calls) == 2  # an edited source is computed


def test_the_file_keeps_only_what_the_last_build_used(tmp_path, monkeypatch):
    store = fresh_store(monkeypatch, tmp_path / "sources.pickle")
    cached = source_cache.kept_across_builds(len)
    cached("old")
    store.save()
    store = fresh_store(monkeypatch, tmp_path / "sources.pickle")
    cached = source_cache.kept_across_builds(len)
    cached("new")
    store.save()
    kept = pickle.loads((tmp_path / "sources.pickle").read_bytes())
    assert len(kept) == 1 and next(iter(kept.values())) == 3


def test_a_change_of_the_cookbook_code_computes_everything_again(tmp_path):
    package = tmp_path / "cookbook"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    before = source_cache.code_version.__wrapped__(package)
    (package / "a.py").write_text("x = 2\n")
    assert source_cache.code_version.__wrapped__(package) != before


def test_an_unreadable_cache_is_ignored_and_written_again(tmp_path, monkeypatch):
    path = tmp_path / "sources.pickle"
    path.write_bytes(b"not a pickle")
    store = fresh_store(monkeypatch, path)
    cached = source_cache.kept_across_builds(len)
    assert cached("abc") == 3
    assert store.save()
    assert len(pickle.loads(path.read_bytes())) == 1
