"""data/questions/<name>.jsonl: one record {id, position, question, answer, ...} per
question: BibleQA's published file (data/raw/questions/<name>.tsv; records add its verse
`reference`), or a table of the user's (questions.<name>: path, question, answer,
alternatives and reference columns; records add `alternatives` and `reference` when those
columns are named), or the questions about a facts corpus (questions.<name>: kind facts,
corpus; params.options.facts: that corpus's generator keys): one per fact, with the
example it comes from as `reference`."""
from bibleft import facts
from bibleft.bibleqa import parse_bibleqa
from bibleft.entry import run_step
from bibleft.fileio import write_jsonl
from bibleft.questions import read_question_table


def main(smk):
    options = smk.params.options
    if options["kind"] == "bibleqa":
        records = parse_bibleqa(smk.input.raw)
    elif options["kind"] == "facts":
        records = facts.questions(options["facts"]["seed"], options["facts"]["count"])
    else:
        records = read_question_table(smk.input.table, options["question"], options["answer"],
                                      options["alternatives"], options["reference"])
    write_jsonl(smk.output[0], records)
    print(f"{len(records)} questions -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
