"""Whether fine-tuning taught the text (NLL), the content (recall), or neither, with paired
tests between the variants, for one (model, setting, seed).

Reads the probe records of `base`, `full` and `lora` on the setting's corpus
(results/<model>/base/probes/<corpus>/base.jsonl,
results/<model>/<setting>/seed<seed>/probes/<corpus>/<method>.jsonl); writes
results/<model>/<setting>/seed<seed>/probes.csv (`csv`), probes_significance.csv
(`significance`) and probes.png (`png`).
"""
from bibleft.entry import run_step
from bibleft.figures import plot_probes
from bibleft.fileio import atomic_path, read_jsonl, write_text
from bibleft.grid import VARIANTS
from bibleft.probe_tables import PROBE_COLUMNS, probe_rows, probe_significance_rows
from bibleft.scores import SIGNIFICANCE_COLUMNS
from bibleft.tableio import rows_to_csv


def main(smk):
    records = {v: read_jsonl(smk.input[v]) for v in VARIANTS}
    rows = probe_rows(records)
    table = rows_to_csv(rows, PROBE_COLUMNS)
    write_text(smk.output.csv, table)
    write_text(smk.output.significance,
               rows_to_csv(probe_significance_rows(records), SIGNIFICANCE_COLUMNS))
    wc, corpus = smk.wildcards, smk.params.options["corpus"]
    with atomic_path(smk.output.png) as png:
        plot_probes(rows, f"Knowledge probes on {corpus}: {wc.model}, {wc.setting}, seed {wc.seed}", png)
    print(table)


run_step(snakemake, main)  # noqa: F821
