"""Every metric, its Wilson interval, paired tests between the variants, and the questions
any variant got right, for one (model, setting, seed).

Reads the run's answer sets' predictions by variant, mode by mode (dag.Plan.run_inputs):
`base` (results/<model>/base/<questions>/closed/predictions/base.jsonl), `full` and `lora`
(results/<model>/<setting>/seed<seed>/<questions>/closed/predictions/<method>.jsonl) and,
open book, `base_open`, `full_open` and `lora_open` (the same under open-<book>/), and the run's
question set's held-out split (`split/<questions>`, if it has one: each table per part,
`part` its first column); writes results/<model>/<setting>/seed<seed>/scores.csv,
significance.csv and audit.csv. params.options: config.JudgeOptions (the config's
`judge:`).
"""
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_text
from bibleft.judging import judge_predictions
from bibleft.config import JudgeOptions
from bibleft.panels import part_rows, split_parts
from bibleft.scores import (SCORE_COLUMNS, SIGNIFICANCE_COLUMNS, audit_columns, audit_rows,
                            score_rows, significance_rows)
from bibleft.tableio import rows_to_csv


def main(smk):
    options = JudgeOptions.from_dict(smk.params.options)
    predictions = {name: read_jsonl(path) for name, path in smk.input.items()
                   if not name.startswith("split/")}
    parts = split_parts(smk.input)
    lead = ["part"] if parts else []

    def judged(chosen):
        return judge_predictions(chosen, **options.as_dict())

    scores_csv = rows_to_csv(part_rows(lambda p: score_rows(judged(p)), predictions, parts),
                             lead + SCORE_COLUMNS)
    write_text(smk.output.scores, scores_csv)
    write_text(smk.output.significance, rows_to_csv(
        part_rows(lambda p: significance_rows(judged(p)), predictions, parts),
        lead + SIGNIFICANCE_COLUMNS))
    audit = part_rows(lambda p: audit_rows(p, judged(p), options.alternatives), predictions, parts)
    write_text(smk.output.audit, rows_to_csv(audit, lead + audit_columns(list(predictions))))
    print(scores_csv)
    print(f"{len(audit)} questions right in some variant under some metric")


run_step(snakemake, main)  # noqa: F821
