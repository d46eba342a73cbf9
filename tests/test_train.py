"""The training loop learns, and its batches hold exactly the real tokens."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch
from pydantic import ValidationError

from bibleft import batching
from bibleft.asv import Verse
from bibleft.compiling import transformer_blocks
from bibleft.config import LoraOptions, TrainOptions
from bibleft.corpus import tokenize_verses, with_eos
from bibleft.errors import InputError
from bibleft.modeling import build_trainable, load_causal_lm, load_tokenizer
from bibleft.train import TrainCallback, TrainData, train
from fixtures import make_tiny_gpt2, schema_train_options, train_options

VERSES = [
    "In the beginning God created the heavens and the earth.",
    "And God said, Let there be light: and there was light.",
    "Jesus wept.",
    "The Lord is my shepherd; I shall not want.",
    "For God so loved the world, that he gave his only begotten Son.",
    "Rejoice always.",
]


def tiny_corpus(tokenizer, copies: int) -> list[list[int]]:
    verses = [Verse("Genesis", 1, i + 1, text) for i, text in enumerate(VERSES)]
    return with_eos(tokenize_verses(verses, tokenizer, "text")["input_ids"], tokenizer.eos_token_id,
                    True) * copies


def test_steps_per_epoch_keeps_the_last_partial_batch():
    assert batching.steps_per_epoch(31102, 8) == 3888  # the full ASV at the study's batch size
    assert batching.steps_per_epoch(16, 8) == 2
    assert batching.steps_per_epoch(17, 8, world_size=2) == 2  # 3 batches over 2 processes


def test_collate_masks_padding_but_keeps_the_real_eos():
    eos = 50256  # GPT-2 pads with its EOS: padding must be told apart by position, not id
    short, long = [11, 12, eos], [21, 22, 23, 24, 25, eos]
    batch = batching.collate([short, long], pad_id=eos)
    assert batch["input_ids"].shape == (2, 6)  # the longest in the batch, no more
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0], [1] * 6]
    assert batch["labels"].tolist() == [[11, 12, eos, -100, -100, -100], long]


def test_collate_truncates_to_max_length():
    batch = batching.collate([[1, 2, 3, 4, 5], [6, 7]], pad_id=0, max_length=3)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [6, 7, 0]]
    assert batch["labels"].tolist() == [[1, 2, 3], [6, 7, -100]]


def test_collate_fixed_pads_to_the_length_with_the_same_real_tokens():
    examples = [[5, 6, 7], [8, 9]]
    dynamic = batching.collate(examples, pad_id=0)
    fixed = batching.collate_fixed(examples, pad_id=0, length=8)
    assert fixed["input_ids"].shape == (2, 8)
    assert fixed["attention_mask"].sum() == dynamic["attention_mask"].sum() == 5
    assert fixed["labels"][:, :3].tolist() == dynamic["labels"].tolist()
    assert (fixed["labels"][:, 3:] == batching.IGNORE_INDEX).all()


def test_collate_pad_multiple_rounds_the_length_up_but_not_past_max_length():
    examples = [[1, 2, 3], [4, 5, 6, 7, 8]]
    batch = batching.collate(examples, pad_id=0, pad_multiple=4)
    assert batch["input_ids"].shape == (2, 8)
    assert batch["attention_mask"].sum() == 8  # the same real tokens, only more padding
    assert batch["labels"][1].tolist() == [4, 5, 6, 7, 8, -100, -100, -100]
    assert batching.collate(examples, 0, max_length=6, pad_multiple=4)["input_ids"].shape == (2, 6)
    assert batching.collate([[1, 2, 3, 4]], 0, pad_multiple=4)["input_ids"].shape == (1, 4)


def test_pack_examples_cuts_full_blocks_and_drops_the_remainder():
    examples = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10]]
    assert batching.pack_examples(examples, 4) == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert batching.pack_examples(examples, 20) == []


def test_epoch_order_is_a_reproducible_permutation():
    first = batching.epoch_order(50, seed=3, epoch=1)
    assert sorted(first) == list(range(50))
    assert first == batching.epoch_order(50, seed=3, epoch=1)
    assert first != batching.epoch_order(50, seed=3, epoch=2)


def test_rows_by_step_resumes_with_the_batches_of_an_uninterrupted_run():
    examples = [[i] * (1 + i % 5) for i in range(10)]  # 3 steps per epoch at batch 4
    run = list(batching.rows_by_step(examples, 4, seed=1, group_by_length=False,
                                     start_step=0, total_steps=7))
    assert len(run) == 7 and [len(rows) for rows in run[:3]] == [4, 4, 2]
    first_epoch = sorted(tuple(row) for rows in run[:3] for row in rows)
    assert first_epoch == sorted(tuple(ex) for ex in examples)  # each example once an epoch
    assert run[3:6] != run[:3]  # a new order each epoch
    # Resumed mid-epoch (step 2 of epoch 0) and at an epoch boundary (step 3).
    for start in (2, 3, 5):
        assert list(batching.rows_by_step(examples, 4, 1, False, start, 7)) == run[start:]
    # With two processes, each takes every other batch of the same order (6 batches of 2).
    examples = examples + [[10], [11, 11]]
    halves = [list(batching.rows_by_step(examples, 2, 1, False, 0, 3, rank, 2)) for rank in (0, 1)]
    single = list(batching.rows_by_step(examples, 2, 1, False, 0, 6))
    assert halves == [single[0::2], single[1::2]]


def test_group_by_length_puts_similar_lengths_together():
    lengths = [(i * 37) % 100 for i in range(400)]
    grouped = batching.epoch_order(400, 0, 0, lengths, batch_size=4, group_by_length=True)
    plain = batching.epoch_order(400, 0, 0, lengths, batch_size=4)
    assert sorted(grouped) == list(range(400))

    def padding(order):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b)
                   for b in batching.batches_for_epoch(order, 4))
    assert padding(grouped) < padding(plain) / 3


def test_right_padded_batches_need_no_attention_mask(tiny_gpt2):
    """train() leaves the mask out (it forces a host sync and rules out flash attention);
    with right padding and causal attention the loss and every real token's logits are
    the same without it."""
    model = load_causal_lm(tiny_gpt2).eval()
    examples = [[5, 6, 50256], [7, 8, 9, 10, 11, 12, 50256], [13, 14, 15, 50256]]
    for batch in (batching.collate(examples, 50256), batching.collate_fixed(examples, 50256, 16)):
        with torch.no_grad():
            masked = model(**batch)
            unmasked = model(input_ids=batch["input_ids"], labels=batch["labels"])
        real = batch["attention_mask"].bool()
        torch.testing.assert_close(unmasked.loss, masked.loss)
        torch.testing.assert_close(unmasked.logits[real], masked.logits[real])


@pytest.mark.parametrize("packing", [False, True])
def test_loss_falls_on_a_repeated_tiny_corpus(tiny_gpt2, tmp_path, packing):
    tokenizer = load_tokenizer(tiny_gpt2)
    examples = tiny_corpus(tokenizer, copies=12)  # 72 verses, 18 steps per epoch at batch 4
    model = build_trainable(load_causal_lm(tiny_gpt2), "full")
    result = train(model, TrainData(examples, tokenizer.pad_token_id),
                   train_options(epochs=2, packing=packing), 0)
    losses = [r["loss"] for r in result.records]
    assert len(losses) == result.summary["steps"] > 10
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    # From ~ln(50257) = 10.8 for random weights; memorising six verses goes much lower.
    assert last < first - 2.5, (first, last)
    assert all(torch.isfinite(torch.tensor(losses)))


class Flushes(TrainCallback):
    def __init__(self):
        self.calls = []

    def on_flush(self, records, window):
        self.calls.append((records, window))


def test_fixed_padding_trains_on_the_same_real_tokens(tiny_gpt2, monkeypatch):
    tokenizer = load_tokenizer(tiny_gpt2)
    examples = tiny_corpus(tokenizer, copies=1)
    widths, collate_fixed = [], batching.collate_fixed

    def fixed(rows, pad_id, length):  # the benchmarks' way: every example padded to one length
        batch = collate_fixed(rows, pad_id, length)
        widths.append(batch["input_ids"].shape[1])
        return batch

    monkeypatch.setattr(batching, "collate_fixed", fixed)
    seen = {}
    for name, fixed_length in (("dynamic", None), ("fixed", 64)):
        model = build_trainable(load_causal_lm(tiny_gpt2), "full")
        flushes = Flushes()
        result = train(model, TrainData(examples, tokenizer.pad_token_id, fixed_length),
                       train_options(log_every=1), 0, callback=flushes)
        seen[name] = result.summary["tokens_seen"]
        # One call per log window, with its new records and the figures so far.
        assert [[r["step"] for r in records] for records, _ in flushes.calls] == [[1], [2]]
        assert [records[0] for records, _ in flushes.calls] == result.records
        window = flushes.calls[-1][1]
        assert (window.step, window.tokens_seen) == (2, seen[name]) and window.seconds > 0
        assert window.tokens_per_s > 0 and window.peak_memory_mb > 0
    assert widths == [64, 64]  # the fixed length given was the one trained with
    assert seen["dynamic"] == seen["fixed"] == sum(len(ex) for ex in examples)


@pytest.mark.parametrize("warmup, factors", [
    (0, [5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.0]),
    (2, [1 / 2, 1.0, 3 / 4, 2 / 4, 1 / 4, 0.0]),
])
def test_learning_rate_warms_up_linearly_then_decays_linearly_to_zero(tiny_gpt2, warmup, factors):
    """Each record's learning rate is the one after its step (what the next step uses):
    transformers' linear schedule, over 6 steps."""
    tokenizer = load_tokenizer(tiny_gpt2)
    examples = tiny_corpus(tokenizer, copies=2)  # 12 verses: 3 steps an epoch at batch 4
    model = build_trainable(load_causal_lm(tiny_gpt2), "full")
    options = train_options(epochs=2, log_every=1, warmup_steps=warmup)
    result = train(model, TrainData(examples, tokenizer.pad_token_id), options, 0)
    rates = [r["learning_rate"] for r in result.records]
    assert rates == pytest.approx([options.learning_rate * f for f in factors], abs=1e-12)


def test_tokens_seen_counts_real_tokens_not_padding(tiny_gpt2, capsys):
    tokenizer = load_tokenizer(tiny_gpt2)
    examples = tiny_corpus(tokenizer, copies=2)
    model = build_trainable(load_causal_lm(tiny_gpt2), "full")
    options = train_options(epochs=1)
    result = train(model, TrainData(examples, tokenizer.pad_token_id), options, 0)
    summary = result.summary
    assert summary["steps"] == batching.steps_per_epoch(len(examples), options.batch_size)
    assert summary["tokens_seen"] == sum(len(ex) for ex in examples)
    assert "tokens/s" in capsys.readouterr().err and summary["tokens_per_second"] > 0


def test_lora_trains_only_the_adapter(tiny_gpt2):
    tokenizer = load_tokenizer(tiny_gpt2)
    examples = tiny_corpus(tokenizer, copies=2)
    model = build_trainable(load_causal_lm(tiny_gpt2), "lora", LoraOptions(r=4, alpha=8, dropout=0.0),
                            ["c_attn", "c_proj", "c_fc"])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = train(model, TrainData(examples, tokenizer.pad_token_id), train_options(max_steps=3), 0)
    changed = {n for n, p in result.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)


def _train_without_dropout(model_dir, examples, pad_id, method="full", **settings) -> dict:
    # The same LoRA initialisation in every run compared (peft draws lora_A at random);
    # without it the runs agreed only where the test before had left the RNG in the state a
    # training run leaves it, and failed when run alone.
    torch.manual_seed(0)
    model = build_trainable(load_causal_lm(model_dir), method, LoraOptions(r=4, alpha=8, dropout=0.0),
                            ["c_attn", "c_proj", "c_fc"])
    torch._dynamo.reset()  # compile from scratch: earlier tests' graphs must not count
    for module in model.modules():  # dropout draws differ between eager and compiled code
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    log = io.StringIO()
    with contextlib.redirect_stderr(log):
        result = train(model, TrainData(examples, pad_id),
                       train_options(log_every=1, max_steps=4, **settings), 0)
    return {"losses": [r["loss"] for r in result.records], "summary": result.summary,
            "log": log.getvalue(), "model": result.model}


@pytest.mark.e2e
def test_pad_multiple_and_compile_train_the_same_as_eager(tiny_gpt2):
    """Rounding batch lengths up (for torch.compile / CUDA graphs) adds only pads out of the
    loss, and the compiled model (one graph for all lengths) computes the eager losses."""
    tokenizer = load_tokenizer(tiny_gpt2)
    examples = tiny_corpus(tokenizer, copies=3)  # batches of different lengths
    pad = tokenizer.pad_token_id
    eager = _train_without_dropout(tiny_gpt2, examples, pad)
    padded = _train_without_dropout(tiny_gpt2, examples, pad, pad_multiple=16)
    compiled = _train_without_dropout(tiny_gpt2, examples, pad, pad_multiple=16,
                                      compile="reduce-overhead")  # no CUDA graphs on a CPU
    assert eager["summary"]["compile"] is None
    # One graph for the whole model and loss: a graph break would leave part of each step
    # eager and split a CUDA-graphs step (GPT-2's unnamed loss type did both).
    assert compiled["summary"]["compile"] == {"mode": "reduce-overhead", "graphs": 1,
                                              "graph_breaks": 0, "graph_break_reasons": {}}
    assert "torch.compile reduce-overhead: 1 graph(s), 0 graph break(s)" in compiled["log"]
    assert len(eager["losses"]) == 4 and eager["losses"][-1] < eager["losses"][0]
    torch.testing.assert_close(padded["losses"], eager["losses"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(compiled["losses"], eager["losses"], rtol=1e-4, atol=1e-4)


@pytest.mark.e2e
def test_compiled_lora_is_one_graph_and_trains_the_same_as_eager(tiny_gpt2):
    tokenizer = load_tokenizer(tiny_gpt2)
    examples = tiny_corpus(tokenizer, copies=3)
    pad = tokenizer.pad_token_id
    eager = _train_without_dropout(tiny_gpt2, examples, pad, "lora", pad_multiple=16)
    compiled = _train_without_dropout(tiny_gpt2, examples, pad, "lora", pad_multiple=16,
                                      compile="reduce-overhead")
    report = compiled["summary"]["compile"]
    assert (report["graphs"], report["graph_breaks"]) == (1, 0), report
    torch.testing.assert_close(compiled["losses"], eager["losses"], rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def four_block_gpt2(tmp_path_factory):
    return make_tiny_gpt2(tmp_path_factory.mktemp("models") / "gpt2-4-blocks", n_layer=4)


@pytest.mark.e2e
@pytest.mark.parametrize("method, graphs", [("full", 1), ("lora", 2)])
def test_block_compilation_shares_one_graph_across_blocks(four_block_gpt2, method, graphs):
    """compile_scope: blocks compiles each transformer block alone. The four blocks share
    one compiled graph (LoRA two: the first block's input needs no gradient, the others'
    do), so compile time does not grow with depth (GPT-2 Large has 36 blocks), and the
    losses are the eager run's."""
    tokenizer = load_tokenizer(four_block_gpt2)
    examples = tiny_corpus(tokenizer, copies=3)
    pad = tokenizer.pad_token_id
    eager = _train_without_dropout(four_block_gpt2, examples, pad, method, pad_multiple=16)
    blocks = _train_without_dropout(four_block_gpt2, examples, pad, method, pad_multiple=16,
                                    compile="reduce-overhead", compile_scope="blocks")
    assert blocks["summary"]["compile"] == {"mode": "reduce-overhead", "graphs": graphs,
                                            "graph_breaks": 0, "graph_break_reasons": {}}
    torch.testing.assert_close(blocks["losses"], eager["losses"], rtol=1e-4, atol=1e-4)
    # Compiled in place: the trained model saves under the same names as an eager one.
    assert blocks["model"].state_dict().keys() == eager["model"].state_dict().keys()


def test_block_compilation_needs_a_model_that_names_its_blocks(tiny_gpt2):
    model = build_trainable(load_causal_lm(tiny_gpt2), "lora", LoraOptions(r=4, alpha=8, dropout=0.0),
                            ["c_attn"])
    assert len(transformer_blocks(model)) == 2  # found through peft's wrapper
    model.get_base_model()._no_split_modules = None
    with pytest.raises(InputError, match=r"train\.compile_scope: blocks: GPT2LMHeadModel names "
                                         r"no block class .*use compile_scope: model"):
        transformer_blocks(model)


def test_train_options_take_exactly_their_keys():
    """Defaults live in TrainOptions alone: a key left out takes its field's default (the
    config fills none in), a key it lacks fails, naming it."""
    values = schema_train_options().as_dict()
    del values["warmup_steps"]
    assert TrainOptions.from_dict(values).warmup_steps == TrainOptions.model_fields["warmup_steps"].default
    assert TrainOptions.from_dict(values) == TrainOptions()
    with pytest.raises(ValidationError, match=r"warmup_step\n.*Extra inputs are not permitted"):
        TrainOptions.from_dict({**values, "warmup_step": 3})


def test_train_needs_the_options_of_one_fine_tune(tiny_gpt2):
    model = load_causal_lm(tiny_gpt2)
    data = TrainData([[1, 2, 3]], 0)
    with pytest.raises(ValueError, match=r"per method.*for_method"):
        train(model, data, train_options(compile={"full": "default", "lora": False}), 0)
