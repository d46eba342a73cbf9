"""results/<model>/probes.csv, probes_significance.csv and probes.png: whether fine-tuning
taught the text (NLL), the content (recall), or neither, with paired tests between the
variants."""
from bibleft import tables
from bibleft.entry import run_step
from bibleft.figures import plot_probes
from bibleft.fileio import atomic_path, read_jsonl, write_text


def main(smk):
    records = {v: read_jsonl(smk.input[v]) for v in smk.params.variants}
    rows = tables.probe_rows(records)
    table = tables.rows_to_csv(rows, tables.PROBE_COLUMNS)
    write_text(smk.output.csv, table)
    write_text(smk.output.significance,
               tables.rows_to_csv(tables.probe_significance_rows(records),
                                  tables.SIGNIFICANCE_COLUMNS))
    with atomic_path(smk.output.png) as png:
        plot_probes(rows, f"Knowledge probes: {smk.wildcards.model}", png)
    print(table)


run_step(snakemake, main)  # noqa: F821
