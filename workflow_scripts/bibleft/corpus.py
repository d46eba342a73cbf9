"""The training corpus: one example per verse, tokenized, EOS appended."""

from __future__ import annotations

from .asv import Verse


def tokenize_verses(verses: list[Verse], tokenizer) -> dict[str, list]:
    """Columns for a `datasets.Dataset`: one row per verse (the study's unit)."""
    encoded = tokenizer([v.text for v in verses], add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    input_ids = [ids + [eos] for ids in encoded]
    return {"reference": [v.reference for v in verses], "input_ids": input_ids,
            "n_tokens": [len(ids) for ids in input_ids]}


def save_dataset(columns: dict[str, list], out_dir, num_shards: int) -> None:
    from datasets import Dataset

    from .fileio import atomic_dir

    dataset = Dataset.from_dict(columns)
    with atomic_dir(out_dir) as tmp:
        dataset.save_to_disk(str(tmp), num_shards=min(num_shards, len(dataset)))


def load_examples(path) -> list[list[int]]:
    from datasets import load_from_disk

    return load_from_disk(str(path))["input_ids"]
