"""data/questions/<name>.split.json: a question set's held-out split (questions.<name>.split:
held_out, seed, by): the share of its groups held out, drawn with the seed, and each part's
groups and question ids in file order. A question's group is its kind's (bibleft.questions:
a BibleQA question alone, a facts person, a table's row or value of the `by` column).
Reads data/questions/<name>.jsonl (`questions`); params.options: {questions: the entry}."""
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_json
from bibleft.questions import HELD_OUT, TRAINED, question_set_of, split_file


def main(smk):
    entry = question_set_of(smk.params.options["questions"])
    split = split_file(read_jsonl(smk.input.questions), entry.group, entry.split)
    write_json(smk.output[0], split)
    print(f"{len(split['ids'][HELD_OUT])} questions held out ({len(split['groups'][HELD_OUT])} "
          f"groups), {len(split['ids'][TRAINED])} trained ({len(split['groups'][TRAINED])}) "
          f"-> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
