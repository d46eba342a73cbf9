"""results/<model>/scores.csv, significance.csv and audit.csv: every metric, its Wilson
interval, paired tests between the variants, and the questions any variant got right."""
from bibleft import tables
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_text
from bibleft.judging import judge_predictions


def main(smk):
    variants = smk.params.variants
    predictions = {v: read_jsonl(smk.input[v]) for v in variants}
    judged = judge_predictions(predictions, **smk.params.judging)
    scores_csv = tables.rows_to_csv(tables.score_rows(judged), tables.SCORE_COLUMNS)
    write_text(smk.output.scores, scores_csv)
    write_text(smk.output.significance,
               tables.rows_to_csv(tables.significance_rows(judged), tables.SIGNIFICANCE_COLUMNS))
    audit = tables.audit_rows(predictions, judged, smk.params.judging["alternatives"])
    write_text(smk.output.audit, tables.rows_to_csv(audit, tables.audit_columns(variants)))
    print(scores_csv)
    print(f"{len(audit)} questions right in some variant under some metric")


run_step(snakemake, main)  # noqa: F821
