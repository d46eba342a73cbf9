"""Which questions each model got right, a Venn diagram per setting; a fine-tune counts a
question when right in most of its seeds. Closed book (rule venn_diagram) or open book
(rule open_venn_diagram, params.options.mode `open`).

Reads the base model's predictions (`base`: results/<model>/base/predictions/base.jsonl;
a setting that answers another question set, `questions/<setting>/base`:
results/<model>/base/questions/<set>/predictions/base.jsonl, openbook.closed_bases)
and every fine-tune's (named by its FineTune.key, <setting>/seed<seed>/<method>:
results/<model>/<setting>/seed<seed>/predictions/<method>.jsonl), or open book the same
runs' open-book predictions (openbook.read_open_book: inputs `open/...`); writes
results/<model>/venn.png (`png`), venn.svg (`svg`) and venn_sets.json (`sets`: per
setting, the ids in each set and the regions' sizes), open book venn_open.png, .svg and
venn_open_sets.json.
params.options: {fine_tunes: [FineTune.as_dict(), ...]} in grid order, and `mode: open`
for open book.
"""
from bibleft.entry import run_step
from bibleft.figures import plot_venn_settings
from bibleft.fileio import atomic_path, read_jsonl, write_json
from bibleft.grid import OPEN, fine_tunes_from
from bibleft.openbook import closed_bases, closed_venn_sets, read_open_book
from bibleft.openbook import venn_sets as open_venn_sets


def main(smk):
    fine_tunes = fine_tunes_from(smk.params.options["fine_tunes"])
    title = f"Correct answers: {smk.wildcards.model}"
    if smk.params.options.get("mode") == OPEN:
        venn = open_venn_sets(read_open_book(smk.input, fine_tunes, read_jsonl))
        title += ", open book"
    else:
        runs = {ft: read_jsonl(smk.input[ft.key]) for ft in fine_tunes}
        venn = closed_venn_sets(closed_bases(smk.input, fine_tunes, read_jsonl), runs)
    with atomic_path(smk.output.png) as png, atomic_path(smk.output.svg) as svg:
        plot_venn_settings(venn, title, png, svg)
    write_json(smk.output.sets, venn)


run_step(snakemake, main)  # noqa: F821
