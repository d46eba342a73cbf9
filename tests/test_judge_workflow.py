"""The judging rules and the HTML report on the finished tiny run, whose answers hold a
few planted responses (workflow_helpers.PLANTED): a tiny random GPT-2 answers nothing
right, which would leave every count at 0 and every test trivially at p = 1."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bibleft import judging
from bibleft.fileio import read_jsonl
from bibleft.prompts import PAPER_PROMPT, build_prompt
import reference_stats
from workflow_helpers import (TINY_MODEL, own_copy_of_run, planned_jobs, run_file, shared_run_config,
                              snakemake, with_overlay, write_config)

pytestmark = pytest.mark.e2e  # runs the workflow through the snakemake CLI

MODEL = TINY_MODEL
VARIANTS = ("base", "full", "lora")


@pytest.fixture
def run(tiny_run):
    """The finished tiny run with its planted responses (workflow_helpers.PLANTED)."""
    return tiny_run


def variant_file(project: Path, kind: str, variant: str) -> Path:
    """The base model's files are in results/<model>/base/, the fine-tunes' in their run's."""
    return run_file(project, kind, variant)


def results(run) -> Path:
    """The folder of the one run's judging tables (one setting, one seed)."""
    return run["project"] / "results" / MODEL / "paper" / "seed42"


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def predictions(run) -> dict[str, list[dict]]:
    return {v: read_jsonl(variant_file(run["project"], "predictions", v)) for v in VARIANTS}


def recount(run) -> dict[str, dict[str, list[bool]]]:
    """Verdicts per metric and variant, judged record by record from the prediction files."""
    out = {m: {} for m in judging.METRICS}
    for variant, records in predictions(run).items():
        judged = [judging.judge(r["answer"], r["response"]) for r in records]
        for m in judging.METRICS:
            out[m][variant] = [v[m] for v, _ in judged]
    return out


def test_scores_recount_the_prediction_files(run):
    rows = read_csv(results(run) / "scores.csv")
    assert list(rows[0]) == ["metric", "variant", "correct", "total", "accuracy_pct",
                             "ci_low_pct", "ci_high_pct"]
    table = {(r["metric"], r["variant"]): r for r in rows}
    assert set(table) == {(m, v) for m in judging.METRICS for v in (*VARIANTS, "union")}
    preds = predictions(run)
    total = len(preds["base"])
    # lenient must agree with the `correct` flags the study's scoring rule wrote.
    for variant, records in preds.items():
        assert int(table["lenient", variant]["correct"]) == sum(r["correct"] for r in records)
    assert [int(table["lenient", v]["correct"]) for v in VARIANTS] == [3, 1, 2]
    for metric, by_variant in recount(run).items():
        union = [any(x) for x in zip(*by_variant.values())]
        for variant, verdicts in [*by_variant.items(), ("union", union)]:
            row = table[metric, variant]
            assert int(row["correct"]) == sum(verdicts) and int(row["total"]) == total
            assert float(row["accuracy_pct"]) == pytest.approx(100 * sum(verdicts) / total, abs=1e-3)
            assert float(row["ci_low_pct"]) <= float(row["accuracy_pct"]) <= float(row["ci_high_pct"])
    # The planted "mount of Sinai" is right only by token F1; "A rib" only once normalized.
    assert int(table["token_f1", "base"]["correct"]) > int(table["exact_match", "base"]["correct"])


def test_significance_matches_a_hand_binomial(run):
    rows = read_csv(results(run) / "significance.csv")
    assert list(rows[0])[:6] == ["metric", "a", "b", "test", "statistic", "p_value"]
    verdicts = recount(run)
    for row in rows:
        p = float(row["p_value"])
        assert 0.0 <= p <= 1.0
        if row["test"] != "mcnemar_exact":
            assert row["test"] == "cochrans_q_df2" and row["a"] == row["b"] == ""
            continue
        a, b = verdicts[row["metric"]][row["a"]], verdicts[row["metric"]][row["b"]]
        only_a = sum(x and not y for x, y in zip(a, b))
        only_b = sum(y and not x for x, y in zip(a, b))
        assert (int(row["a_only"]), int(row["b_only"])) == (only_a, only_b)
        assert p == pytest.approx(reference_stats.mcnemar_exact_p(only_a, only_b), rel=1e-5)
    lenient = {(r["a"], r["b"]): r for r in rows if r["metric"] == "lenient"}
    # base alone right on Eden and Sarah, full alone on nothing: 2 * (1/2)^2 = 0.5.
    assert (lenient["base", "full"]["a_only"], lenient["base", "full"]["b_only"]) == ("2", "0")
    assert float(lenient["base", "full"]["p_value"]) == 0.5


def test_audit_lists_exactly_the_questions_right_somewhere(run):
    rows = read_csv(results(run) / "audit.csv")
    preds = predictions(run)
    verdicts = recount(run)
    ids = [r["id"] for r in preds["base"]]
    expected = [qid for i, qid in enumerate(ids)
                if any(verdicts[m][v][i] for m in judging.METRICS for v in VARIANTS)]
    assert [int(r["id"]) for r in rows] == expected
    assert set(expected) >= {1, 2, 5, 11, 15, 66, 177}
    by_id = {int(r["id"]): r for r in rows}
    for variant in VARIANTS:
        assert by_id[1][f"response_{variant}"] == next(r["response"] for r in preds[variant] if r["id"] == 1)
    assert by_id[177]["token_f1_base"] == "1" and by_id[177]["lenient_base"] == "0"
    assert by_id[15]["lenient_lora"] == "1" and by_id[15]["first_line_lora"] == "0"


def test_figures_and_report(run):
    png = (results(run) / "accuracy_bars.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    report = (run["project"] / "report.html").read_text(encoding="utf-8")
    for name in ("scores.csv", "significance.csv", "audit.csv", "accuracy_bars.png",
                 "accuracy.csv", "venn.png", "loss.png", "timing.csv", "seeds.csv", "aggregate.csv",
                 "stability.csv"):
        assert name in report, name
    # The captions say what each table shows (report/*.rst, rendered into the page).
    for caption in ("Paired significance tests", "the study's manual inspection",
                    "95% Wilson intervals as error bars"):
        assert caption in report, caption
    # The front page (report/workflow.rst): the study, and this run's settings rendered from
    # its config (the tiny overlay's model, steps and seeds, the shipped prompt's examples).
    for text in ("Fine-tuning on pre-training data: the BibleQA study, reproduced",
                 "Gronberg (2024)", "Where to look first", "no cross-model summary",
                 "): 42, 43. Each seed is its own pair of fine-tunes",
                 "epochs 1, learning rate 5e-05, batch size 4, at most 6 steps",
                 "r = 8, alpha = 8", "at most 15 new tokens",
                 "answer.chat_template: false", "Q: Where was Jesus born?",
                 "the rows with seed"):
        assert text in report, text
    assert str(run["model_dir"]) in report  # the model's source, from the config overlay


def test_generations_record_the_prompt_sent(run):
    # answer.chat_template: false (shipped): the study's prompt with the question in it. The
    # prompt stays in generations/; predictions keep their documented fields.
    for variant in VARIANTS:
        for record in read_jsonl(variant_file(run["project"], "generations", variant)):
            assert record["prompt"] == build_prompt(PAPER_PROMPT, record["question"])
    assert not any("prompt" in r for records in predictions(run).values() for r in records)


def test_summary_over_run_models(run, tmp_path):
    run = own_copy_of_run(run, tmp_path / "project")  # a real run: not on the one others read
    snakemake(run["project"], "results/summary.csv", "results/summary.png", "--cores", "1",
              *with_overlay(run["config"]))
    rows = read_csv(run["project"] / "results/summary.csv")
    aggregate = read_csv(run["project"] / "results" / MODEL / "aggregate.csv")
    assert rows == [{"model": MODEL, "params_millions": "4", **r} for r in aggregate]
    assert (run["project"] / "results/summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A report holding the summary sends the reader to it first, by a link to its category.
    snakemake(run["project"], "results/summary.csv", "results/summary.png", *with_overlay(run["config"]),
              "--report", "summary_report.html")
    report = (run["project"] / "summary_report.html").read_text(encoding="utf-8")
    assert "Start with the cross-model summary" in report and "no cross-model summary" not in report
    assert "app.showCategory('Across%20models')" in report


def test_a_metric_setting_rescores_without_regenerating(run, tmp_path):
    overlay = write_config(tmp_path / "alt.yaml", shared_run_config(
        run["model_dir"], run["bibleqa"], **{"judge.alternatives": True, "judge.f1_threshold": 0.9}))
    planned = planned_jobs(run["project"], *with_overlay(overlay))
    assert "judge_predictions" in planned
    assert not {"generate_answers", "score_predictions", "finetune"} & set(planned)
