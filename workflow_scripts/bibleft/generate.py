"""Answering the questions: batched greedy decoding with left padding."""

from __future__ import annotations

import sys
import time

import torch

from .scoring import build_prompt


def load_for_generation(model_dir, adapter_dir=None, dtype=torch.float32,
                        trust_remote_code: bool = False, device=None):
    """The model to answer with: a base or fully fine-tuned model, or base + LoRA merged.

    LoRA is merged into the base weights before generating: the same function, no
    adapter overhead per token.
    """
    from .modeling import load_causal_lm

    model = load_causal_lm(model_dir, dtype=dtype, trust_remote_code=trust_remote_code)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    model.eval()
    return model.to(device) if device is not None else model


@torch.inference_mode()
def generate_answers(model, tokenizer, prompts: list[str], max_new_tokens: int,
                     batch_size: int, log=None, progress: bool = True) -> list[str]:
    """Greedy continuations of `prompts` (new tokens only, decoded), in input order.

    Prompts are sorted by length so that a batch wastes little on padding; padding is on
    the left so that every prompt ends where generation starts.
    """
    from tqdm.auto import tqdm

    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    lengths = [len(ids) for ids in tokenizer(prompts)["input_ids"]]  # one batched call
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
    responses: list[str | None] = [None] * len(prompts)
    bar = tqdm(total=len(prompts), desc="generate", file=log or sys.stderr, mininterval=5,
               disable=not progress)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True).to(device)
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             num_beams=1, pad_token_id=tokenizer.pad_token_id,
                             temperature=None, top_p=None, top_k=None)
        new_tokens = out[:, enc["input_ids"].shape[1]:]
        for i, text in zip(idx, tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
            responses[i] = text
        bar.update(len(idx))
    bar.close()
    return responses


def answer_questions(model, tokenizer, questions: list[dict], template: str,
                     max_new_tokens: int, batch_size: int, log=None) -> tuple[list[dict], dict]:
    """Generation records `{id, question, answer, response}` and timing figures."""
    prompts = [build_prompt(template, q["question"]) for q in questions]
    device = next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    responses = generate_answers(model, tokenizer, prompts, max_new_tokens, batch_size, log)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    records = [{"id": q["id"], "question": q["question"], "answer": q["answer"], "response": r}
               for q, r in zip(questions, responses)]
    timing = {"answers": len(records), "seconds_total": seconds,
              "seconds_per_answer": seconds / max(len(records), 1), "batch_size": batch_size,
              "max_new_tokens": max_new_tokens, "device": str(device),
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "dtype": str(next(model.parameters()).dtype).replace("torch.", "")}
    return records, timing
