"""The study's results table, per setting, pooled over seeds (with one seed: that run's
counts).

Reads the base model's predictions (`base`: results/<model>/base/predictions/base.jsonl;
a setting that answers another question set, `questions/<setting>/base`:
results/<model>/base/questions/<set>/predictions/base.jsonl, openbook.closed_bases)
and every fine-tune's (named by its FineTune.key, <setting>/seed<seed>/<method>:
results/<model>/<setting>/seed<seed>/predictions/<method>.jsonl) and, open book, their
open-book predictions (openbook.read_open_book: .../open/<book>/predictions/); writes
results/<model>/accuracy.csv (`csv`) and accuracy.md (`md`).
params.options: {fine_tunes: [FineTune.as_dict(), ...]} in grid order.
"""
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_text
from bibleft.grid import fine_tunes_from
from bibleft.openbook import accuracy_rows, closed_bases, read_open_book
from bibleft.replicates import ACCURACY_COLUMNS, accuracy_markdown
from bibleft.tableio import rows_to_csv


def main(smk):
    fine_tunes = fine_tunes_from(smk.params.options["fine_tunes"])
    runs = {ft: read_jsonl(smk.input[ft.key]) for ft in fine_tunes}
    rows = accuracy_rows(closed_bases(smk.input, fine_tunes, read_jsonl), runs,
                         read_open_book(smk.input, fine_tunes, read_jsonl))
    write_text(smk.output.csv, rows_to_csv(rows, ACCURACY_COLUMNS))
    write_text(smk.output.md, accuracy_markdown(rows, smk.wildcards.model))
    print(rows_to_csv(rows, ACCURACY_COLUMNS))


run_step(snakemake, main)  # noqa: F821
