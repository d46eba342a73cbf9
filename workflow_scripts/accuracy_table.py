"""The study's results table, per setting, pooled over seeds (with one seed: that run's
counts), mode by mode.

Reads every answer set of the model's grid and its base model's (params.options.answer_sets,
grid.AnswerSet: each input is named by its key, e.g. paper/seed42/full/bibleqa/closed:
results/<model>/paper/seed42/bibleqa/closed/predictions/full.jsonl; and `split/<questions>`,
a question set's held-out split, whose parts each get their rows); writes
results/<model>/accuracy.csv (`csv`) and accuracy.md (`md`).
params.options: {answer_sets: [AnswerSet.as_dict(), ...] mode by mode in grid order,
settings: {setting: its corpus and question set}}.
"""
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_text
from bibleft.grid import AnswerSet
from bibleft.panels import accuracy_rows, read_panels, with_part
from bibleft.replicates import ACCURACY_COLUMNS, accuracy_markdown
from bibleft.tableio import rows_to_csv


def main(smk):
    answer_sets = [AnswerSet.from_dict(a) for a in smk.params.options["answer_sets"]]
    panels = read_panels(smk.input, answer_sets, read_jsonl)
    rows, columns = accuracy_rows(panels), with_part(ACCURACY_COLUMNS, panels)
    write_text(smk.output.csv, rows_to_csv(rows, columns))
    write_text(smk.output.md, accuracy_markdown(rows, smk.wildcards.model, smk.params.options["settings"]))
    print(rows_to_csv(rows, columns))


run_step(snakemake, main)  # noqa: F821
