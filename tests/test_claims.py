"""convlib.claims: the verdict rule on hand-made numbers, the claims table's checks, and that every claim
has a verdict from the fixed vocabulary."""
import math

import numpy as np
import pytest

from convlib import claims
from convlib.claims import Measured, verdict


def test_not_attempted_without_a_number_of_ours():
    assert verdict("value", None, 1.0) == "not attempted"
    assert verdict("above", Measured(math.nan)) == "not attempted"


def test_fewer_than_three_seeds_is_inconclusive_whatever_the_numbers():
    assert verdict("value", Measured(5.0, 0.01, n=2), 5.0, 0.1) == "inconclusive"
    assert verdict("above", Measured(5.0, 0.01, 4.9, 5.1, n=2)) == "inconclusive"
    assert verdict("above", Measured(5.0, 0.01, 4.9, 5.1, n=3)) == "reproduced"


def test_direction_claims_by_the_interval():
    assert verdict("above", Measured(0.3, lo=0.1, hi=0.5)) == "reproduced"
    assert verdict("above", Measured(-0.3, lo=-0.5, hi=-0.1)) == "not reproduced"
    assert verdict("above", Measured(0.2, lo=-0.05, hi=0.42)) == "inconclusive"
    assert verdict("below", Measured(-0.3, lo=-0.5, hi=-0.1)) == "reproduced"
    assert verdict("below", Measured(0.587, lo=0.579, hi=0.595)) == "not reproduced"
    # the reference need not be 0: a slack above 1
    assert verdict("above", Measured(1.06, lo=1.06, hi=1.06), reference=1.0) == "reproduced"
    assert verdict("above", Measured(0.9, lo=0.9, hi=0.9), reference=1.0) == "not reproduced"


def test_value_claims_within_two_combined_standard_errors():
    # d = 0.3, s = hypot(0.1, 0.1) = 0.1414: 2 s = 0.283 < 0.3 -> outside; 0.25 -> inside
    assert verdict("value", Measured(1.30, 0.1, n=10), 1.0, 0.1) == "partly reproduced"
    assert verdict("value", Measured(1.25, 0.1, n=10), 1.0, 0.1) == "reproduced"
    # exact numbers: equal (up to rounding) or not
    assert verdict("value", Measured(15625.0), 15625.0) == "reproduced"
    assert verdict("value", Measured(1e-16), 0.0) == "reproduced"
    assert verdict("value", Measured(85.0), 0.0) == "not reproduced"


def test_value_claims_an_effect_the_data_do_not_show_is_not_reproduced():
    # the filter's effect on CIFAR-10: ours +0.01 (se 0.01), the paper +0.17 (se 0.056)
    assert verdict("value", Measured(0.01, 0.01, n=500), 0.17, 0.056) == "not reproduced"
    # the same effect shown but smaller: partly
    assert verdict("value", Measured(0.05, 0.01, n=500), 0.17, 0.05) == "partly reproduced"
    # the opposite sign
    assert verdict("value", Measured(-0.2, 0.01, n=500), 0.17, 0.05) == "not reproduced"


def test_an_effect_ours_does_not_show_is_not_reproduced_even_within_the_papers_noise():
    # the filter's effect on ImageNet16-120: ours +0.04 [-0.02, +0.10], the paper +0.34 with se 0.18: |d| < 2 s,
    # but our interval holds 0 and excludes the paper's number
    assert verdict("value", Measured(0.04, 0.03, -0.02, 0.10, n=500), 0.34, 0.18) == "not reproduced"
    # an interval that holds both 0 and the paper's number decides nothing
    assert verdict("value", Measured(0.1, 0.1, -0.1, 0.3, n=10), 0.2, 0.1) == "inconclusive"


def test_levels_are_reproduced_or_not_never_partly():
    # an accuracy: TENAS 93.14 [92.85, 93.44] against the paper's 93.90 (se 0.235): |d| = 0.76 > 2 s = 0.56
    assert verdict("value", Measured(93.14, 0.15, 92.85, 93.44, n=4), 93.90, 0.235, reference=None) == "not reproduced"
    assert verdict("value", Measured(93.14, 0.15, 92.85, 93.44, n=4), 93.90, 0.235) == "partly reproduced"
    assert verdict("value", Measured(93.60, 0.15, 93.30, 93.90, n=4), 93.90, 0.235, reference=None) == "reproduced"


def test_runs_outside_a_theorems_conditions_do_not_test_it():
    assert verdict("above", Measured(0.2, lo=0.2, hi=0.2, outside="step 128 times the step scale"),
                   reference=1.0) == "conditions not met"
    assert verdict("above", Measured(1.2, lo=1.2, hi=1.2, outside="too narrow"), reference=1.0) == "conditions not met"
    assert verdict("above", Measured(1.2, lo=1.2, hi=1.2), reference=1.0) == "reproduced"


def test_unknown_kind_and_missing_paper_number_are_errors():
    with pytest.raises(ValueError, match="kind"):
        verdict("bigger", Measured(1.0))
    with pytest.raises(ValueError, match="paper's number"):
        verdict("value", Measured(1.0), None)
    with pytest.raises(ValueError, match="reference"):
        verdict("above", Measured(1.0), reference=None)


def test_welch_and_mean_se_against_hand_computed_numbers():
    m = claims.mean_se([1.0, 2.0, 3.0])
    assert m.value == 2.0 and m.se == pytest.approx(1 / math.sqrt(3)) and m.n == 3
    assert m.hi - m.value == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)  # t(0.975, 2) = 4.3027
    w = claims.welch([1.0, 2.0, 3.0], [0.0, 0.0, 3.0])
    assert w.value == pytest.approx(1.0) and w.se == pytest.approx(math.sqrt(1 / 3 + 3 / 3))


def test_read_rejects_a_claim_without_number_or_reason(tmp_path):
    rows = claims.read()
    head = ",".join(claims.COLUMNS)
    bad = tmp_path / "claims.csv"
    bad.write_text(head + "\nk,01_dag_networks,P,Sec. 1,a claim,,,,,value,0,{:.2f},,\n")
    with pytest.raises(ValueError, match="note"):
        claims.read(bad)
    bad.write_text(head + "\nk,01_dag_networks,P,Sec. 1,a claim,1,,,,sideways,0,{:.2f},,\n")
    with pytest.raises(ValueError, match="kind"):
        claims.read(bad)
    bad.write_text(head + "\nk,01_dag_networks,P,Sec. 1,a claim,,,,,above,,{:.2f},a direction,\n")
    with pytest.raises(ValueError, match="reference"):
        claims.read(bad)
    assert len({r["key"] for r in rows}) == len(rows)


def test_every_claim_is_computed_or_says_why_not():
    for r in claims.read():
        assert r["key"] in claims.OURS or r["note"].startswith("not attempted"), r["key"]


def test_paper_numbers_resolve_from_the_cited_tables():
    rows = {r["key"]: r for r in claims.read()}
    p, se = claims.paper_number(rows["effect_cifar10"])
    assert p == pytest.approx(92.98 - 92.81)
    assert se == pytest.approx(math.sqrt((0.78 ** 2 + 0.99 ** 2) / 500))


@pytest.mark.slow
def test_every_row_has_a_verdict_from_the_vocabulary():
    t = claims.table()
    assert len(t) == len(claims.read())
    assert set(t["verdict"]) <= set(claims.VERDICTS)
    assert sum(claims.counts(t).values()) == len(t)
    assert not t[t["verdict"] != "not attempted"]["ours"].isna().any()
    assert np.all(t.loc[t["key"].str.startswith("eq12_paper"), "verdict"] == "reproduced")


@pytest.mark.slow
def test_scorecard_keeps_every_claim_and_says_why_one_was_not_attempted():
    card, t = claims.scorecard(), claims.table()
    assert list(card["verdict"]) == list(t["verdict"])
    skipped = card[card["verdict"] == "not attempted"]
    assert len(skipped) and skipped["claim (source)"].str.contains("needs").all()


def test_summary_of_an_unknown_chapter_is_an_error():
    with pytest.raises(ValueError, match="no claims for chapter"):
        claims.summary("99_nowhere")


def test_claims_read_the_results_of_the_profile_being_executed(monkeypatch):
    """bookrun sets CONVLIB_PROFILE: a smoke run's claims tables read smoke results, not (with the cache
    off) a recompute of the paper-size ones."""
    row = next(r for r in claims.read() if r["key"] in claims.OURS)
    seen = []
    monkeypatch.setitem(claims.OURS, row["key"], lambda profile: seen.append(profile) or claims.exact(1.0))
    monkeypatch.delenv("CONVLIB_PROFILE", raising=False)
    claims.evaluate(row)
    monkeypatch.setenv("CONVLIB_PROFILE", "smoke")
    claims.evaluate(row)
    claims.evaluate(row, "paper")
    assert seen == ["paper", "smoke", "paper"]


def test_chapter_tables_split_the_numbers_from_their_basis_and_keep_every_claim():
    numbers, basis = claims.chapter_tables("01_dag_networks")
    rows = [r for r in claims.read() if r["chapter"] == "01_dag_networks"]
    assert len(numbers.cells) == len(basis.cells) == len(rows)
    assert numbers.columns[0] == "claim" and "verdict" in numbers.columns and "source" not in numbers.columns
    assert basis.columns == ("claim", "source", "note")
    assert [c[0] for c in numbers.cells] == [c[0] for c in basis.cells] == [r["claim"] for r in rows]


@pytest.mark.slow
def test_findings_state_ours_the_papers_and_the_verdict_of_each_claim_named():
    t = claims.table().set_index("key")
    f = claims.findings(["effect_cifar10", "table1"])
    row = t.loc["effect_cifar10"]
    assert f["c_effect_cifar10"] == f"{row['ours']} {row['95% interval']}" and f["p_effect_cifar10"] == row["paper"]
    assert f["v_effect_cifar10"] == row["verdict"] and f["c_table1"] == "–" and f["v_table1"] == "not attempted"
    with pytest.raises(ValueError, match="no claims"):
        claims.findings(["nope"])


def test_search_wins_count_paired_seeds_with_a_sign_test(monkeypatch):
    a = np.array([90.0, 91.0, 92.0, 93.0, 94.0])
    monkeypatch.setattr(claims, "_search_pair", lambda key, profile: (a, a + 1))
    assert claims.search_wins("search_top2", "paper") == "5 of 5 (sign test p = 0.062)"  # 2 / 2^5
    monkeypatch.setattr(claims, "_search_pair", lambda key, profile: (a, a + np.array([1, 1, 1, 0, -1])))
    assert claims.search_wins("search_top2", "paper") == "3 of 5 (sign test p = 0.62)"  # tie left out: 10 / 2^4


def test_depth_sentence_follows_the_verdicts():
    assert claims.depth_sentence({"MNIST": "inconclusive", "CIFAR-10": "reproduced"}) == (
        "deeper DAGs train slower on CIFAR-10, as the depth principle says; MNIST cannot tell")
    assert claims.depth_sentence({"MNIST": "not reproduced", "CIFAR-10": "not reproduced"}) == (
        "deeper DAGs train faster on MNIST and CIFAR-10, against it")


def test_an_order_claim_reads_in_words_without_a_difference(monkeypatch):
    monkeypatch.setitem(claims.OURS, "k", lambda profile: claims.exact(0.0))
    row = dict(zip(claims.COLUMNS, ("k", "03_spectrum_and_convergence", "P", "Sec. 3.3", "an order", "1", "", "", "",
                                    "value", "", claims.ORDER, "", "")))
    out = claims.evaluate(row, "paper")
    assert (out["paper"], out["ours"], out["difference"], out["verdict"]) == (
        "in order", "not in order", None, "not reproduced")


def test_a_tolerance_of_ours_is_not_shown_as_the_papers_number(monkeypatch, tmp_path):
    # the gate law is an identity: the paper prints no line, 2.99 standard errors is ours, and the table says so
    monkeypatch.setitem(claims.OURS, "k", lambda profile: claims.exact(1.4))
    row = dict(zip(claims.COLUMNS, ("k", "07_pr_darts", "P", "Thm. 3", "an identity", "", "", "", "SE", "below", "2.99",
                                    "{:.2f}", "no number: an identity", "tolerance")))
    assert claims.evaluate(row, "paper")["paper"] == "<\u00a02.99 SE (our tolerance)"
    assert claims.evaluate({**row, "reference_is": ""}, "paper")["paper"] == "<\u00a02.99 SE"
    bad = tmp_path / "claims.csv"
    bad.write_text(",".join(claims.COLUMNS) + "\nk,01_dag_networks,P,Sec. 1,a level,1,,,,value,,{:.2f},,tolerance\n")
    with pytest.raises(ValueError, match="reference_is"):
        claims.read(bad)
    tolerances = {r["key"] for r in claims.read() if r["reference_is"] == "tolerance"}
    assert tolerances == {"thm3_gate_law", "remark33_lambda"}


def test_a_spread_read_over_other_than_the_texts_runs_shows_the_texts_verdict_too(monkeypatch):
    # paper 92.98 with sd 0.78: over 500 runs its standard error is 0.035 and 92.80 +- 0.045 is 3.2 of the combined
    # 0.057 away (not reproduced); over 3 runs it is 0.45, and the same number is reproduced
    monkeypatch.setitem(claims.OURS, "k", lambda profile: claims.Measured(92.80, 0.045, n=500))
    row = dict(zip(claims.COLUMNS, ("k", "06_nas_speedup", "P", "Table 2", "a level", "92.98", "0.78", "500", "%",
                                    "value", "", "{:.2f}", "", "")))
    out = claims.evaluate(row, "paper")
    assert out["verdict"] == "not reproduced"
    assert "over the 3 runs of its caption it would be 0.45, and the verdict reproduced" in out["note"]
    assert "caption" not in claims.evaluate({**row, "paper_runs": "3"}, "paper")["note"]


def test_the_principles_order_the_figure3_dags_by_hand():
    # chain: one path of depth 3 (d = 3, m = 1/3); parallel: three paths of depth 1 (d = 1, m = 3); mixed: paths of
    # depth 0, 1, 2, 2 (d = 5/4, m = 3 / (5/4) = 2.4). DAG#2 is shallower and wider than DAG#3: not the paper's order
    m = claims.OURS["fig3_principles_order"]("paper")
    assert m.value == 0.0 and "(3.00, 0.33) / (1.00, 3.00) / (1.25, 2.40)" in m.detail


@pytest.mark.parametrize("unit, kind, ref, shown", [
    ("tau", "below", "0", "Kendall τ < 0"), ("rho", "above", "0", "Spearman ρ > 0"), ("ratio", "above", "1", "ratio > 1"),
    ("points", "above", "0", "> 0 points"), ("e-folds", "above", "0", "> 0 e-folds"), ("skips", "above", "1.25",
    "> 1.25 skips"), ("loss", "above", "0", "loss difference > 0"), ("", "above", "0", "> 0")])
def test_the_paper_column_says_what_a_claimed_line_is_a_line_of(monkeypatch, unit, kind, ref, shown):
    # "> 0" alone does not say whether the interval is of a correlation, a difference or a ratio
    monkeypatch.setitem(claims.OURS, "k", lambda profile: claims.exact(0.5))
    row = dict(zip(claims.COLUMNS, ("k", "05_dag_experiments", "P", "Fig. 3", "a direction", "", "", "", unit, kind,
                                    ref, "{:.2f}", "", "")))
    got = claims.evaluate(row, "paper")["paper"]
    # the relation and its number are joined by a no-break space: a narrow column never parts them
    assert got.replace("\u00a0", " ") == shown and {"above": ">", "below": "<"}[kind] + "\u00a0" + ref in got
    units = {r["unit"] for r in claims.read() if r["kind"] != "value"}
    assert units <= set(claims.LINE_OF) | {"points", "e-folds", "SE", "per step", "skips"}, units
