"""The knowledge-probe tables (bibleft.probe_tables) and figure: probes.csv's
token-weighted means, the paired tests of probes_significance.csv (Wilcoxon checked against
scipy and against a p-value enumerated by hand), and probes.png."""

from __future__ import annotations

import csv
import io
import math
import random
from itertools import product

import pytest
from scipy.stats import wilcoxon

from bibleft import probe_tables, stats
from bibleft.errors import InputError
from bibleft.figures import plot_probes
from bibleft.scores import SIGNIFICANCE_COLUMNS
from bibleft.tableio import rows_to_csv

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def nll_record(reference: str, nll: float | None, n_tokens: int, text: str = "asv",
               split: str = "seen") -> dict:
    return {"probe": "nll", "text": text, "split": split, "reference": reference,
            "context": "", "target": "words", "n_tokens": n_tokens, "nll": nll}


def recall_record(reference: str, exact: bool, f1: float, split: str = "seen") -> dict:
    return {"probe": "recall", "text": "asv", "split": split, "reference": reference,
            "context": "In the beginning", "target": "God created", "n_tokens": None,
            "nll": None, "continuation": "God created" if exact else "the", "exact": exact,
            "token_f1": f1}


def variant_records(seen_nll: tuple[float, float], unseen_nll: float, exact: tuple[bool, ...],
                    f1: tuple[float, ...]) -> list[dict]:
    """One variant's probe file, three groups: nll asv/seen on Genesis 1:1 (2 tokens), 1:2
    (1 token) and 1:3 (no scored token), nll kjv/unseen on John 3:16 (3 tokens), recall
    asv/seen on Genesis 1:1 to 1:4."""
    return [nll_record("Genesis 1:1", seen_nll[0], 2), nll_record("Genesis 1:2", seen_nll[1], 1),
            nll_record("Genesis 1:3", None, 0),
            nll_record("John 3:16", unseen_nll, 3, text="kjv", split="unseen"),
            *(recall_record(f"Genesis 1:{i + 1}", right, value)
              for i, (right, value) in enumerate(zip(exact, f1, strict=True)))]


def probe_records() -> dict[str, list[dict]]:
    return {"base": variant_records((8.0, 1.0), 6.0, (True, False, False, True),
                                    (1.0, 0.5, 0.0, 1.0)),
            "full": variant_records((2.0, 0.5), 9.0, (False, False, False, False),
                                    (0.0, 0.0, 0.0, 0.5))}


def test_probe_rows_are_token_weighted_and_in_order():
    rows = probe_tables.probe_rows(probe_records())
    assert [(r["probe"], r["text"], r["split"], r["variant"]) for r in rows] == [
        ("nll", "asv", "seen", "base"), ("nll", "asv", "seen", "full"),
        ("nll", "kjv", "unseen", "base"), ("nll", "kjv", "unseen", "full"),
        ("recall", "asv", "seen", "base"), ("recall", "asv", "seen", "full")]
    assert all(list(r) == probe_tables.PROBE_COLUMNS for r in rows)
    base_seen = rows[0]
    # (8 + 1) / (2 + 1) tokens = 3, not the mean of per-example means (4 + 1) / 2 = 2.5;
    # Genesis 1:3 has no scored token and counts nowhere.
    assert base_seen["n"] == 2 and base_seen["mean_nll"] == 3.0
    assert base_seen["perplexity"] == round(math.exp(3.0), 3) == 20.086
    assert (base_seen["exact_match"], base_seen["token_f1"]) == ("", "")
    assert rows[1]["mean_nll"] == round(2.5 / 3, 4)
    assert rows[1]["perplexity"] == round(math.exp(2.5 / 3), 3)
    assert (rows[3]["n"], rows[3]["mean_nll"]) == (1, 3.0)
    recall_base, recall_full = rows[4], rows[5]
    assert (recall_base["n"], recall_base["exact_match"], recall_base["token_f1"]) \
        == (4, 50.0, 0.625)
    assert (recall_full["exact_match"], recall_full["token_f1"]) == (0.0, 0.125)
    assert (recall_base["mean_nll"], recall_base["perplexity"]) == ("", "")
    header = rows_to_csv(rows, probe_tables.PROBE_COLUMNS).splitlines()[0]
    assert header == "probe,text,split,variant,n,mean_nll,perplexity,exact_match,token_f1"


def test_a_group_with_no_scored_token_has_no_mean():
    records = {v: [nll_record("Genesis 1:1", None, 0)] for v in ("base", "full")}
    row = probe_tables.probe_rows(records)[0]
    assert (row["n"], row["mean_nll"], row["perplexity"]) == (0, "", "")
    sig = probe_tables.probe_significance_rows(records)[0]
    assert (sig["statistic"], sig["p_value"], sig["a_only"], sig["b_only"]) == ("0", "1", 0, 0)


@pytest.mark.parametrize("change, where", [
    ("reference", "record 2 is ('nll', 'asv', 'seen', 'Genesis 2:1'), "
                  "not ('nll', 'asv', 'seen', 'Genesis 1:2')"),
    ("order", "record 1 is ('nll', 'asv', 'seen', 'Genesis 1:2'), "
              "not ('nll', 'asv', 'seen', 'Genesis 1:1')"),
    ("missing", "7 records, not 8"),
])
def test_variants_with_other_examples_are_named(change, where):
    records = probe_records()
    lora = [dict(r) for r in records["base"]]
    if change == "reference":
        lora[1]["reference"] = "Genesis 2:1"
    elif change == "order":
        lora[0], lora[1] = lora[1], lora[0]
    else:
        lora.pop()
    records["lora"] = lora
    for build in (probe_tables.probe_rows, probe_tables.probe_significance_rows):
        with pytest.raises(InputError,
                           match="probes of lora and base cover different examples") as err:
            build(records)
        assert "\n" not in str(err.value) and f"({where})" in str(err.value)


@pytest.mark.parametrize("record, message", [
    ({"probe": "nll", "text": "asv", "split": "seen"}, "no 'reference' key"),
    (nll_record("Genesis 1:1", None, 2), "'nll' is None"),
    (nll_record("Genesis 1:1", 1.0, -1), "'n_tokens' is -1"),
    ({**recall_record("Genesis 1:1", True, 1.0), "exact": 1}, "'exact' is 1"),
    ({**nll_record("Genesis 1:1", 1.0, 1), "probe": "cloze"},
     "probe 'cloze' is neither 'nll' nor 'recall'"),
])
def test_bad_records_are_named(record, message):
    records = {"base": [nll_record("Genesis 1:1", 1.0, 1)], "full": [record]}
    with pytest.raises(InputError, match=f"probes of full, record 1: {message}"):
        probe_tables.probe_rows(records)


def test_no_records_is_an_input_error():
    with pytest.raises(InputError, match="probes of full: no records"):
        probe_tables.probe_rows({"base": [nll_record("Genesis 1:1", 1.0, 1)], "full": []})


# --- the Wilcoxon signed-rank test -------------------------------------------------------

def enumerated_p(differences: list[float]) -> float:
    """Two-sided exact p of the signed-rank test on distinct nonzero |differences|: the
    share of the 2^n sign patterns whose min(W+, W-) is at most the observed one."""
    magnitudes = sorted(abs(d) for d in differences)
    ranks = {m: i + 1 for i, m in enumerate(magnitudes)}
    w_plus = sum(ranks[abs(d)] for d in differences if d > 0)
    total = len(differences) * (len(differences) + 1) // 2
    observed = min(w_plus, total - w_plus)
    hits = 0
    for signs in product((False, True), repeat=len(differences)):
        w = sum(rank for rank, positive in zip(range(1, len(differences) + 1), signs) if positive)
        hits += min(w, total - w) <= observed
    return hits / 2 ** len(differences)


def test_wilcoxon_by_hand():
    # Ranks 1..5, only the largest negative: W- = 5, W+ = 10. The subsets of {1..5} summing
    # to at most 5 are {}, {1}, ..., {5}, {1,2}, {1,3}, {1,4}, {2,3}: 10 of 32 sign
    # patterns per tail, p = 2 * 10 / 32.
    assert stats.wilcoxon_signed_rank([1, 2, 3, 4, -5]) == (5.0, 0.625)
    assert enumerated_p([1, 2, 3, 4, -5]) == 0.625
    # Zero differences are dropped first: the same test.
    assert stats.wilcoxon_signed_rank([0.0, 1, 0.0, 2, 3, 4, -5]) == (5.0, 0.625)
    # All positive: only the all-plus and all-minus patterns are as extreme, p = 2 / 2^6.
    assert stats.wilcoxon_signed_rank([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) == (0.0, 2 / 64)


@pytest.mark.parametrize("seed", range(6))
def test_wilcoxon_is_the_enumeration_on_small_samples(seed):
    rng = random.Random(seed)
    differences = [rng.choice((-1, 1)) * (k + rng.random() / 2) for k in range(1, 4 + seed)]
    statistic, p = stats.wilcoxon_signed_rank(differences)
    assert p == pytest.approx(enumerated_p(differences), rel=1e-12)


@pytest.mark.parametrize("n, shift", [(8, 0.3), (30, 0.0), (50, 0.2), (200, 0.1), (886, 0.05)])
def test_wilcoxon_is_scipys(n, shift):
    rng = random.Random(n)
    differences = [rng.gauss(shift, 1.0) for _ in range(n)]
    expected = wilcoxon(differences, zero_method="wilcox", alternative="two-sided")
    assert stats.wilcoxon_signed_rank(differences) == (float(expected.statistic),
                                                        float(expected.pvalue))


@pytest.mark.parametrize("differences", [[], [0.0], [0.0, 0.0, 0.0]])
def test_wilcoxon_without_a_nonzero_difference_finds_nothing(differences):
    assert stats.wilcoxon_signed_rank(differences) == (0.0, 1.0)


def test_wilcoxon_rejects_missing_values():
    with pytest.raises(ValueError, match="finite"):
        stats.wilcoxon_signed_rank([1.0, math.nan])


# --- probes_significance.csv -------------------------------------------------------------

def test_probe_significance_rows():
    records = probe_records()
    rows = {(r["metric"], r["test"]): r for r in probe_tables.probe_significance_rows(records)}
    assert list(rows) == [("nll/asv/seen", "wilcoxon_signed_rank"),
                          ("nll/kjv/unseen", "wilcoxon_signed_rank"),
                          ("recall/asv/seen", "mcnemar_exact"),
                          ("recall/asv/seen", "cochrans_q_df1")]
    assert all(list(r) == SIGNIFICANCE_COLUMNS for r in rows.values())
    seen = rows["nll/asv/seen", "wilcoxon_signed_rank"]
    # Per token, base 4 and 1, full 1 and 0.5: full is lower on both scored verses.
    statistic, p = stats.wilcoxon_signed_rank([4 - 1, 1 - 0.5])
    assert (seen["a"], seen["b"], seen["a_only"], seen["b_only"]) == ("base", "full", 0, 2)
    assert (seen["statistic"], seen["p_value"]) == (f"{statistic:.6g}", f"{p:.6g}") == ("0", "0.5")
    unseen = rows["nll/kjv/unseen", "wilcoxon_signed_rank"]
    assert (unseen["a_only"], unseen["b_only"]) == (1, 0)
    recall = rows["recall/asv/seen", "mcnemar_exact"]
    # Base alone recalled Genesis 1:1 and 1:4: exact McNemar on 2 vs 0, p = 2 / 4.
    assert (recall["a_only"], recall["b_only"], recall["statistic"], recall["p_value"]) \
        == (2, 0, 0, "0.5")
    assert float(recall["p_value"]) == stats.mcnemar_exact_p(2, 0)


def test_probe_significance_pairs_every_variant():
    records = probe_records()
    records["lora"] = [dict(r) for r in records["base"]]
    rows = probe_tables.probe_significance_rows(records)
    pairs = [(r["a"], r["b"]) for r in rows if r["metric"] == "nll/asv/seen"]
    assert pairs == [("base", "full"), ("base", "lora"), ("full", "lora")]
    identical = next(r for r in rows if r["metric"] == "nll/asv/seen" and r["b"] == "lora"
                     and r["a"] == "base")
    assert (identical["p_value"], identical["a_only"], identical["b_only"]) == ("1", 0, 0)


# --- probes.png --------------------------------------------------------------------------

def as_read_back(rows: list[dict]) -> list[dict]:
    """The rows as a later reader of probes.csv sees them: every cell a string."""
    return list(csv.DictReader(io.StringIO(rows_to_csv(rows, probe_tables.PROBE_COLUMNS))))


@pytest.mark.parametrize("with_recall", [True, False])
def test_plot_probes_writes_a_png(tmp_path, with_recall):
    records = probe_records()
    if not with_recall:
        records = {v: [r for r in rs if r["probe"] == "nll"] for v, rs in records.items()}
    rows = probe_tables.probe_rows(records)
    for name, table in (("direct", rows), ("read_back", as_read_back(rows))):
        path = tmp_path / f"{name}.png"
        plot_probes(table, "Knowledge probes: tiny", path)
        assert path.read_bytes()[:8] == PNG_MAGIC
