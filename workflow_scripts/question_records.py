"""data/questions/<name>.jsonl: one record {id, position, question, answer, ...} per
question, read by the question set's kind (bibleft.questions): BibleQA's published file
(input `raw`: data/raw/questions/<name>.tsv; records add its verse `reference`), a table of
the user's (input `table`; records add `alternatives` and `reference` when those columns
are named), or the questions about a facts corpus (params.options.facts: that corpus's
generator keys), one per fact with the example it comes from as `reference`.
params.options: {questions: the entry[, facts: ...]} (QuestionSet.records_options)."""
from bibleft.entry import run_step
from bibleft.fileio import write_jsonl
from bibleft.questions import question_set_of


def main(smk):
    options = smk.params.options
    records = question_set_of(options["questions"]).read_records(smk.input, options)
    write_jsonl(smk.output[0], records)
    print(f"{len(records)} questions -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
