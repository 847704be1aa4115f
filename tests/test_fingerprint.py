"""convlib.fingerprint: the functions a computation ran, and source hashes that see code and constants
but not comments or docstrings."""
import textwrap

import pytest

from convlib import dag, fingerprint


def test_trace_records_the_package_functions_that_ran_and_nothing_else():
    with fingerprint.trace() as seen:
        dag.parse("2_21_112").to_string()
    assert {"convlib.dag:parse", "convlib.dag:DAG.__post_init__", "convlib.dag:DAG.to_string"} <= seen
    assert "convlib.dag:canonical" not in seen
    assert all(name.startswith("convlib.") for name in seen)
    with fingerprint.trace() as later:
        pass
    assert later == set()


def test_names_fold_comprehensions_into_their_function():
    path = str(fingerprint.PKG_DIR / "nas" / "scores.py")
    assert fingerprint.function_name(path, "f.<locals>.<listcomp>.<lambda>") == "convlib.nas.scores:f.<locals>.<lambda>"
    assert fingerprint.function_name(path, "f.<locals>.<genexpr>") == "convlib.nas.scores:f"
    assert fingerprint.function_name(str(fingerprint.PKG_DIR / "nas" / "__init__.py"), "g") == "convlib.nas:g"
    assert fingerprint.function_name(path, "<module>") is None
    assert fingerprint.function_name("/elsewhere/scores.py", "f") is None


def test_a_memoised_function_counts_as_run_on_a_cache_hit():
    ns: dict = {}
    exec(compile("def f(x):\n    return x + 1\n", str(fingerprint.PKG_DIR / "fake_memo.py"), "exec"), ns)
    f = fingerprint.memo(ns["f"])
    with fingerprint.trace() as first:
        assert f(1) == 2
    with fingerprint.trace() as second:
        assert f(1) == 2
    assert "convlib.fake_memo:f" in first and "convlib.fake_memo:f" in second


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A fake ``convlib`` package on disk whose sources a test edits."""
    root = tmp_path / "convlib"
    root.mkdir()
    (root / "__init__.py").write_text("")
    files = {
        "consts.py": "LIMIT = 5\n",
        "mod.py": '''\
            """A module."""
            from convlib.consts import LIMIT
            from convlib import consts
            SCALE = 2


            def f(x):
                """Scale and append the limit."""
                # a comment
                return [SCALE * v for v in x] + [LIMIT]  # trailing comment


            def g(x):
                return sum(v for v in x) + consts.LIMIT


            class C:
                def m(self):
                    return (lambda y: y + 1)(2)
            ''',
    }

    def write(name: str, text: str) -> None:
        (root / name).write_text(textwrap.dedent(text))
        fingerprint.reset()

    for name, text in files.items():
        write(name, text)
    monkeypatch.setattr(fingerprint, "PKG_DIR", root)
    fingerprint.reset()
    yield write, files
    fingerprint.reset()


def _hashes():
    return fingerprint.hashes(["convlib.mod:f", "convlib.mod:g", "convlib.mod:C.m", "convlib.mod:C.m.<locals>.<lambda>"])


def test_hashes_ignore_comments_and_docstrings(package):
    write, files = package
    before = _hashes()
    assert all(before.values())
    write("mod.py", files["mod.py"].replace("Scale and append the limit.", "Another docstring.")
          .replace("# a comment", "# another comment\n                # and one more"))
    assert _hashes() == before


def test_hashes_see_code_and_the_constants_a_function_reads(package):
    write, files = package
    before = _hashes()
    write("mod.py", files["mod.py"].replace("SCALE = 2", "SCALE = 3"))
    after = _hashes()
    assert after["convlib.mod:f"] != before["convlib.mod:f"] and after["convlib.mod:g"] == before["convlib.mod:g"]
    write("mod.py", files["mod.py"])
    write("consts.py", "LIMIT = 6\n")  # read by f through an import, by g as consts.LIMIT
    after = _hashes()
    assert after["convlib.mod:f"] != before["convlib.mod:f"] and after["convlib.mod:g"] != before["convlib.mod:g"]
    write("consts.py", "LIMIT = 5\n")
    write("mod.py", files["mod.py"].replace("y + 1", "y + 2"))
    after = _hashes()
    assert after["convlib.mod:C.m.<locals>.<lambda>"] != before["convlib.mod:C.m.<locals>.<lambda>"]
    assert after["convlib.mod:f"] == before["convlib.mod:f"]


def test_changed_names_edited_and_vanished_functions(package):
    write, files = package
    recorded = _hashes()
    write("mod.py", files["mod.py"].replace("def g(x):", "def h(x):").replace("SCALE = 2", "SCALE = 4"))
    assert fingerprint.changed(recorded) == ["convlib.mod:f", "convlib.mod:g"]
    assert fingerprint.source_hash("convlib.nowhere:f") is None


def test_a_locator_is_left_out_of_hashes_and_of_changes(package):
    write, files = package
    located = files["mod.py"] + '''

            @fingerprint.locator
            def where():
                return "here"
            '''
    write("mod.py", located)
    recorded = fingerprint.hashes(["convlib.mod:f", "convlib.mod:where"])
    assert list(recorded) == ["convlib.mod:f"] and fingerprint.is_locator("convlib.mod:where")
    write("mod.py", located.replace('"here"', '"elsewhere"'))
    assert fingerprint.changed({**recorded, "convlib.mod:where": "an old hash"}) == []
    write("mod.py", located.replace("@fingerprint.locator\n", ""))  # no longer a locator: its edits count
    assert fingerprint.changed({"convlib.mod:where": "an old hash"}) == ["convlib.mod:where"]
