"""Turning tokenized examples into training batches: order, phases, packing and padding.

A run reads its examples in phases, one after another (a recipe's parts: the text, then
the trained split's questions, ...), each for its own epochs; the study's run is one phase.
An example's leading `context` tokens (a question-answer example's prompt) are read but
left out of the loss, so only its answer is learned."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch

IGNORE_INDEX = -100  # labels with this value are left out of the loss


def pack_examples(examples: list[list[int]], block_size: int) -> list[list[int]]:
    """Concatenate examples (ending in EOS if `train.eos` added one) and cut fixed blocks.

    The remainder shorter than a block is dropped, as in HF's run_clm.
    """
    flat = [tok for ex in examples for tok in ex]
    n_blocks = len(flat) // block_size
    return [flat[i * block_size:(i + 1) * block_size] for i in range(n_blocks)]


def epoch_order(n_examples: int, seed: int, epoch: int, lengths: list[int] | None = None,
                batch_size: int = 1, group_by_length: bool = False) -> list[int]:
    """A shuffled order of example indices, reproducible from (seed, epoch) alone.

    Being a pure function of (seed, epoch) lets a resumed run skip to where it stopped.
    With `group_by_length`, mega-batches of 50 batches are sorted by length so that a
    batch holds verses of similar length (less padding; changes which verses share a
    batch, so it is off for the paper's run).
    """
    generator = torch.Generator().manual_seed(seed * 1000 + epoch)
    order = torch.randperm(n_examples, generator=generator).tolist()
    if group_by_length and lengths is not None:
        mega = 50 * batch_size
        order = [i for start in range(0, n_examples, mega)
                 for i in sorted(order[start:start + mega], key=lambda j: -lengths[j])]
    return order


def batches_for_epoch(order: list[int], batch_size: int, rank: int = 0,
                      world_size: int = 1) -> list[list[int]]:
    """Consecutive batches of `order`; with several processes each takes every N-th."""
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return batches[rank::world_size]


def steps_per_epoch(n_examples: int, batch_size: int, world_size: int = 1) -> int:
    # The last partial batch is kept (HF Trainer's default): 31,102 / 8 -> 3,888 steps.
    return math.ceil(math.ceil(n_examples / batch_size) / world_size)


@dataclass(frozen=True)
class Phase:
    """One phase of a run: `count` examples from `start` (in the run's list), read for
    `epochs` epochs of `per_epoch` steps, from step `first_step` and epoch `first_epoch` of
    the run on."""

    start: int
    count: int
    epochs: int
    per_epoch: int
    first_step: int
    first_epoch: int

    @property
    def steps(self) -> int:
        return self.epochs * self.per_epoch


def plan_phases(sizes: list[tuple[int, int]], batch_size: int, world_size: int = 1) -> list[Phase]:
    """The phases of a run whose examples come in parts of (count, epochs), in order."""
    phases, start, step, epoch = [], 0, 0, 0
    for count, epochs in sizes:
        per_epoch = steps_per_epoch(count, batch_size, world_size)
        phases.append(Phase(start, count, epochs, per_epoch, step, epoch))
        start, step, epoch = start + count, step + epochs * per_epoch, epoch + epochs
    return phases


def epoch_at(phases: list[Phase], step: int) -> float:
    """The run's epoch at `step`, counted over the phases (1.5: half of the second)."""
    phase = next((p for p in phases if step < p.first_step + p.steps), phases[-1])
    return phase.first_epoch + (step - phase.first_step) / phase.per_epoch


def indices_by_step(lengths: list[int], phases: list[Phase], batch_size: int, seed: int,
                    group_by_length: bool, start_step: int, total_steps: int, rank: int = 0,
                    world_size: int = 1) -> Iterator[list[int]]:
    """This process's example indices for each step from `start_step` up to `total_steps`,
    phase after phase, epoch after epoch within a phase.

    Each epoch's order is a pure function of (seed, the run's epoch), so a run resumed at
    any step trains on the very batches the interrupted run would have; one phase of all
    the examples is the study's run, epoch after epoch."""
    step = start_step
    for phase in phases:
        while phase.first_step <= step < min(phase.first_step + phase.steps, total_steps):
            epoch = (step - phase.first_step) // phase.per_epoch
            own = lengths[phase.start:phase.start + phase.count]
            order = epoch_order(phase.count, seed, phase.first_epoch + epoch, own, batch_size,
                                group_by_length)
            done = phase.first_step + epoch * phase.per_epoch
            for batch in batches_for_epoch(order, batch_size, rank, world_size)[step - done:]:
                if step >= total_steps:
                    return
                yield [phase.start + i for i in batch]
                step += 1


def rows_by_step(examples: list[list[int]], batch_size: int, seed: int, group_by_length: bool,
                 start_step: int, total_steps: int, rank: int = 0,
                 world_size: int = 1) -> Iterator[list[list[int]]]:
    """This process's examples for each step of a one-phase run (indices_by_step)."""
    phases = plan_phases([(len(examples), math.inf)], batch_size, world_size)
    for batch in indices_by_step([len(ex) for ex in examples], phases, batch_size, seed,
                                 group_by_length, start_step, total_steps, rank, world_size):
        yield [examples[i] for i in batch]


def collate(examples: list[list[int]], pad_id: int, max_length: int | None = None,
            pad_to: int | None = None, pad_multiple: int = 1,
            contexts: list[int] | None = None) -> dict:
    """The batch {input_ids, attention_mask, labels}: the examples cut to `max_length` and
    padded on the right to the longest in the batch (dynamic padding) or to `pad_to`
    tokens, whichever is longer.

    `pad_multiple` rounds the padded length up to a multiple (never past `max_length`):
    a compiled model, and above all a CUDA graph, is made once per distinct shape, so
    verse lengths 2..113 would mean ~100 of them, in multiples of 16 only 8. The extra
    pads sit after every real token and out of the loss, so the loss does not change.

    Labels are the input ids with padding set to IGNORE_INDEX, chosen by the attention
    mask, not by token id: with `pad_token = eos` the stock LM collator would also drop
    each verse's real EOS from the loss, and the model would never learn to stop. An
    example's first `contexts[i]` tokens are IGNORE_INDEX too (out of the loss).
    """
    if max_length is not None:
        examples = [ex[:max_length] for ex in examples]
    longest = max(len(ex) for ex in examples)
    if pad_to is not None:
        longest = max(longest, pad_to)
    if pad_multiple > 1:
        rounded = -(-longest // pad_multiple) * pad_multiple
        longest = max(longest, min(rounded, max_length)) if max_length else rounded
    input_ids = torch.full((len(examples), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), longest), dtype=torch.long)
    for row, ex in enumerate(examples):
        input_ids[row, :len(ex)] = torch.tensor(ex, dtype=torch.long)
        attention_mask[row, :len(ex)] = 1
    labels = input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX)
    for row, context in enumerate(contexts or []):
        labels[row, :context] = IGNORE_INDEX
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def collate_padding_free(examples: list[list[int]], pad_id: int, max_length: int | None = None,
                         pad_multiple: int = 1, contexts: list[int] | None = None) -> dict:
    """The batch as one row without padding: {input_ids, labels, position_ids} of shape
    [1, real tokens], and `attention_mask` marking the real tokens (for counting them; the
    model is not given it).

    transformers' own collator for it (`DataCollatorWithFlattening`) lays the examples end
    to end, restarts the position ids at each and leaves each example's first token out of
    the labels, which no position of its own predicts, as in a padded batch. Called without
    an attention mask and without a cache, a model of `PADDING_FREE_MODEL_TYPES` builds its
    packed-sequence mask from those position ids (masking_utils.find_packed_sequence_indices):
    each example attends to itself alone, so the predictions and the loss (the mean over the
    same labels) are a padded batch's, with no position computed for a pad.

    `pad_multiple` rounds the row up with pads after the last example, laid out as an
    example of their own (positions from 0, out of the loss), so they see nothing real and
    nothing real sees them. An example's first `contexts[i]` tokens are out of the loss.
    """
    from transformers import DataCollatorWithFlattening

    if max_length is not None:
        examples = [ex[:max_length] for ex in examples]
    features = [{"input_ids": ex} for ex in examples]
    if contexts is not None:
        features = [{**f, "labels": [IGNORE_INDEX] * min(c, len(f["input_ids"])) + f["input_ids"][c:]}
                    for f, c in zip(features, contexts)]
    batch = DataCollatorWithFlattening(separator_id=IGNORE_INDEX)(features, return_tensors="pt")
    real = batch["input_ids"].shape[1]
    extra = -(-real // pad_multiple) * pad_multiple - real if pad_multiple > 1 else 0
    if extra:
        batch["input_ids"] = torch.cat([batch["input_ids"], torch.full((1, extra), pad_id)], 1)
        batch["labels"] = torch.cat([batch["labels"], torch.full((1, extra), IGNORE_INDEX)], 1)
        batch["position_ids"] = torch.cat([batch["position_ids"], torch.arange(extra)[None]], 1)
    attention_mask = torch.zeros_like(batch["input_ids"])
    attention_mask[:, :real] = 1
    return {"input_ids": batch["input_ids"], "attention_mask": attention_mask,
            "labels": batch["labels"], "position_ids": batch["position_ids"]}


def padding_free_pays(lengths: list[int], hidden_size: int, segments: bool = False) -> bool:
    """Whether one padding-free row of examples of these lengths computes no more than
    their padded batch. Always, where the model attends by example (`segments`:
    bibleft.attention): the row computes the real tokens alone and scores Σ Lᵢ² pairs,
    no more than the padded batch's B·L².

    A transformer block costs ~12·d² multiply-adds per position (its projections and MLP;
    d = `hidden_size`) and ~2·d per pair of positions its attention scores. The padded
    batch computes B·L positions (B examples, the longest L) and scores B·L² pairs; the
    padding-free row computes T, the real tokens, but scores all T² pairs of its row (the
    packed-sequence mask hides the pairs across examples; SDPA computes them all the
    same). So the row pays when 12·d²·(B·L − T) >= 2·d·(T² − B·L²): for a batch of verses
    always (~40 tokens each, much padding, short rows), for 8 examples of 512 tokens never.
    """
    if segments:
        return True
    longest, total = max(lengths), sum(lengths)
    padded = len(lengths) * longest
    return 6 * hidden_size * (padded - total) >= total * total - padded * longest


def collate_fixed(examples: list[list[int]], pad_id: int, length: int) -> dict:
    """Pad every example to a fixed length (what the study most likely did); for benchmarks."""
    return collate(examples, pad_id, max_length=length, pad_to=length)
