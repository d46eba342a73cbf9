"""Answering the questions: batched greedy decoding with left padding."""

from __future__ import annotations

import sys
import time

import torch

from .errors import InputError
from .precision import configure_matmul, matmul_precision
from .prompts import question_prompts
from .retrieval import context as retrieval_context


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


def load_for_answering(model_dir, adapter_dir, dtype: str, tf32: bool,
                     trust_remote_code: bool = False, padding_side: str = "right"):
    """`(tokenizer, model)` for a job that runs a variant over texts (answering, probing):
    on the device `pick_device` chooses, float32 matmuls as `tf32` says (set before any
    weights load), the model as `load_for_generation` makes it in `dtype` (a torch name)."""
    from .modeling import load_tokenizer, pick_device

    device = pick_device()
    configure_matmul(device, tf32)
    tokenizer = load_tokenizer(model_dir, trust_remote_code=trust_remote_code,
                               padding_side=padding_side)
    model = load_for_generation(model_dir, adapter_dir, dtype=getattr(torch, dtype),
                                trust_remote_code=trust_remote_code, device=device)
    return tokenizer, model


def shared_prefix_length(sequences: list[list[int]]) -> int:
    """How many leading tokens all sequences share, leaving each at least one of its own
    (generation starts from a token the prefix cache does not hold)."""
    shortest = min(len(seq) for seq in sequences)
    for pos in range(shortest - 1):
        token = sequences[0][pos]
        if any(seq[pos] != token for seq in sequences):
            return pos
    return max(shortest - 1, 0)


def greedy_continuations(model, tokenizer, prompts: list[str], max_new_tokens: int,
                         batch_size: int, log=None, progress: bool = True,
                         prefix_cache: bool = True) -> list[str]:
    """Greedy continuations of `prompts` (new tokens only, decoded), in input order."""
    return generate_with_lengths(model, tokenizer, prompts, max_new_tokens, batch_size, log,
                                 progress, prefix_cache)[0]


def generate_with_lengths(model, tokenizer, prompts: list[str], max_new_tokens: int,
                          batch_size: int, log=None, progress: bool = True,
                          prefix_cache: bool = True) -> tuple[list[str], list[tuple[int, bool]]]:
    """Greedy continuations of `prompts` (new tokens only, decoded), in input order, and
    for each its `(new_tokens, stopped)`: how many tokens it has before its end-of-text
    token, and whether it ended with one before `max_new_tokens` (a model that learned
    where a verse ends stops early)."""
    new_tokens = generate_token_ids(model, tokenizer, prompts, max_new_tokens, batch_size, log,
                                    progress, prefix_cache)
    stop_ids = stop_token_ids(model, tokenizer)
    return (tokenizer.batch_decode(new_tokens, skip_special_tokens=True),
            [answer_length(row, stop_ids) for row in new_tokens])


@torch.inference_mode()
def generate_token_ids(model, tokenizer, prompts: list[str], max_new_tokens: int | list[int],
                       batch_size: int, log=None, progress: bool = True,
                       prefix_cache: bool = True) -> list[list[int]]:
    """The greedy new token ids of each of `prompts`, in input order: `max_new_tokens` of
    them, or fewer where the model ends the text (`generate` fills a row that has ended
    with pad tokens while others in its batch go on). A list gives each prompt its own
    number: a batch generates up to its largest and each row is cut to its own (greedy:
    later tokens never change earlier ones).

    Prompts are sorted by length so that a batch wastes little on padding, and padded so
    that every prompt ends where generation starts. With `prefix_cache`, the tokens every
    prompt shares (the study's few-shot examples: 58 of ~75 GPT-2 tokens) are run through the
    model once and their key/value cache reused by every batch; each row is then laid
    out as [shared prefix][padding][rest of its prompt]. The attention mask hides the
    padding and position ids count only unmasked tokens, so a row computes what it would
    alone; without the cache, padding goes on the left as usual.
    """
    import copy

    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id
    limits = max_new_tokens if isinstance(max_new_tokens, list) else [max_new_tokens] * len(prompts)
    ids = tokenizer(prompts)["input_ids"]  # one batched call
    n_shared = shared_prefix_length(ids) if prefix_cache and len(ids) > 1 else 0
    shared_cache = None
    if n_shared:
        shared = torch.tensor([ids[0][:n_shared]], device=device)
        shared_cache = model(input_ids=shared, use_cache=True).past_key_values
    order = sorted(range(len(prompts)), key=lambda i: len(ids[i]))
    new_tokens: list[list[int] | None] = [None] * len(prompts)
    bar = tqdm(total=len(prompts), desc="generate", file=log or sys.stderr, mininterval=5,
               disable=not progress)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        rests = [ids[i][n_shared:] for i in idx]
        width = max(len(rest) for rest in rests)
        input_ids = [ids[idx[0]][:n_shared] + [pad_id] * (width - len(rest)) + rest for rest in rests]
        attention = [[1] * n_shared + [0] * (width - len(rest)) + [1] * len(rest) for rest in rests]
        kwargs = {}
        if shared_cache is not None:
            cache = copy.deepcopy(shared_cache)  # generate() extends the cache it is given
            cache.batch_repeat_interleave(len(idx))
            kwargs["past_key_values"] = cache
        input_ids = torch.tensor(input_ids, device=device)
        out = model.generate(input_ids=input_ids,
                             attention_mask=torch.tensor(attention, device=device),
                             max_new_tokens=max(limits[i] for i in idx), do_sample=False,
                             num_beams=1, pad_token_id=pad_id, temperature=None, top_p=None,
                             top_k=None, **kwargs)
        for i, row in zip(idx, out[:, input_ids.shape[1]:].tolist()):
            new_tokens[i] = row[:limits[i]]
        bar.update(len(idx))
    bar.close()
    return new_tokens


def stop_token_ids(model, tokenizer) -> set[int]:
    """Tokens that end an answer: the model's end-of-text token(s), and the pad token that
    `generate` writes after a row has ended while others in its batch go on."""
    eos = model.generation_config.eos_token_id
    eos = eos if isinstance(eos, (list, tuple)) else [eos]
    return {t for t in [*eos, tokenizer.eos_token_id, tokenizer.pad_token_id] if t is not None}


def answer_length(new_tokens: list[int], stop_ids: set[int]) -> tuple[int, bool]:
    """(tokens before the first stop token, whether there was one)."""
    for n, token in enumerate(new_tokens):
        if token in stop_ids:
            return n, True
    return len(new_tokens), False


def check_prompt_lengths(model, tokenizer, prompts: list[str], max_new_tokens: int,
                         too_long: str) -> int:
    """The longest prompt's length in tokens, once checked that it and `max_new_tokens` fit
    the model's context; else one line: `too_long` says what to change (open_book.k)."""
    longest = max((len(ids) for ids in tokenizer(prompts)["input_ids"]), default=0)
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and longest + max_new_tokens > limit:
        raise InputError(f"the longest prompt is {longest} tokens and {max_new_tokens} new ones "
                         f"follow it, but the model reads at most {limit}: {too_long}")
    return longest


def answer_questions(model, tokenizer, questions: list[dict], template: str,
                     max_new_tokens: int, batch_size: int, log=None,
                     prefix_cache: bool = True, chat_template: bool = False,
                     model_name: str | None = None,
                     passages: list[dict] | None = None) -> tuple[list[dict], dict]:
    """Generation records `{id, position, question, answer, response, new_tokens, stopped,
    prompt}` and timing figures (with the answers' mean length and how many stopped early).

    `prompt` is the text the tokenizer was given for the question: the template with the
    question in it, or with `chat_template` its chat rendering (`prompts.chat_prompts`;
    `model_name` names the model in its errors). Open book, `passages` holds each
    question's retrieval record (retrieval.retrieve, in question order): its passages fill
    the template's `{context}`, and each answer records their references (`passages`)."""
    contexts = None
    if passages is not None:
        check_same_questions(questions, passages)
        passages = passages[: len(questions)]  # answer.limit answers the first questions only
        contexts = [retrieval_context(record) for record in passages]
    prompts = question_prompts(tokenizer, template, [q["question"] for q in questions],
                               chat_template, model_name, contexts)
    if contexts is not None:
        check_prompt_lengths(model, tokenizer, prompts, max_new_tokens,
                             "lower open_book.k (fewer passages) or use shorter passages")
    (responses, lengths), seconds = timed_on_device(model, lambda: generate_with_lengths(
        model, tokenizer, prompts, max_new_tokens, batch_size, log, prefix_cache=prefix_cache))
    # A question set's own alternatives (questions.<name>.alternatives) travel with each
    # answer to the judging; BibleQA's are written into its answers.
    records = [{"id": q["id"], "position": q["position"], "question": q["question"],
                "answer": q["answer"], **{k: q[k] for k in ("alternatives",) if k in q},
                "response": r, "new_tokens": n, "stopped": stopped, "prompt": p}
               for q, p, r, (n, stopped) in zip(questions, prompts, responses, lengths)]
    if passages is not None:
        for record, retrieved in zip(records, passages):
            record["passages"] = [hit["reference"] for hit in retrieved["passages"]]
    timing = {"answers": len(records), "seconds_total": seconds,
              "seconds_per_answer": seconds / max(len(records), 1), "batch_size": batch_size,
              "max_new_tokens": max_new_tokens, "prefix_cache": prefix_cache,
              "chat_template": chat_template, **({"open_book": True} if passages is not None else {}),
              "mean_new_tokens": sum(r["new_tokens"] for r in records) / max(len(records), 1),
              "stopped_before_max": sum(r["stopped"] for r in records), **device_facts(model)}
    return records, timing


def check_same_questions(questions: list[dict], passages: list[dict]) -> None:
    """The retrieval records answer the same questions in the same order (one line naming
    the first that differs: the passages were retrieved for another question set)."""
    for n, (question, record) in enumerate(zip(questions, passages), 1):
        if question["id"] != record["id"]:
            raise InputError(f"question {n} is id {question['id']!r} but its passages are for id "
                             f"{record['id']!r}: rerun rule retrieve_passages")
    if len(passages) < len(questions):
        raise InputError(f"{len(questions)} questions but passages for {len(passages)}: "
                         "rerun rule retrieve_passages")


def timed_on_device(model, work):
    """`work()`'s result and the seconds it took, with the model's GPU work finished at both
    ends (CUDA runs asynchronously: the clock would otherwise stop before the GPU does)."""
    device = next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = work()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def device_facts(model) -> dict:
    """What a timing ran on: device, its name, how float32 matmuls ran, the weights' dtype."""
    device = next(model.parameters()).device
    return {"device": str(device), "matmul_precision": matmul_precision(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "dtype": str(next(model.parameters()).dtype).replace("torch.", "")}
