"""results/<model>/scores.csv, significance.csv and audit.csv: every metric, its Wilson
interval, paired tests between the variants, and the questions any variant got right."""
from bibleft import metrics
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_text
from bibleft.report import VARIANTS, rows_to_csv


def main(smk):
    predictions = {v: read_jsonl(smk.input[v]) for v in VARIANTS}
    judged = metrics.judge_predictions(predictions, ignore_case=smk.params.ignore_case,
                                       alternatives=smk.params.alternatives,
                                       f1_threshold=smk.params.f1_threshold)
    scores = metrics.score_rows(judged)
    write_text(smk.output.scores, rows_to_csv(scores, metrics.SCORE_COLUMNS))
    write_text(smk.output.significance,
               rows_to_csv(metrics.significance_rows(judged), metrics.SIGNIFICANCE_COLUMNS))
    audit = metrics.audit_rows(predictions, judged, smk.params.alternatives)
    write_text(smk.output.audit, rows_to_csv(audit, metrics.audit_columns(VARIANTS)))
    print(rows_to_csv(scores, metrics.SCORE_COLUMNS))
    print(f"{len(audit)} questions right in some variant under some metric")


run_step(snakemake, main)  # noqa: F821
