"""Every metric per seed, their spread and pooled interval, per-seed and pooled paired
tests, and how many seeds of each fine-tune got each question right (docs/metrics.md),
mode by mode.

Reads every answer set of the model's grid and its base model's (params.options.answer_sets,
inputs named by their keys as accuracy_table's, and `split/<questions>`, a question set's
held-out split); writes results/<model>/seeds.csv, aggregate.csv, significance.csv and
stability.csv, other modes' rows after closed book's (with a split, each part's: `part`).
params.options: {answer_sets: [...], settings: {...}, judge: config.JudgeOptions}.
"""
from bibleft import panels, replicates
from bibleft.config import JudgeOptions
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_text
from bibleft.grid import AnswerSet
from bibleft.tableio import rows_to_csv


def main(smk):
    options = smk.params.options
    answer_sets = [AnswerSet.from_dict(a) for a in options["answer_sets"]]
    judge = JudgeOptions.from_dict(options["judge"]).as_dict()
    read = panels.read_panels(smk.input, answer_sets, read_jsonl)
    seeds = panels.seed_rows(read, **judge)
    aggregate = replicates.aggregate_rows(seeds)
    aggregate_columns = panels.with_part(replicates.AGGREGATE_COLUMNS, read)
    write_text(smk.output.seeds, rows_to_csv(seeds, panels.with_part(replicates.SEED_COLUMNS, read)))
    write_text(smk.output.aggregate, rows_to_csv(aggregate, aggregate_columns))
    write_text(smk.output.significance, rows_to_csv(
        panels.significance_rows(read, **judge),
        panels.with_part(replicates.REPLICATE_SIGNIFICANCE_COLUMNS, read)))
    write_text(smk.output.stability, rows_to_csv(panels.stability_rows(read),
                                                 panels.stability_columns(read)))
    print(rows_to_csv([r for r in aggregate if r["metric"] == "lenient"], aggregate_columns))


run_step(snakemake, main)  # noqa: F821
