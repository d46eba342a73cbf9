"""results/<model>/venn.png (+ .svg, + venn_sets.json): which questions each model got
right, a panel per setting; a fine-tune counts a question when right in most of its seeds."""
from bibleft.entry import run_step
from bibleft.figures import plot_venn_settings
from bibleft.fileio import atomic_path, read_jsonl, read_runs, write_json
from bibleft.replicates import majority_sets
from bibleft.tables import venn_regions


def main(smk):
    sets = majority_sets(read_jsonl(smk.input.base), read_runs(smk.params.tuned_runs, smk.input.tuned))
    with atomic_path(smk.output.png) as png, atomic_path(smk.output.svg) as svg:
        plot_venn_settings(sets, f"Correct answers: {smk.wildcards.model}", png, svg)
    write_json(smk.output.sets, {setting: {"sets": {v: sorted(s) for v, s in by_variant.items()},
                                           "regions": venn_regions(by_variant)}
                                 for setting, by_variant in sets.items()})


run_step(snakemake, main)  # noqa: F821
