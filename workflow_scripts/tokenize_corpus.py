"""data/tokenized/<tokenizer>/<corpus>/<example_format>/: the training slice of a corpus
(data/raw/<corpus>.tsv, a Bible: its books and max_verses, one example per verse in that
format; or data/corpora/<corpus>.jsonl: its first max_examples examples), tokenized
without EOS, as a sharded `datasets` dataset."""
from bibleft.corpus import save_dataset, tokenize_verses, training_examples
from bibleft.entry import run_step
from bibleft.modeling import load_tokenizer


def main(smk):
    options, example_format = smk.params.options, smk.wildcards.example_format
    examples = training_examples(smk.input.text, options, smk.wildcards.corpus)
    tokenizer = load_tokenizer(smk.input.model, trust_remote_code=options["trust_remote_code"])
    columns = tokenize_verses(examples, tokenizer, example_format)
    save_dataset(columns, smk.output[0], options["num_shards"])
    n_examples, n_tokens = len(columns["input_ids"]), sum(columns["n_tokens"])
    skipped = len(examples) - n_examples
    print(f"{len(examples)} examples -> {n_examples} ({example_format}"
          + (f"; {skipped} empty one(s) skipped" if skipped else "")
          + f"), {n_tokens} tokens (mean {n_tokens / max(n_examples, 1):.1f}) -> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821
