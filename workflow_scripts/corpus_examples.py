"""data/corpora/<corpus>.jsonl: a corpus that is no Bible, one record {reference, text} per
example: per line or paragraph of a text file or folder (corpora.<name>: kind text, path,
unit), or per row of a `datasets` dataset (kind datasets: a save_to_disk folder or a Hub
id, revision, split, column), or generated facts (kind facts: bibleft.facts, seed, count,
paraphrases): one biography per invented person and phrasing."""
from bibleft import corpora, facts
from bibleft.entry import run_step
from bibleft.fileio import write_jsonl


def main(smk):
    options = smk.params.options
    if options["kind"] == "facts":
        examples = facts.examples(options["seed"], options["count"], options["paraphrases"])
        write_jsonl(smk.output[0], examples)
        print(f"{len(examples)} examples: {options['count']} invented people x "
              f"{options['paraphrases']} phrasing(s), seed {options['seed']} -> {smk.output[0]}")
        return
    if options["kind"] == "text":
        examples = corpora.text_examples(options["path"], options["unit"])
    else:
        examples = corpora.dataset_examples(options["path"], options["revision"], options["split"],
                                            options["column"])
    write_jsonl(smk.output[0], examples)
    print(f"{len(examples)} examples from {options['path']} -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
