"""Training time per method and generation time per answer, for one (model, setting, seed).

Reads the fine-tunes' checkpoint folders (`full`, `lora`:
checkpoints/<model>/<setting>/seed<seed>/<method>/train_summary.json) and every answer
set's generation timing by variant, mode by mode (`base_timing`:
results/<model>/base/<questions>/closed/generations/base.timing.json; `full_timing`,
`lora_timing`: results/<model>/<setting>/seed<seed>/<questions>/closed/generations/
<method>.timing.json; open book also `base_open_timing`, ...: the same under open-<book>/);
writes results/<model>/<setting>/seed<seed>/timing.csv.
"""
import json
from pathlib import Path

from bibleft.entry import run_step
from bibleft.fileio import write_text
from bibleft.grid import METHODS
from bibleft.tableio import rows_to_csv
from bibleft.timing import TIMING_COLUMNS, timing_rows


def main(smk):
    summaries = {m: json.loads((Path(smk.input[m]) / "train_summary.json").read_text())
                 for m in METHODS}
    suffix = "_timing"
    timings = {name[: -len(suffix)]: json.loads(Path(path).read_text())
               for name, path in smk.input.items() if name.endswith(suffix)}
    write_text(smk.output[0], rows_to_csv(timing_rows(summaries, timings), TIMING_COLUMNS))


run_step(snakemake, main)  # noqa: F821
