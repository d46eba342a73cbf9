"""Accuracy by where each question's gold passage was after retrieval, for one (model,
setting, seed): reads every variant's predictions in every mode, as the judge does
(`base`, `full`, `lora`, `base_open`, `full_open`, `lora_open`), and the passages of the
run's book (`passages`: data/retrieval/<book>/<questions>/passages.jsonl); writes
results/<model>/<setting>/seed<seed>/retrieval.csv.
params.options: config.JudgeOptions (the config's `judge:`)."""
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_text
from bibleft.judging import judge_predictions
from bibleft.config import JudgeOptions
from bibleft.panels import part_rows, split_parts
from bibleft.retrieval import ACCURACY_COLUMNS, accuracy_by_outcome_rows, read_passages
from bibleft.tableio import rows_to_csv


def main(smk):
    options = JudgeOptions.from_dict(smk.params.options)
    predictions = {name: read_jsonl(path) for name, path in smk.input.items()
                   if name != "passages" and not name.startswith("split/")}
    passages, parts = read_passages(smk.input.passages), split_parts(smk.input)

    def rows_of(chosen):
        ids = {r["id"] for r in next(iter(chosen.values()))}
        return accuracy_by_outcome_rows(judge_predictions(chosen, **options.as_dict()),
                                        [p for p in passages if p["id"] in ids])

    rows = part_rows(rows_of, predictions, parts)
    text = rows_to_csv(rows, (["part"] if parts else []) + ACCURACY_COLUMNS)
    write_text(smk.output[0], text)
    print(rows_to_csv([r for r in rows if r["metric"] == "lenient"], (["part"] if parts else []) + ACCURACY_COLUMNS))


run_step(snakemake, main)  # noqa: F821
