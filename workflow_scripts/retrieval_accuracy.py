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
from bibleft.retrieval import ACCURACY_COLUMNS, accuracy_by_outcome_rows, read_passages
from bibleft.tableio import rows_to_csv


def main(smk):
    options = JudgeOptions.from_dict(smk.params.options)
    predictions = {name: read_jsonl(path) for name, path in smk.input.items() if name != "passages"}
    judged = judge_predictions(predictions, **options.as_dict())
    rows = accuracy_by_outcome_rows(judged, read_passages(smk.input.passages))
    text = rows_to_csv(rows, ACCURACY_COLUMNS)
    write_text(smk.output[0], text)
    print(rows_to_csv([r for r in rows if r["metric"] == "lenient"], ACCURACY_COLUMNS))


run_step(snakemake, main)  # noqa: F821
