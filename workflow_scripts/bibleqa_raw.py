"""data/raw/bibleqa.tsv: the published question file, downloaded and checked, or copied."""
import shutil

from bibleft.entry import run_step
from bibleft.fileio import atomic_path, download


def main(smk):
    if smk.input.local:
        with atomic_path(smk.output[0]) as tmp:
            shutil.copyfile(smk.input.local[0], tmp)
        print(f"copied {smk.input.local[0]}")
    else:
        download(smk.params.url, smk.output[0], sha256=smk.params.sha256)
        print(f"downloaded {smk.params.url} (sha256 {'checked' if smk.params.sha256 else 'not checked'})")


run_step(snakemake, main)  # noqa: F821
