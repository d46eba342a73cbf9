"""data/tokenized/<tokenizer>/<verse_format>/: one example per verse (the run setting's data.verse_format), no EOS, in shards."""
from bibleft import asv
from bibleft.corpus import save_dataset, tokenize_verses
from bibleft.entry import run_step
from bibleft.modeling import load_tokenizer


def main(smk):
    data_slice = smk.params.slice  # data.asv: books and max_verses
    verses = asv.select_verses(asv.read_tsv(smk.input.asv), data_slice["books"], data_slice["max_verses"])
    tokenizer = load_tokenizer(smk.input.model, trust_remote_code=smk.params.trust_remote_code)
    columns = tokenize_verses(verses, tokenizer, smk.params.verse_format)
    save_dataset(columns, smk.output[0], smk.params.num_shards)
    n_examples, n_tokens = len(columns["input_ids"]), sum(columns["n_tokens"])
    skipped = len(verses) - n_examples
    print(f"{len(verses)} verses -> {n_examples} examples ({smk.params.verse_format}"
          + (f"; {skipped} empty verse(s) skipped" if skipped else "")
          + f"), {n_tokens} tokens (mean {n_tokens / max(n_examples, 1):.1f}) -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
