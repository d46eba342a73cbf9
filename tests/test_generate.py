"""Batched generation (left padding, shared-prefix cache) answers exactly as the study's
way does, one prompt at a time, and a merged LoRA answers exactly as the unmerged adapter
(greedy, fp32, CPU, tiny GPT-2)."""

from __future__ import annotations

import pytest
import torch

from bibleft.generate import (answer_length, answer_questions, greedy_continuations, load_for_generation,
                              shared_prefix_length)
from bibleft.modeling import build_trainable, load_causal_lm, load_tokenizer
from bibleft.config import LoraOptions
from bibleft.prompts import PAPER_PROMPT, build_prompt
from fixtures import BIBLEQA_LINES

# Questions of very different lengths, so that batches need real left padding.
QUESTIONS = [line.split("\t")[0].split(". ", 1)[1].strip('"') for line in BIBLEQA_LINES[1:9]]
SHORT_PROMPTS = ["Q: Who?\nA:", "In the beginning God created the heaven and the earth. And the earth"]
MAX_NEW_TOKENS = 15


def paper_prompts() -> list[str]:
    """The study's prompts, plus two that share nothing with them (no shared prefix)."""
    return [build_prompt(PAPER_PROMPT, q) for q in QUESTIONS] + SHORT_PROMPTS


def one_at_a_time(model, tokenizer, prompts):
    """The study's way: each prompt alone, no padding, no shared cache."""
    return greedy_continuations(model, tokenizer, prompts, MAX_NEW_TOKENS, batch_size=1,
                            progress=False, prefix_cache=False)


@pytest.fixture(scope="module")
def tiny(tiny_gpt2):
    torch.manual_seed(0)
    return load_causal_lm(tiny_gpt2).eval(), load_tokenizer(tiny_gpt2, padding_side="left")


def test_prompts_really_differ_in_length(tiny):
    _, tokenizer = tiny
    lengths = {len(tokenizer(p)["input_ids"]) for p in paper_prompts()}
    assert len(lengths) >= 6 and max(lengths) - min(lengths) >= 50


def test_shared_prefix_length_leaves_each_sequence_a_token():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert shared_prefix_length([[1, 2], [1, 2, 3]]) == 1
    assert shared_prefix_length([[7, 8, 9], [7, 8, 9]]) == 2
    assert shared_prefix_length([[1, 2], [3, 4]]) == 0


@pytest.mark.parametrize("batch_size", [3, 16])
def test_batched_answers_equal_one_at_a_time(tiny, batch_size):
    model, tokenizer = tiny
    prompts = paper_prompts()  # no shared prefix: plain left padding
    single = one_at_a_time(model, tokenizer, prompts)
    batched = greedy_continuations(model, tokenizer, prompts, MAX_NEW_TOKENS, batch_size=batch_size,
                               progress=False)
    assert batched == single
    # A random tiny model still says something: the comparison is not between empty strings.
    assert sum(len(r) > 0 for r in single) >= len(prompts) // 2


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_shared_prefix_cache_answers_equal_one_at_a_time(tiny, batch_size):
    model, tokenizer = tiny
    prompts = paper_prompts()[:len(QUESTIONS)]  # the study's prompts only: one shared prefix
    assert shared_prefix_length(tokenizer(prompts)["input_ids"]) > 40  # the few-shot examples
    cached = greedy_continuations(model, tokenizer, prompts, MAX_NEW_TOKENS, batch_size,
                              progress=False, prefix_cache=True)
    assert cached == one_at_a_time(model, tokenizer, prompts)


def test_answers_come_back_in_input_order(tiny):
    model, tokenizer = tiny
    prompts = paper_prompts()
    forward = greedy_continuations(model, tokenizer, prompts, MAX_NEW_TOKENS, batch_size=4, progress=False)
    backward = greedy_continuations(model, tokenizer, prompts[::-1], MAX_NEW_TOKENS, batch_size=4,
                                progress=False)
    assert backward == forward[::-1]


def test_answer_questions_records_and_timing(tiny):
    model, tokenizer = tiny
    questions = [{"id": i, "position": i + 1, "question": q, "answer": "x"}
                 for i, q in enumerate(QUESTIONS[:3])]
    records, timing = answer_questions(model, tokenizer, questions, PAPER_PROMPT, 5, batch_size=2)
    assert [r["id"] for r in records] == [0, 1, 2] and [r["position"] for r in records] == [1, 2, 3]
    assert timing["answers"] == 3 and timing["seconds_total"] > 0 and timing["dtype"] == "float32"
    assert timing["matmul_precision"] == "ieee"
    for record, question in zip(records, QUESTIONS):  # counted as one prompt alone counts
        prompt = tokenizer(build_prompt(PAPER_PROMPT, question), return_tensors="pt")
        out = model.generate(**prompt, max_new_tokens=5, do_sample=False,
                             pad_token_id=tokenizer.eos_token_id)[0, prompt["input_ids"].shape[1]:]
        alone = out.tolist().index(tokenizer.eos_token_id) if tokenizer.eos_token_id in out else len(out)
        assert record["new_tokens"] == alone and record["stopped"] == (alone < 5)


def test_answer_length_stops_at_the_first_end_of_text():
    eos = 50256
    assert answer_length([11, 12, eos, eos, eos], {eos}) == (2, True)
    assert answer_length([eos, 11], {eos}) == (0, True)
    assert answer_length([11, 12, 13], {eos}) == (3, False)


def test_merged_lora_answers_equal_unmerged_adapter(tiny_gpt2, tmp_path):
    torch.manual_seed(1)
    base = load_causal_lm(tiny_gpt2)
    peft_model = build_trainable(base, "lora", LoraOptions(r=4, alpha=8, dropout=0.0),
                                 ["c_attn", "c_proj", "c_fc"])
    # A fresh adapter is the identity (B = 0); give it weights so the merge has work to do.
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.5)
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    peft_model.eval()
    tokenizer = load_tokenizer(tiny_gpt2, padding_side="left")
    prompts = paper_prompts()

    merged = load_for_generation(tiny_gpt2, tmp_path / "adapter")
    assert not any("lora" in name for name, _ in merged.named_parameters())
    enc = tokenizer(prompts[:2], return_tensors="pt", padding=True)
    with torch.inference_mode():
        adapter_logits = peft_model(**enc).logits
        merged_logits = merged(**enc).logits
        base_logits = load_causal_lm(tiny_gpt2).eval()(**enc).logits
    mask = enc["attention_mask"].bool()
    torch.testing.assert_close(merged_logits[mask], adapter_logits[mask], rtol=1e-4, atol=1e-4)
    assert (merged_logits[mask] - base_logits[mask]).abs().max() > 1e-2  # the adapter matters

    unmerged_answers = one_at_a_time(peft_model, tokenizer, prompts)
    merged_answers = greedy_continuations(merged, tokenizer, prompts, MAX_NEW_TOKENS, batch_size=8,
                                      progress=False)
    assert merged_answers == unmerged_answers
