"""data/retrieval/<corpus>/index/: the BM25 index (bm25s) of a corpus's training slice, the
book open-book answers read from: one passage per verse with words of data/raw/<corpus>.tsv
(a Bible: its books and max_verses) or per example of data/corpora/<corpus>.jsonl (its
first max_examples), saved with the passages and the settings that made it."""
from bibleft.corpus import training_examples
from bibleft.entry import run_step
from bibleft.retrieval import book_passages, build_index


def main(smk):
    examples = training_examples(smk.input.corpus, smk.params.options, smk.wildcards.corpus)
    # A verse is indexed with its reference (questions name books), other passages by their words.
    settings = build_index(book_passages(examples), smk.output[0],
                           with_reference=smk.params.options["kind"] == "bible")
    print(f"{settings['passages']} passages of {len(examples)} examples, their "
          f"{settings['indexed']}, indexed by {settings['library']} {settings['version']} "
          f"({settings['method']}, {settings['stemmer']}) -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
