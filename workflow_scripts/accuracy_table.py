"""results/<model>/accuracy.csv and accuracy.md: the study's results table."""
from bibleft import report
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_text


def main(smk):
    predictions = {v: read_jsonl(smk.input[v]) for v in report.VARIANTS}
    rows = report.accuracy_rows(predictions)
    write_text(smk.output.csv, report.rows_to_csv(rows))
    write_text(smk.output.md, report.accuracy_markdown(rows, smk.wildcards.model))
    print(report.rows_to_csv(rows))


run_step(snakemake, main)  # noqa: F821
