"""data/tokenized/<tokenizer>/<verse_format>/: the training slice of data/raw/asv.tsv, one
example per verse in that format, no EOS, as a sharded `datasets` dataset."""
from bibleft import asv
from bibleft.corpus import save_dataset, tokenize_verses
from bibleft.entry import run_step
from bibleft.modeling import load_tokenizer


def main(smk):
    options, verse_format = smk.params.options, smk.wildcards.verse_format
    verses = asv.select_verses(asv.read_tsv(smk.input.asv), options["books"], options["max_verses"])
    tokenizer = load_tokenizer(smk.input.model, trust_remote_code=options["trust_remote_code"])
    columns = tokenize_verses(verses, tokenizer, verse_format)
    save_dataset(columns, smk.output[0], options["num_shards"])
    n_examples, n_tokens = len(columns["input_ids"]), sum(columns["n_tokens"])
    skipped = len(verses) - n_examples
    print(f"{len(verses)} verses -> {n_examples} examples ({verse_format}"
          + (f"; {skipped} empty verse(s) skipped" if skipped else "")
          + f"), {n_tokens} tokens (mean {n_tokens / max(n_examples, 1):.1f}) -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
