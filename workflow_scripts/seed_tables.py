"""results/<model>/seeds.csv, aggregate.csv, significance.csv and stability.csv: every
metric per seed, their spread and pooled interval, per-seed and pooled paired tests, and
how many seeds of each fine-tune got each question right (docs/metrics.md)."""
from bibleft import replicates
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, read_runs, write_text
from bibleft.tables import rows_to_csv


def main(smk):
    base = read_jsonl(smk.input.base)
    runs = read_runs(smk.params.tuned_runs, smk.input.tuned)
    judge_settings = dict(smk.params.judging)  # score: ignore_case, alternatives, f1_threshold
    seeds = replicates.seed_rows(base, runs, **judge_settings)
    aggregate = replicates.aggregate_rows(seeds)
    write_text(smk.output.seeds, rows_to_csv(seeds, replicates.SEED_COLUMNS))
    write_text(smk.output.aggregate, rows_to_csv(aggregate, replicates.AGGREGATE_COLUMNS))
    write_text(smk.output.significance,
               rows_to_csv(replicates.replicate_significance_rows(base, runs, **judge_settings),
                           replicates.REPLICATE_SIGNIFICANCE_COLUMNS))
    write_text(smk.output.stability,
               rows_to_csv(replicates.stability_rows(base, runs),
                           replicates.stability_columns(replicates.methods_of(runs))))
    print(rows_to_csv([r for r in aggregate if r["metric"] == "lenient"], replicates.AGGREGATE_COLUMNS))


run_step(snakemake, main)  # noqa: F821
