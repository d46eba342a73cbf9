"""Knowledge probes: did fine-tuning teach the text, the content, or neither?

Two probes, on verses the model trained on (`seen`), ASV verses it did not (`unseen`), and
texts that are no Bible (`other`):
- nll: the negative log-likelihood of a verse's words, in the ASV and in other translations
  of the same verses (the KJV is the ASV's wording nearly word for word; the Bible in Basic
  English says the same in other words). A model that learned the wording gains on the ASV
  and the KJV; one that learned the content gains on the BBE too.
- recall: the first half of an ASV verse, and whether greedy decoding gives back the second.

A probe set is a list of records `{probe, text, split, reference, context, target}`: the
model reads `context` and is scored on `target`.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import torch

from .asv import Verse, aligned_pythonbible_verses
from .batching import IGNORE_INDEX, collate
from .corpus import bos_prefix, verse_prefix
from .errors import InputError
from .fileio import read_utf8
from .generate import device_facts, generate_token_ids, timed_on_device
from .judging import token_f1

# Verses shorter than this give no recall probe: two words of context at the least, and a
# second half of at least two.
MIN_RECALL_WORDS = 4


def translation_texts(name: str) -> tuple[dict[str, str], int]:
    """A translation's verse texts by the ASV's references, and how many of its package's
    verses were dropped as misaligned (see asv.aligned_pythonbible_verses)."""
    verses, dropped = aligned_pythonbible_verses(name)
    return {v.reference: v.text for v in verses}, dropped


def read_text_lines(path: str | Path) -> list[str]:
    """The lines of an other text (plain UTF-8), as the probe set numbers them."""
    return read_utf8(path).splitlines()


def sample(items: list, n: int | None, rng: random.Random) -> list:
    """Up to `n` of `items` drawn by `rng`, in their own order (None: all of them)."""
    if n is None or n >= len(items):
        return list(items)
    return [items[i] for i in sorted(rng.sample(range(len(items)), n))]


def probe_set(asv_verses: list[Verse], seen_references, translations: dict[str, dict[str, str]],
              verse_format: str, n_verses: int | None, n_completions: int | None, seed: int,
              other_texts: dict[str, list[str]] | None = None, name: str = "asv") -> list[dict]:
    """The probe records (see the module's docstring), nll records first, then recall.

    `asv_verses`: the examples of the corpus trained on (verses of a Bible, or
    corpus.Example of another text, read in format `text`), named `name` in the records
    ("asv", "kjv", a corpus's name); `translations` the same verses in other words.

    Each split samples its verses once, and every text is probed on those same references
    (less the ones a translation lacks), so texts compare on the same verses. Each sample
    has a random generator of its own, seeded by (seed, probe, split or text): how many
    completions are asked for does not change which verses the nll probe reads.
    """
    seen_references = set(seen_references)
    with_words = [v for v in asv_verses if v.text]
    by_split = {"seen": [v for v in with_words if v.reference in seen_references],
                "unseen": [v for v in with_words if v.reference not in seen_references]}
    records = []
    for split, verses in by_split.items():
        picked = sample(verses, n_verses, random.Random(f"{seed}:nll:{split}"))
        for text, by_reference in {name: {v.reference: v.text for v in picked},
                                   **translations}.items():
            records += [{"probe": "nll", "text": text, "split": split, "reference": v.reference,
                         "context": verse_prefix(v.reference, verse_format),
                         "target": by_reference[v.reference]}
                        for v in picked if by_reference.get(v.reference)]
    for other, lines in (other_texts or {}).items():
        numbered = [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]
        picked = sample(numbered, n_verses, random.Random(f"{seed}:nll:{other}"))
        records += [{"probe": "nll", "text": other, "split": "other", "reference": f"line {n}",
                     "context": "", "target": line} for n, line in picked]
    for split, verses in by_split.items():
        long_enough = [v for v in verses if len(v.text.split()) >= MIN_RECALL_WORDS]
        picked = sample(long_enough, n_completions, random.Random(f"{seed}:recall:{split}"))
        records += [recall_probe(v, split, verse_format, name) for v in picked]
    return records


def recall_probe(verse: Verse, split: str, verse_format: str, name: str = "asv") -> dict:
    """The first half of a verse's words as the context (after the format's prefix), the
    second half as the target, led by the space that joins them."""
    words = verse.text.split()
    half = len(words) // 2
    return {"probe": "recall", "text": name, "split": split, "reference": verse.reference,
            "context": verse_prefix(verse.reference, verse_format) + " ".join(words[:half]),
            "target": " " + " ".join(words[half:])}


def context_and_target_ids(tokenizer, records: list[dict]) -> tuple[list[list[int]],
                                                                    list[list[int]]]:
    """Each record's context and target, tokenized apart, the context led by BOS where
    training's examples are (corpus.bos_prefix). GPT-2's BPE splits text into
    pieces before merging, at the tab after a reference and before each space-led word, so
    a context that ends at a tab or a word and a target that starts with its words or " "
    give exactly the tokens of the whole line, as training saw it."""
    def ids(texts):  # a tokenizer fails on an empty batch
        return tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []

    bos = bos_prefix(tokenizer)
    contexts = [bos + context for context in ids([r["context"] for r in records])]
    return contexts, ids([r["target"] for r in records])


@torch.inference_mode()
def token_nll(model, tokenizer, records: list[dict], batch_size: int, log=None,
              progress: bool = True) -> list[tuple[float, int]]:
    """Per record, `(nll_sum, n_tokens)`: the negative log-likelihood in nats of its target's
    tokens given all that comes before them, summed, and how many tokens that is. With an
    empty context the target's first token has nothing before it and is not scored (nor is
    it in training's loss), unless the tokenizer leads every text with BOS.

    Records are sorted by length and batched with right padding (causal attention: a real
    token never sees the padding after it), one forward pass a batch; results come back in
    input order.
    """
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    contexts, targets = context_and_target_ids(tokenizer, records)
    sequences = [c + t for c, t in zip(contexts, targets)]
    limit = getattr(model.config, "max_position_embeddings", None)
    too_long = [f"{r['text']} {r['reference']}" for r, seq in zip(records, sequences)
                if limit and len(seq) > limit]
    if too_long:
        raise InputError(f"{len(too_long)} probe(s) longer than the model's {limit} positions "
                         f"(first: {too_long[0]}); shorten the lines of that text")
    order = sorted(range(len(records)), key=lambda i: len(sequences[i]))
    results: list[tuple[float, int] | None] = [None] * len(records)
    bar = tqdm(total=len(records), desc="nll", file=log or sys.stderr, mininterval=5,
               disable=not progress)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = collate([sequences[i] for i in idx], tokenizer.pad_token_id)
        labels = batch["labels"]
        for row, i in enumerate(idx):
            labels[row, :len(contexts[i])] = IGNORE_INDEX  # the context is read, not scored
        logits = model(input_ids=batch["input_ids"].to(device),
                       attention_mask=batch["attention_mask"].to(device)).logits
        labels = labels[:, 1:].to(device)  # the token each position predicts
        scored = labels != IGNORE_INDEX
        # log_softmax over the scored positions only, in float32 whatever the model's dtype.
        log_probs = torch.log_softmax(logits[:, :-1][scored].float(), dim=-1)
        nll_of_token = -log_probs.gather(-1, labels[scored].unsqueeze(-1)).squeeze(-1)
        rows = torch.arange(len(idx), device=device).unsqueeze(1).expand_as(scored)[scored]
        sums = torch.zeros(len(idx), device=device).index_add_(0, rows, nll_of_token)
        for i, nll, n in zip(idx, sums.tolist(), scored.sum(dim=1).tolist()):
            results[i] = (nll, n)
        bar.update(len(idx))
    bar.close()
    return results


def recall(model, tokenizer, records: list[dict], batch_size: int, log=None,
           progress: bool = True) -> list[tuple[str, bool, float]]:
    """Per record, `(continuation, exact, token_f1)`: the greedy continuation of its context,
    as many tokens long as its target, whether it is the target (surrounding whitespace
    aside), and SQuAD's token F1 between the two.

    Generation pads on the left by itself (generate.generate_token_ids lays out each row),
    whatever the tokenizer's padding side. No shared-prefix cache: contexts share at most
    a book's name.
    """
    if not records:
        return []
    _, targets = context_and_target_ids(tokenizer, records)
    new_tokens = generate_token_ids(model, tokenizer, [r["context"] for r in records],
                                    [len(t) for t in targets], batch_size, log, progress,
                                    prefix_cache=False)
    continuations = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [(text, text.strip() == r["target"].strip(), token_f1(text, r["target"]))
            for text, r in zip(continuations, records)]


def run_probes(model, tokenizer, records: list[dict], batch_size: int, log=None,
               progress: bool = True) -> tuple[list[dict], dict]:
    """Every probe record with its results, in input order, and timing figures.

    Each record gets the same keys: `n_tokens` and `nll` (null for recall records), and
    `continuation`, `exact` and `token_f1` (null for nll records).
    """
    unknown = sorted({r["probe"] for r in records} - {"nll", "recall"})
    if unknown:
        raise InputError(f"unknown probe kind(s) {unknown} (nll or recall)")
    nll_at = [i for i, r in enumerate(records) if r["probe"] == "nll"]
    recall_at = [i for i, r in enumerate(records) if r["probe"] == "recall"]

    def work():
        return (token_nll(model, tokenizer, [records[i] for i in nll_at], batch_size, log,
                          progress),
                recall(model, tokenizer, [records[i] for i in recall_at], batch_size, log,
                       progress))

    (nlls, recalls), seconds = timed_on_device(model, work)
    out = [{**r, "n_tokens": None, "nll": None, "continuation": None, "exact": None,
            "token_f1": None} for r in records]
    for i, (nll, n_tokens) in zip(nll_at, nlls):
        out[i].update(n_tokens=n_tokens, nll=nll)
    for i, (continuation, exact, f1) in zip(recall_at, recalls):
        out[i].update(continuation=continuation, exact=exact, token_f1=f1)
    timing = {"seconds_total": seconds, "records": len(records), "nll_records": len(nll_at),
              "recall_records": len(recall_at), "batch_size": batch_size, **device_facts(model)}
    return out, timing
