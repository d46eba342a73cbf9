"""The training corpus: one example per verse of a Bible, in the format
`data.verse_format` names, or per example of another text (corpora), tokenized; whether
each example ends in EOS is a training setting (`train.eos`)."""

from __future__ import annotations

from dataclasses import dataclass

from .asv import Verse


@dataclass(frozen=True)
class Example:
    """One example of a corpus that is no Bible: where it is (a file and line, a dataset
    row) and its text. Read like a Verse in the format `text`: its words alone."""

    reference: str
    text: str

# What one training example is (`data.verse_format`):
# - reference_text: the verse's line as the study's source file has it, reference, tab and
#   text (`Genesis 1:1<TAB>In the beginning ...`), which is what the study got by loading
#   openbible.com's asv.txt line by line with `datasets`.
# - text: the verse's words alone.
VERSE_FORMATS = ("reference_text", "text")


def verse_example(verse: Verse | Example, verse_format: str) -> str | None:
    """The text of one training example, or None for a verse that gives no example.

    The 16 verses the ASV omits (Matthew 17:21, ...) have no words: in `text` they would
    be empty examples (nothing to learn, and a batch of only those has no loss), so they
    are skipped; in `reference_text` they keep their reference, as their line does.
    """
    prefix = verse_prefix(verse.reference, verse_format)
    return prefix + verse.text if prefix or verse.text else None


def verse_prefix(reference: str, verse_format: str) -> str:
    """What comes before a verse's words in its example: its reference and a tab, or nothing."""
    if verse_format == "text":
        return ""
    if verse_format == "reference_text":
        return f"{reference}\t"
    raise ValueError(f"unknown verse format {verse_format!r} (one of {', '.join(VERSE_FORMATS)})")


def bos_prefix(tokenizer) -> list[int]:
    """[BOS] for a tokenizer that starts every text with it by default (Gemma's), else []
    (GPT-2's, SmolLM2's, Qwen2.5's, Pythia's add none).

    Questions are asked with the tokenizer's defaults (`tokenizer(prompts)`), so a model
    whose texts start with BOS reads its training examples and probe contexts with one too:
    Gemma 3 270M, reading the first 40 ASV lines without it, has a mean NLL of 5.25 nats a
    token against 1.98 with it, and a fine-tune without it would train on text it never
    reads when answering.
    """
    bos = tokenizer.bos_token_id
    return [bos] if bos is not None and tokenizer("a")["input_ids"][:1] == [bos] else []


def tokenize_verses(verses: list[Verse | Example], tokenizer, verse_format: str) -> dict[str, list]:
    """Columns for a `datasets.Dataset`: one row per example (the study's unit: a verse),
    led by BOS where the tokenizer adds one (`bos_prefix`), without EOS (`with_eos` adds it
    at training time when `train.eos` asks for it)."""
    kept = [(v, text) for v in verses if (text := verse_example(v, verse_format)) is not None]
    bos = bos_prefix(tokenizer)
    input_ids = [bos + ids for ids in
                 tokenizer([text for _, text in kept], add_special_tokens=False)["input_ids"]]
    return {"reference": [v.reference for v, _ in kept], "text": [text for _, text in kept],
            "input_ids": input_ids, "n_tokens": [len(ids) for ids in input_ids]}


def with_eos(examples: list[list[int]], eos_id: int, append_eos: bool) -> list[list[int]]:
    """The examples training sees: with EOS appended (the model learns where a verse ends)
    or as tokenized (the study's most plausible reading: GPT-2's tokenizer adds no EOS, and
    the stock collator, with pad = EOS, would mask any EOS out of the loss anyway).

    Examples shorter than 2 tokens predict nothing and are dropped: a batch of only such
    examples would have no token in its loss (a NaN loss).
    """
    out = [ex + [eos_id] if append_eos else list(ex) for ex in examples]
    return [ex for ex in out if len(ex) >= 2]


def save_dataset(columns: dict[str, list], out_dir, num_shards: int) -> None:
    from datasets import Dataset

    from .fileio import atomic_dir

    dataset = Dataset.from_dict(columns)
    with atomic_dir(out_dir) as tmp:
        dataset.save_to_disk(str(tmp), num_shards=min(num_shards, len(dataset)))


def training_examples(path, options: dict, corpus: str) -> list[Verse | Example]:
    """A corpus's training slice, what a fine-tune on it reads and an open book holds:
    verses of a Bible (data/raw/<corpus>.tsv; options `books`, `max_verses`), Examples of
    another text (data/corpora/<corpus>.jsonl; `max_examples`). `options["kind"]` says which."""
    from . import asv
    from .fileio import read_jsonl

    if options["kind"] == "bible":
        return asv.select_verses(asv.read_tsv(path), options["books"], options["max_verses"],
                                 key=f"corpora.{corpus}.books")
    examples = [Example(r["reference"], r["text"]) for r in read_jsonl(path)]
    return examples[: options["max_examples"]] if options["max_examples"] else examples


def load_examples(path) -> list[list[int]]:
    from datasets import load_from_disk

    return load_from_disk(str(path))["input_ids"]
