"""results/<model>/venn.png (+ .svg, + venn_sets.json): which questions each model got right."""
from bibleft import report
from bibleft.entry import run_step
from bibleft.fileio import atomic_path, read_jsonl, write_json


def main(smk):
    sets = {v: report.correct_ids(read_jsonl(smk.input[v])) for v in report.VARIANTS}
    with atomic_path(smk.output.png) as png, atomic_path(smk.output.svg) as svg:
        report.plot_venn(sets, f"Correct answers: {smk.wildcards.model}", png, svg)
    write_json(smk.output.sets, {"sets": {v: sorted(s) for v, s in sets.items()},
                                 "regions": report.venn_regions(sets)})


run_step(snakemake, main)  # noqa: F821
