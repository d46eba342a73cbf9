"""results/<model>/timing.csv: training time per method and generation time per answer."""
import json
from pathlib import Path

from bibleft.entry import run_step
from bibleft.fileio import write_text
from bibleft.tables import rows_to_csv, timing_rows


def main(smk):
    summaries = {m: json.loads((Path(smk.input[m]) / "train_summary.json").read_text())
                 for m in smk.params.methods}
    timings = {v: json.loads(Path(smk.input[f"{v}_timing"]).read_text()) for v in smk.params.variants}
    write_text(smk.output[0], rows_to_csv(timing_rows(summaries, timings)))


run_step(snakemake, main)  # noqa: F821
