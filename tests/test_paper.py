"""convlib.paper: the tables of cited numbers, read and checked."""
import math

import pytest

from convlib import paper

HEADER = "key,group,what,value,unit,source\n"


def _write(tmp_path, body, header=HEADER):
    (tmp_path / "p.csv").write_text(header + body)
    return tmp_path


def test_a_table_is_read_by_key_in_file_order(tmp_path):
    folder = _write(tmp_path, 'b,results,"error, top-1",24.1,%,"X et al., Table 2"\na,settings,lr,3e-4,,X et al.\n')
    table = paper.cited("p", folder)
    assert list(table) == ["b", "a"]
    assert table["b"] == paper.Cited("b", "results", "error, top-1", 24.1, "%", "X et al., Table 2", "24.1")
    assert (table["a"].value, table["a"].printed) == (3e-4, "3e-4")
    assert paper.rows(table, "results") == [{"what": "error, top-1", "value": "24.1", "unit": "%",
                                             "source": "X et al., Table 2"}]
    assert len(paper.rows(table)) == len(paper.rows(table, "results", "settings")) == 2


@pytest.mark.parametrize("body", ["a,g,w,x,%,src\n", "a,g,w,nan,%,src\n", "a,g,w,1,%, \n", "a,g,w,1,%,s\na,g,w,2,%,s\n",
                                  ",g,w,1,%,s\n", "a,g,w,1\n", "a,g,w,1,%,s,extra\n"])
def test_a_bad_row_names_its_line(tmp_path, body):
    with pytest.raises(ValueError, match="p.csv, line"):
        paper.cited("p", _write(tmp_path, body))


def test_missing_table_and_wrong_columns(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.csv"):
        paper.cited("nothing", tmp_path)
    with pytest.raises(ValueError, match="columns"):
        paper.cited("p", _write(tmp_path, "a,1\n", header="key,value\n"))


def test_the_committed_tables_read():
    for path in paper.FOLDER.glob("*.csv"):
        table = paper.cited(path.stem)
        assert table and all(c.source.strip() for c in table.values())


def test_table_pivots_rows_and_columns_and_stds(tmp_path, monkeypatch):
    body = ("t2|A|x,t2,A on x,1.5,%,Paper Table 2\n"
            "t2|A|x|std,t2,A on x std,0.5,%,Paper Table 2\n"
            "t2|B|y,t2,B on y,3,%,Paper Table 2\n"
            "other|A|x,other,elsewhere,9,%,Paper Table 3\n")
    folder = _write(tmp_path, body)
    monkeypatch.setattr(paper, "FOLDER", folder)
    t = paper.table("p", "t2")
    assert list(t.index) == ["A", "B"] and t.loc["A", "x"] == 1.5 and t.loc["B", "y"] == 3.0
    assert math.isnan(t.loc["A", "y"]) and paper.table("p", "t2", "std").loc["A", "x"] == 0.5
    with pytest.raises(ValueError, match="cites no table 'nope'"):
        paper.table("p", "nope")


def test_the_books_tables_read_as_printed():
    t2 = paper.table("chen2022", "table2")
    assert t2.loc["WOT+DAG", "cifar100"] == 69.86 and paper.table("chen2022", "table2", "std").loc["WOT", "cifar10"] == 0.99
    assert list(paper.table("chen2022", "table3").index) == ["1", "0.75", "0.5", "0.25"]
