"""data/tokenized/<tokenizer>/: one example per verse, EOS appended, in shards."""
from bibleft import asv
from bibleft.corpus import save_dataset, tokenize_verses
from bibleft.entry import run_step
from bibleft.modeling import load_tokenizer


def main(smk):
    verses = asv.select_verses(asv.read_tsv(smk.input.asv), smk.params.books, smk.params.max_verses)
    tokenizer = load_tokenizer(smk.input.model, trust_remote_code=smk.params.trust_remote_code)
    columns = tokenize_verses(verses, tokenizer)
    save_dataset(columns, smk.output[0], smk.params.num_shards)
    n_tokens = sum(columns["n_tokens"])
    print(f"{len(verses)} verses, {n_tokens} tokens (mean {n_tokens / len(verses):.1f}) -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
