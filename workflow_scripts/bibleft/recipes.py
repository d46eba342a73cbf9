"""What a fine-tune reads, part after part (`train.recipe`): the corpus text (the study's),
the trained split's question-answer pairs written as the answering prompt asks them, the
loss on the answer alone, and the same with each question's retrieved passages in the
open-book prompt (RAFT, Zhang et al. 2024: some passages hold the answer, some do not, as
retrieval gave them). A part that reads several kinds reads them shuffled together.

A question-answer example is its prompt, exactly as rule generate_answers builds it for
that question (prompts.question_prompts, tokenized as the answering tokenizes it), then
the answer as the study's few-shot examples write one, and a line break; the prompt's
tokens are read and left out of the loss (`n_context`)."""

from __future__ import annotations

from .grid import CLOSED, OPEN
from .prompts import question_prompts

# Which answering mode's prompt each kind of question-answer part is written in.
QA_MODES = {"qa": CLOSED, "qa_passages": OPEN}


def answer_target(answer: str) -> str:
    """What a question-answer example teaches after its prompt's "A:": the answer, as the
    study's few-shot examples write one (" Adam"), and the line break that ends it."""
    return f" {answer}\n"


def qa_columns(tokenizer, records: list[dict], trained_ids, template: str,
               chat_template: bool = False, model: str | None = None,
               passages: list[dict] | None = None) -> dict[str, list]:
    """The columns of a question-answer dataset: one row per question of `records` whose id
    is in `trained_ids` (the split's trained part), in file order: `id`, `question`,
    `answer`, `prompt`, `input_ids` (the prompt's tokens, then the answer's), `n_context`
    (how many are the prompt's) and `n_tokens`. `passages`: each record's retrieval record,
    in the same order (RAFT), whose passages fill the template's `{context}`."""
    from .retrieval import context

    trained = set(trained_ids)
    chosen = [i for i, record in enumerate(records) if record["id"] in trained]
    rows = [records[i] for i in chosen]
    contexts = [context(passages[i]) for i in chosen] if passages is not None else None
    prompts = question_prompts(tokenizer, template, [r["question"] for r in rows], chat_template,
                               model, contexts)
    prompt_ids = tokenizer(prompts)["input_ids"] if prompts else []
    targets = tokenizer([answer_target(r["answer"]) for r in rows],
                        add_special_tokens=False)["input_ids"] if rows else []
    input_ids = [p + t for p, t in zip(prompt_ids, targets)]
    return {"id": [r["id"] for r in rows], "question": [r["question"] for r in rows],
            "answer": [r["answer"] for r in rows], "prompt": prompts, "input_ids": input_ids,
            "n_context": [len(p) for p in prompt_ids], "n_tokens": [len(ids) for ids in input_ids]}


def with_eos(examples: list[list[int]], contexts: list[int], eos_id: int,
             append_eos: bool) -> tuple[list[list[int]], list[int]]:
    """corpus.with_eos for examples with contexts: EOS appended if asked, and an example
    dropped that leaves no token to learn (shorter than 2, or all of it context)."""
    kept = [(ex + [eos_id] if append_eos else list(ex), c) for ex, c in zip(examples, contexts)]
    kept = [(ex, c) for ex, c in kept if len(ex) >= 2 and c < len(ex)]
    return [ex for ex, _ in kept], [c for _, c in kept]


def recipe_data(job, tokenizer):
    """A fine-tuning job's TrainData: the corpus text alone for train.epochs without a
    recipe (the study's), else each part's examples (its reads, shuffled together), for
    its own epochs, part after part."""
    from datasets import load_from_disk

    from .corpus import load_examples
    from .corpus import with_eos as text_with_eos
    from .train import TrainData

    eos, pad, options = tokenizer.eos_token_id, tokenizer.pad_token_id, job.train
    if not options.recipe:
        return TrainData(text_with_eos(load_examples(job.data["text"]), eos, options.eos), pad)

    def read(kind: str) -> tuple[list[list[int]], list[int]]:
        if kind == "text":
            ids = load_examples(job.data["text"])
            return with_eos(ids, [0] * len(ids), eos, options.eos)
        dataset = load_from_disk(job.data[kind])
        return with_eos(dataset["input_ids"], dataset["n_context"], eos, options.eos)

    examples, contexts, parts = [], [], []
    for part in options.recipe:
        count = 0
        for kind in part.reads:
            ids, ctx = read(kind)
            examples += ids
            contexts += ctx
            count += len(ids)
        parts.append((count, part.epochs or options.epochs))
    return TrainData(examples, pad, contexts=contexts, parts=tuple(parts))
