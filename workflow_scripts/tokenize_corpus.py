"""data/tokenized/<tokenizer>/<corpus>/<example_format>/: the training slice of a corpus
(data/raw/<corpus>.tsv, a Bible: its books and max_verses, one example per verse in that
format; or data/corpora/<corpus>.jsonl: its first max_examples examples), tokenized
without EOS, as a sharded `datasets` dataset."""
from bibleft import asv
from bibleft.corpus import Example, save_dataset, tokenize_verses
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl
from bibleft.modeling import load_tokenizer


def training_examples(path, options, corpus: str) -> list:
    """The corpus's training slice: verses of a Bible, Examples of another text."""
    if options["kind"] == "bible":
        return asv.select_verses(asv.read_tsv(path), options["books"], options["max_verses"],
                                 key=f"corpora.{corpus}.books")
    examples = [Example(r["reference"], r["text"]) for r in read_jsonl(path)]
    return examples[: options["max_examples"]] if options["max_examples"] else examples


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
