"""Every metric per seed, their spread and pooled interval, per-seed and pooled paired
tests, and how many seeds of each fine-tune got each question right (docs/metrics.md).

Reads the base model's predictions (`base`: results/<model>/base/predictions/base.jsonl;
a setting that answers another question set, `questions/<setting>/base`:
results/<model>/base/questions/<set>/predictions/base.jsonl, openbook.closed_bases)
and every fine-tune's (named by its FineTune.key, <setting>/seed<seed>/<method>:
results/<model>/<setting>/seed<seed>/predictions/<method>.jsonl) and, open book, their
open-book predictions (openbook.read_open_book: .../open/<book>/predictions/); writes
results/<model>/seeds.csv, aggregate.csv, significance.csv and stability.csv, open book's
rows after closed book's.
params.options: {fine_tunes: [FineTune.as_dict(), ...] in grid order, judge:
options.JudgeOptions (the config's `judge:`)}.
"""
from bibleft import openbook, replicates
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_text
from bibleft.grid import fine_tunes_from
from bibleft.options import JudgeOptions
from bibleft.tableio import rows_to_csv


def main(smk):
    options = smk.params.options
    fine_tunes = fine_tunes_from(options["fine_tunes"])
    judge = JudgeOptions.from_dict(options["judge"], "params.options.judge").as_dict()
    base = openbook.closed_bases(smk.input, fine_tunes, read_jsonl)
    runs = {ft: read_jsonl(smk.input[ft.key]) for ft in fine_tunes}
    open_book = openbook.read_open_book(smk.input, fine_tunes, read_jsonl)
    seeds = openbook.seed_rows(base, runs, open_book, **judge)
    aggregate = replicates.aggregate_rows(seeds)
    write_text(smk.output.seeds, rows_to_csv(seeds, replicates.SEED_COLUMNS))
    write_text(smk.output.aggregate, rows_to_csv(aggregate, replicates.AGGREGATE_COLUMNS))
    write_text(smk.output.significance,
               rows_to_csv(openbook.significance_rows(base, runs, open_book, **judge),
                           replicates.REPLICATE_SIGNIFICANCE_COLUMNS))
    write_text(smk.output.stability,
               rows_to_csv(openbook.stability_rows(base, runs, open_book),
                           openbook.stability_columns(runs, open_book)))
    print(rows_to_csv([r for r in aggregate if r["metric"] == "lenient"], replicates.AGGREGATE_COLUMNS))


run_step(snakemake, main)  # noqa: F821
