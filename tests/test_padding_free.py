"""Padding-free batches (train.padding_free): a step's examples in one row, position ids
restarting at each, train exactly as padded batches: the same predictions, losses,
gradients and trained weights to float tolerance, on every architecture that takes them
(bibleft.modeling.PADDING_FREE_MODEL_TYPES), with no example attending to another."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch

from bibleft import batching
from bibleft.attention import SEGMENTS, attending_by_segments, segment_bounds
from bibleft.batching import IGNORE_INDEX
from bibleft.modeling import PADDING_FREE_MODEL_TYPES, build_trainable, takes_padding_free
from bibleft.config import LoraOptions
from bibleft.train import TrainData, train
from fixtures import train_options

VOCAB = 97
PAD = 0
# Lengths that differ (padding in every padded batch), one example of a single token (no
# label of its own) and one of two.
EXAMPLES = [[(7 * i + 3 * j) % (VOCAB - 1) + 1 for j in range(n)]
            for i, n in enumerate([9, 3, 14, 1, 6, 11, 2, 8, 13, 5, 4, 10])]


def tiny_model(model_type: str, seed: int = 0):
    """A randomly initialised causal LM of `model_type`, tiny, without dropout (dropout
    draws other masks for other shapes), on sdpa attention as load_causal_lm loads models."""
    from transformers import (AutoModelForCausalLM, Gemma3TextConfig, GPT2Config,
                              GPTNeoXConfig, LlamaConfig, OPTConfig, Qwen2Config)

    shapes = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, max_position_embeddings=64)
    configs = {
        "gpt2": lambda: GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                   resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                   bos_token_id=1, eos_token_id=1),
        # Llama-shaped: SmolLM2's architecture (grouped-query attention, RoPE, SwiGLU).
        "llama": lambda: LlamaConfig(**shapes, num_key_value_heads=2),
        "qwen2": lambda: Qwen2Config(**shapes, num_key_value_heads=2),
        "gpt_neox": lambda: GPTNeoXConfig(**shapes, hidden_dropout=0.0, attention_dropout=0.0),
        # Gemma 3's text model with its sliding-window layers (window 4: shorter than some
        # examples, so the packed sliding-window mask is exercised too).
        "gemma3_text": lambda: Gemma3TextConfig(**shapes, num_key_value_heads=2, head_dim=8,
                                                sliding_window=4,
                                                layer_types=["sliding_attention", "full_attention"]),
        "opt": lambda: OPTConfig(vocab_size=VOCAB, hidden_size=32, ffn_dim=64, num_hidden_layers=2,
                                 num_attention_heads=4, max_position_embeddings=64, dropout=0.0,
                                 attention_dropout=0.0, word_embed_proj_dim=32),
    }
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(configs[model_type](), attn_implementation="sdpa")
    model.loss_type = "ForCausalLM"  # as build_trainable names it
    return model


# --- the collate -----------------------------------------------------------------------------

def test_padding_free_collate_lays_examples_end_to_end_with_restarting_positions():
    batch = batching.collate_padding_free([[5, 6, 7], [8], [9, 10]], pad_id=PAD)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9, 10]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 0, 1]]
    # Each example's first token is predicted by no position of its own: out of the loss.
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 6, 7, IGNORE_INDEX, IGNORE_INDEX, 10]]
    assert batch["attention_mask"].tolist() == [[1] * 6]


def test_padding_free_collate_cuts_to_max_length_and_rounds_up_with_a_pad_example():
    batch = batching.collate_padding_free([[5, 6, 7, 8], [9, 10]], pad_id=PAD, max_length=3,
                                          pad_multiple=4)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 9, 10, PAD, PAD, PAD]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0, 1, 2]]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 6, 7, IGNORE_INDEX, 10] + [IGNORE_INDEX] * 3]
    assert batch["attention_mask"].sum().item() == 5  # the real tokens, what tokens/s counts


def test_a_row_is_laid_padding_free_only_where_it_computes_no_more_than_padding():
    # Verses: ~40 tokens, a third of a padded batch pads; the row's attention is small.
    assert batching.padding_free_pays([9, 31, 44, 52, 27, 80, 35, 40], hidden_size=576)
    # Eight long examples of about one length: nothing to spare, a row's attention 8x.
    assert not batching.padding_free_pays([512] * 8, hidden_size=576)
    assert not batching.padding_free_pays([500, 512, 490, 505, 512, 498, 511, 507], hidden_size=1280)
    # One long and seven short: the pads outweigh the row's extra attention.
    assert batching.padding_free_pays([512] + [10] * 7, hidden_size=576)
    assert batching.padding_free_pays([37], hidden_size=576)  # one example: the same work


def test_training_pads_the_steps_a_row_would_cost_more(monkeypatch):
    laid_free = []
    real, real_pays = batching.collate_padding_free, batching.padding_free_pays
    monkeypatch.setattr(batching, "collate_padding_free",
                        lambda rows, *a, **k: laid_free.append(len(rows)) or real(rows, *a, **k))

    def steps_laid_free(examples) -> int:
        laid_free.clear()
        model = build_trainable(tiny_model("llama"), "full")
        with contextlib.redirect_stderr(io.StringIO()):
            result = train(model, TrainData(examples, PAD),
                           train_options(batch_size=4, log_every=1, max_steps=3, padding_free=True), 0)
        assert result.summary["batches"] == "padding-free"  # the setting; each step decides
        return len(laid_free)

    # Examples of one length, 60 tokens: no pad to spare; with the packed-sequence mask a
    # row's attention would be 4x, so sdpa (a GPU's) pads them; attending by example (a
    # CPU's) a row scores no more pairs than the padded batch, so every step is one row.
    same_length = [[(3 * i + j) % (VOCAB - 1) + 1 for j in range(60)] for i in range(12)]
    with monkeypatch.context() as on_a_gpu:
        on_a_gpu.setattr(batching, "padding_free_pays",
                         lambda lengths, width, segments: real_pays(lengths, width, False))
        assert steps_laid_free(same_length) == 0
        assert steps_laid_free(EXAMPLES) == 3  # short, of many lengths: every step one row
    assert steps_laid_free(same_length) == 3


def test_padding_free_computes_fewer_positions_than_padding():
    padded = batching.collate(EXAMPLES, PAD)["input_ids"].numel()
    free = batching.collate_padding_free(EXAMPLES, PAD)["input_ids"].numel()
    assert free == sum(map(len, EXAMPLES)) < padded


# --- one forward and backward pass, each architecture ------------------------------------------

TESTED_TYPES = ["gpt2", "llama", "qwen2", "gpt_neox", "gemma3_text"]


def test_every_padding_free_architecture_is_tested_here():
    assert set(TESTED_TYPES) == PADDING_FREE_MODEL_TYPES


def forward(model, batch: dict) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """(loss, gradients, logits) of one pass the way train() calls the model: no attention
    mask, no cache, position ids where the batch has them."""
    model.zero_grad(set_to_none=True)
    positions = {"position_ids": batch["position_ids"]} if "position_ids" in batch else {}
    out = model(input_ids=batch["input_ids"], labels=batch["labels"], use_cache=False, **positions)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out.loss.detach(), grads, out.logits.detach()


@pytest.mark.parametrize("model_type", TESTED_TYPES)
def test_padding_free_gives_the_padded_loss_gradients_and_predictions(model_type):
    model = tiny_model(model_type)
    model.train()
    padded = batching.collate(EXAMPLES, PAD)
    free = batching.collate_padding_free(EXAMPLES, PAD, pad_multiple=8)
    loss_padded, grads_padded, logits_padded = forward(model, padded)
    loss_free, grads_free, logits_free = forward(model, free)
    torch.testing.assert_close(loss_free, loss_padded, rtol=1e-6, atol=1e-6)
    assert grads_free.keys() == grads_padded.keys()
    for name in grads_padded:
        torch.testing.assert_close(grads_free[name], grads_padded[name], rtol=1e-4, atol=1e-6,
                                   msg=lambda m: f"{model_type} {name}: {m}")
    # Each real position predicts what it predicts alone in its padded row.
    real = padded["attention_mask"].bool()
    torch.testing.assert_close(logits_free[0, :real.sum()], logits_padded[real], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model_type", TESTED_TYPES)
def test_attending_by_example_gives_the_padded_loss_gradients_and_predictions(model_type, monkeypatch):
    # What train() runs on a CPU (bibleft.attention): SDPA per example of the row. Gemma 3's
    # window (4) is shorter than most examples: its sliding layer's call goes to sdpa with
    # its mask, its full layer attends by example.
    model = tiny_model(model_type)
    model.train()
    padded = batching.collate(EXAMPLES, PAD)
    loss_padded, grads_padded, logits_padded = forward(model, padded)
    calls, sdpa = [], torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda *a, **k: calls.append(a[0].shape[2]) or sdpa(*a, **k))
    with attending_by_segments(model):
        assert model.config._attn_implementation == SEGMENTS
        loss, grads, logits = forward(model, batching.collate_padding_free(EXAMPLES, PAD, pad_multiple=8))
    assert model.config._attn_implementation == "sdpa"  # as loaded, after
    # A layer attending by example: a call per example, on the example's queries alone.
    lengths = [len(ex) for ex in EXAMPLES]
    assert lengths in [calls[i:i + len(lengths)] for i in range(len(calls))]
    torch.testing.assert_close(loss, loss_padded, rtol=1e-6, atol=1e-6)
    for name in grads_padded:
        torch.testing.assert_close(grads[name], grads_padded[name], rtol=1e-4, atol=1e-6,
                                   msg=lambda m: f"{model_type} {name}: {m}")
    real = padded["attention_mask"].bool()
    torch.testing.assert_close(logits[0, :real.sum()], logits_padded[real], rtol=1e-4, atol=1e-5)


def test_attending_by_example_hands_what_it_does_not_serve_to_sdpa():
    # Generation (an attention mask, a KV cache) inside the block: sdpa's answers.
    model = tiny_model("llama").eval()
    prompt = torch.tensor([[5, 9, 2, 7, 3]])
    with torch.no_grad():
        before = model.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=PAD)
        with attending_by_segments(model):
            during = model.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=PAD)
    assert during.tolist() == before.tolist()


def test_a_row_s_examples_are_found_where_the_positions_restart():
    positions = torch.tensor([[0, 1, 2, 0, 1, 0, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 0, 1, 0, 1]])
    assert segment_bounds(positions) == [[(0, 3), (3, 5), (5, 6), (6, 10)],
                                         [(0, 6), (6, 8), (8, 10)]]


@pytest.mark.parametrize("model_type", TESTED_TYPES)
def test_no_example_attends_to_another_in_a_padding_free_row(model_type):
    model = tiny_model(model_type).eval()
    changed = [list(EXAMPLES[0]), *EXAMPLES[1:]]
    changed[0] = [(t % (VOCAB - 2)) + 2 for t in changed[0]]  # the first example's tokens only
    for segments in (False, True):  # the packed-sequence mask, and attending by example
        with torch.no_grad(), attending_by_segments(model, segments):
            logits = [model(**{k: v for k, v in batching.collate_padding_free(rows, PAD).items()
                               if k in ("input_ids", "position_ids")}, use_cache=False).logits
                      for rows in (EXAMPLES, changed)]
        first = len(EXAMPLES[0])
        assert not torch.allclose(logits[0][0, :first], logits[1][0, :first])
        torch.testing.assert_close(logits[1][0, first:], logits[0][0, first:], rtol=1e-5, atol=1e-6)


# --- whole training runs ----------------------------------------------------------------------

def train_tiny(model_type: str, method: str, targets: list[str], **settings) -> dict:
    torch.manual_seed(0)  # the same LoRA initialisation in both runs compared
    model = build_trainable(tiny_model(model_type), method, LoraOptions(r=4, alpha=8, dropout=0.0),
                            targets)
    log = io.StringIO()
    with contextlib.redirect_stderr(log):
        result = train(model, TrainData(EXAMPLES * 2, PAD),
                       train_options(log_every=1, max_steps=5, **settings), 0)
    return {"losses": [r["loss"] for r in result.records], "summary": result.summary,
            "log": log.getvalue(), "weights": {n: p.detach().clone()
                                               for n, p in result.model.named_parameters()}}


@pytest.mark.parametrize("model_type, targets", [
    ("gpt2", ["c_attn", "c_proj", "c_fc"]),  # the study's model
    ("llama", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),  # the demo's
])
@pytest.mark.parametrize("method", ["full", "lora"])
def test_padding_free_training_matches_padded_training(model_type, targets, method):
    padded = train_tiny(model_type, method, targets, padding_free=False)
    free = train_tiny(model_type, method, targets, padding_free=True)
    assert "batches=padding-free" in free["log"] and "batches=padded" in padded["log"]
    assert (free["summary"]["attention"], padded["summary"]["attention"]) == (SEGMENTS, "sdpa")
    assert len(free["losses"]) == 5 and free["losses"][-1] < free["losses"][0]
    # Per step and in the trained weights (what the checkpoint saves): float tolerance.
    torch.testing.assert_close(free["losses"], padded["losses"], rtol=1e-5, atol=1e-6)
    for name, weight in padded["weights"].items():
        torch.testing.assert_close(free["weights"][name], weight, rtol=1e-4, atol=1e-5,
                                   msg=lambda m: f"{name}: {m}")
    # The same real tokens counted, no pad among them.
    assert free["summary"]["tokens_seen"] == padded["summary"]["tokens_seen"]


def test_an_architecture_outside_the_list_trains_on_padded_batches():
    model = tiny_model("opt")
    assert not takes_padding_free(model)
    result = train_tiny("opt", "full", [], padding_free=True)
    assert "batches=padded (architecture opt is not in PADDING_FREE_MODEL_TYPES)" in result["log"]


def test_packed_blocks_hold_no_padding_to_leave_out():
    packed = train_tiny("gpt2", "full", [], padding_free=True, packing=True, block_size=8)
    assert "packing=True batches=padded" in packed["log"]


def test_a_compiled_fine_tune_trains_on_padded_batches_and_does_not_rerun_for_it():
    options = train_options(padding_free=True, compile={"full": "reduce-overhead", "lora": False})
    job = {m: options.for_method(m) for m in ("full", "lora")}
    assert job["full"].padding_free is False and job["lora"].padding_free is True
    flipped = train_options(padding_free=False, compile=options.compile)
    assert flipped.for_method("full") == job["full"]
