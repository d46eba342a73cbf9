"""data/corpora/<corpus>.jsonl: a corpus that is no Bible, one record {reference, text} per
example, read by the corpus's kind (bibleft.corpora): per line or paragraph of a text file
or folder (kind text), per row of a `datasets` dataset (kind datasets: a save_to_disk
folder or a Hub id), or generated facts (kind facts: bibleft.facts), one biography per
invented person and phrasing. params.options: the entry without its training slice
(source_options); input `local`: its local file or folder, if any."""
from bibleft.corpora import corpus_of
from bibleft.entry import run_step
from bibleft.fileio import write_jsonl


def main(smk):
    examples = corpus_of(smk.params.options).examples()
    write_jsonl(smk.output[0], examples)
    print(f"{len(examples)} examples of {smk.wildcards.corpus} ({smk.params.options['kind']}) "
          f"-> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
