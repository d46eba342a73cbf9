"""results/<model>/venn.png (+ .svg, + venn_sets.json): which questions each model got right."""
from bibleft.entry import run_step
from bibleft.figures import plot_venn
from bibleft.fileio import atomic_path, read_jsonl, write_json
from bibleft.judging import correct_ids
from bibleft.tables import venn_regions


def main(smk):
    sets = {v: correct_ids(read_jsonl(smk.input[v])) for v in smk.params.variants}
    with atomic_path(smk.output.png) as png, atomic_path(smk.output.svg) as svg:
        plot_venn(sets, f"Correct answers: {smk.wildcards.model}", png, svg)
    write_json(smk.output.sets, {"sets": {v: sorted(s) for v, s in sets.items()},
                                 "regions": venn_regions(sets)})


run_step(snakemake, main)  # noqa: F821
