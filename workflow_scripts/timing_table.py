"""results/<model>/timing.csv: training time per method and generation time per answer."""
import json
from pathlib import Path

from bibleft import report
from bibleft.entry import run_step
from bibleft.fileio import write_text


def main(smk):
    summaries = {m: json.loads((Path(smk.input[m]) / "train_summary.json").read_text())
                 for m in ("full", "lora")}
    timings = {v: json.loads(Path(smk.input[f"{v}_timing"]).read_text()) for v in report.VARIANTS}
    write_text(smk.output[0], report.rows_to_csv(report.timing_rows(summaries, timings)))


run_step(snakemake, main)  # noqa: F821
