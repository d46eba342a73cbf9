"""Every metric per seed, their spread and pooled interval, per-seed and pooled paired
tests, and how many seeds of each fine-tune got each question right (docs/metrics.md).

Reads the base model's predictions (`base`: results/<model>/base/predictions/base.jsonl)
and every fine-tune's (named by its FineTune.key, <setting>/seed<seed>/<method>:
results/<model>/<setting>/seed<seed>/predictions/<method>.jsonl); writes
results/<model>/seeds.csv, aggregate.csv, significance.csv and stability.csv.
params.options: {fine_tunes: [FineTune.as_dict(), ...] in grid order, judge:
options.JudgeOptions (the config's `score:`)}.
"""
from bibleft import replicates
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_text
from bibleft.grid import fine_tunes_from
from bibleft.options import JudgeOptions
from bibleft.tableio import rows_to_csv


def main(smk):
    options = smk.params.options
    fine_tunes = fine_tunes_from(options["fine_tunes"])
    judge = JudgeOptions.from_dict(options["judge"], "params.options.judge").as_dict()
    base = read_jsonl(smk.input.base)
    runs = {ft: read_jsonl(smk.input[ft.key]) for ft in fine_tunes}
    seeds = replicates.seed_rows(base, runs, **judge)
    aggregate = replicates.aggregate_rows(seeds)
    write_text(smk.output.seeds, rows_to_csv(seeds, replicates.SEED_COLUMNS))
    write_text(smk.output.aggregate, rows_to_csv(aggregate, replicates.AGGREGATE_COLUMNS))
    write_text(smk.output.significance,
               rows_to_csv(replicates.replicate_significance_rows(base, runs, **judge),
                           replicates.REPLICATE_SIGNIFICANCE_COLUMNS))
    write_text(smk.output.stability,
               rows_to_csv(replicates.stability_rows(base, runs),
                           replicates.stability_columns(replicates.methods_of(runs))))
    print(rows_to_csv([r for r in aggregate if r["metric"] == "lenient"], replicates.AGGREGATE_COLUMNS))


run_step(snakemake, main)  # noqa: F821
