"""data/raw/questions/<name>.tsv: BibleQA's published question file, downloaded
(questions.<name>.url) and checked (sha256), or copied from questions.<name>.path."""
import shutil

from bibleft.entry import run_step
from bibleft.errors import InputError
from bibleft.fileio import atomic_path, download

# The way out when the download fails: the workflow reads a local copy as well.
LOCAL_COPY = ("to run without the download, set questions.{name}.path to a local copy of "
              "BibleQA's 1001.csv, e.g. --config \"questions={{{name}: {{path: /path/to/1001.csv}}}}\"")


def main(smk):
    if smk.input.local:
        with atomic_path(smk.output[0]) as tmp:
            shutil.copyfile(smk.input.local[0], tmp)
        print(f"copied {smk.input.local[0]}")
    else:
        options = smk.params.options
        try:
            download(options["url"], smk.output[0], sha256=options["sha256"])
        except InputError as err:
            raise InputError(f"{err}; {LOCAL_COPY.format(name=smk.wildcards.questions)}") from None
        print(f"downloaded {options['url']} (sha256 {'checked' if options['sha256'] else 'not checked'})")


run_step(snakemake, main)  # noqa: F821
