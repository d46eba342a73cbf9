"""data/probes/texts.jsonl: the probe set every model is probed on (bibleft.probes), from
data/raw/asv.tsv, the other translations' packages and the files of probes.texts."""
from collections import Counter

from bibleft import asv
from bibleft.entry import run_step
from bibleft.fileio import write_jsonl
from bibleft.probes import probe_set, read_text_lines, translation_texts


def main(smk):
    options = smk.params.options
    verses = asv.read_tsv(smk.input.asv)
    # Seen: the training slice; the probes sample from probes.books (None: the whole Bible).
    seen = [v.reference for v in asv.select_verses(verses, options["books"], options["max_verses"])]
    translations = {}
    for name in options["translations"]:
        translations[name], dropped = translation_texts(name)
        print(f"{name}: {len(translations[name])} verses"
              + (f", {dropped} dropped as misaligned in its package" if dropped else ""))
    other_texts = {name: read_text_lines(smk.input[f"texts/{name}"]) for name in options["texts"]}
    records = probe_set(asv.select_verses(verses, options["probes_books"], key="probes.books"), seen,
                        translations, options["verse_format"], options["verses"],
                        options["completions"], options["seed"], other_texts)
    write_jsonl(smk.output[0], records)
    for (probe, text, split), n in sorted(Counter(
            (r["probe"], r["text"], r["split"]) for r in records).items()):
        print(f"{probe:6} {text:10} {split:6} {n}")
    print(f"{len(records)} probe records -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
