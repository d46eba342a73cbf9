"""Which questions each model got right in one answering mode, a Venn diagram per setting;
a fine-tune counts a question when right in most of its seeds.

Reads every answer set of the model's grid in the mode and its base model's
(params.options.answer_sets, inputs named by their keys as accuracy_table's); writes
results/<model>/venn.png (`png`), venn.svg (`svg`) and venn_sets.json (`sets`: per
setting, the ids in each set and the regions' sizes), or for another mode
venn_<mode>.png, .svg and venn_<mode>_sets.json.
params.options: {answer_sets: [...], settings: {...}, mode: the mode's name}.
"""
from bibleft.entry import run_step
from bibleft.figures import plot_venn_settings
from bibleft.fileio import atomic_path, read_jsonl, write_json
from bibleft.grid import CLOSED, AnswerSet, mode_named
from bibleft.panels import read_panels, venn_sets
from bibleft.tableio import setting_caption


def main(smk):
    options = smk.params.options
    answer_sets = [AnswerSet.from_dict(a) for a in options["answer_sets"]]
    venn = venn_sets(read_panels(smk.input, answer_sets, read_jsonl))
    captions = {name: setting_caption(options["settings"][name.split(", ")[0]])
                + (f" ({name.split(', ')[1]})" if ", " in name else "") for name in venn}
    title = f"Correct answers: {smk.wildcards.model}"
    if options["mode"] != CLOSED:
        title += f", {mode_named(options['mode']).words}"
    with atomic_path(smk.output.png) as png, atomic_path(smk.output.svg) as svg:
        plot_venn_settings(venn, title, captions, png, svg)
    write_json(smk.output.sets, venn)


run_step(snakemake, main)  # noqa: F821
