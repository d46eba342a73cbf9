"""The fine-tuning loop, shared by full fine-tuning and LoRA.

One loop for both methods (they differ only in `modeling.build_trainable`). It logs a
banner, then every `log_every` steps one line (step, epoch, loss, learning rate,
tokens/s, peak memory), keeps a tqdm bar with ETA, saves resumable checkpoints into a
scratch directory outside the job's output, and on SIGTERM (SLURM's warning before a
time-limit kill or preemption) saves one and exits non-zero.
"""

from __future__ import annotations

import hashlib
import json
import math
import resource
import shutil
import signal
import sys
import time
from pathlib import Path

import torch

from . import batching
from .errors import InputError
from .fileio import atomic_dir, write_json
from .precision import configure_matmul

EXIT_PREEMPTED = 143  # 128 + SIGTERM: what a job killed by SIGTERM reports


class Preempted(SystemExit):
    def __init__(self, step: int):
        super().__init__(EXIT_PREEMPTED)
        self.step = step


def library_versions() -> dict:
    import importlib.metadata as md

    versions = {"python": sys.version.split()[0]}
    for name in ("torch", "transformers", "peft", "datasets", "accelerate", "safetensors"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return versions


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # ru_maxrss is in KiB on Linux: the whole process, the closest CPU analogue.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pick_precision(requested: str, device: torch.device) -> str:
    """`auto`: bf16 on GPUs that have it, fp16 (with loss scaling) on older ones, fp32 on CPU."""
    if requested != "auto":
        return requested
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


# torch.compile modes that replay CUDA graphs: the whole forward (and backward) as one
# launch, which is what a step of 8 short verses needs (its kernels are tiny; launching
# them one by one from Python costs more than running them).
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


def compile_mode(setting) -> str | None:
    """`train.compile`: false (eager), true (torch.compile's default mode) or a mode name."""
    if setting is True:
        return "default"
    return setting or None


def transformer_blocks(model) -> list:
    """The model's repeated blocks (GPT2Block, LlamaDecoderLayer, ...), found by the class
    names transformers lists in `_no_split_modules`, through peft's and DDP's wrappers."""
    base = getattr(model, "module", model)  # DistributedDataParallel
    base = base.get_base_model() if hasattr(base, "get_base_model") else base  # peft
    names = set(getattr(base, "_no_split_modules", None) or [])
    blocks = [m for m in model.modules() if type(m).__name__ in names]
    if not blocks:
        raise InputError(f"config train.compile_scope: blocks: {type(base).__name__} names no "
                         "block class (_no_split_modules); use compile_scope: model")
    return blocks


def compile_for_training(model, mode: str | None, scope: str = "model"):
    """The callable that runs the training forward: `model` itself (eager, or its blocks
    compiled in place) or the whole model compiled.

    `scope: blocks` compiles each transformer block alone ("regional compilation"): the 36
    blocks share one compiled graph (two under LoRA: the first block's input needs no
    gradient), so compiling takes seconds where the whole model takes minutes; the
    embedding, final norm, LM head and loss stay eager, a few dozen ops per step.
    dynamic=True: one compiled graph for every sequence length, not one per length.
    """
    if not mode:
        return model
    if scope == "model":
        return torch.compile(model, mode=mode, dynamic=True)
    if scope != "blocks":
        raise ValueError(f"unknown compile scope {scope!r} (model or blocks)")
    for block in transformer_blocks(model):
        block.compile(mode=mode, dynamic=True)
    return model


def compile_counts() -> dict:
    """torch.compile's process-wide tallies so far: graphs compiled, graph breaks by reason."""
    from torch._dynamo.utils import counters

    return {"graphs": counters["stats"]["unique_graphs"],
            "graph_breaks": dict(counters["graph_break"])}


def compile_report(mode: str, before: dict) -> dict:
    """What compiling cost since `before`: a graph break leaves part of a step eager (and
    splits a CUDA-graphs step into several graphs), so users and tests should see it."""
    now = compile_counts()
    breaks = {reason: n - before["graph_breaks"].get(reason, 0)
              for reason, n in now["graph_breaks"].items()}
    breaks = {reason.splitlines()[0]: n for reason, n in breaks.items() if n > 0}
    return {"mode": mode, "graphs": now["graphs"] - before["graphs"],
            "graph_breaks": sum(breaks.values()), "graph_break_reasons": breaks}


def linear_schedule(optimizer, warmup_steps: int, total_steps: int):
    """HF Trainer's default: linear warm-up, then linear decay to zero."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# --- resumable checkpoints (safetensors only: no pickle) -------------------------------

def _settings_fingerprint(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _optimizer_tensors(optimizer) -> tuple[dict, dict]:
    """Flatten AdamW's state into named tensors plus JSON scalars."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {"param_groups": state["param_groups"], "state": {}}
    for idx, slots in state["state"].items():
        scalars["state"][str(idx)] = {}
        for key, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"opt.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars["state"][str(idx)][key] = value
    return tensors, scalars


def _load_optimizer(optimizer, tensors: dict, scalars: dict) -> None:
    state = {}
    for idx, slot_scalars in scalars["state"].items():
        slots = dict(slot_scalars)
        prefix = f"opt.{idx}."
        for name, value in tensors.items():
            if name.startswith(prefix):
                slots[name[len(prefix):]] = value
        state[int(idx)] = slots
    optimizer.load_state_dict({"state": state, "param_groups": scalars["param_groups"]})


def save_resume_checkpoint(resume_dir: Path, step: int, model, optimizer, scheduler, scaler,
                           log_records: list[dict], elapsed_s: float, epoch_seconds: list,
                           tokens_seen: int, fingerprint: str, keep: int = 1) -> Path:
    from safetensors.torch import save_file

    trainable = {f"model.{n}": p.detach().cpu().contiguous()
                 for n, p in model.named_parameters() if p.requires_grad}
    opt_tensors, opt_scalars = _optimizer_tensors(optimizer)
    rng = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    target = resume_dir / f"step-{step:08d}"
    with atomic_dir(target) as tmp:
        save_file({**trainable, **opt_tensors, **rng}, str(tmp / "state.safetensors"))
        write_json(tmp / "state.json", {
            "step": step, "fingerprint": fingerprint, "optimizer": opt_scalars,
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "elapsed_s": elapsed_s, "epoch_seconds": epoch_seconds, "tokens_seen": tokens_seen})
        with open(tmp / "train_log.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in log_records)
    for old in sorted(resume_dir.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def latest_resume_checkpoint(resume_dir: Path, fingerprint: str) -> Path | None:
    for ckpt in sorted(resume_dir.glob("step-*"), reverse=True):
        meta = ckpt / "state.json"
        if meta.is_file() and (ckpt / "state.safetensors").is_file():
            if json.loads(meta.read_text())["fingerprint"] == fingerprint:
                return ckpt
            print(f"ignoring {ckpt}: written with other settings", file=sys.stderr)
    return None


def _restore(ckpt: Path, model, optimizer, scheduler, scaler) -> dict:
    from safetensors.torch import load_file

    meta = json.loads((ckpt / "state.json").read_text())
    tensors = load_file(str(ckpt / "state.safetensors"))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in tensors.items():
            if name.startswith("model."):
                params[name[len("model."):]].copy_(value)
    _load_optimizer(optimizer, {k: v for k, v in tensors.items() if k.startswith("opt.")},
                    meta["optimizer"])
    scheduler.load_state_dict(meta["scheduler"])
    if scaler is not None and meta["scaler"]:
        scaler.load_state_dict(meta["scaler"])
    torch.set_rng_state(tensors["rng.cpu"])
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states[:torch.cuda.device_count()])
    with open(ckpt / "train_log.jsonl", encoding="utf-8") as fh:
        meta["log_records"] = [json.loads(line) for line in fh if line.strip()]
    return meta


# --- the loop ----------------------------------------------------------------------------

def train(model, examples: list[list[int]], pad_id: int, settings: dict,
          resume_dir: str | Path | None = None, log=None, progress: bool = True,
          on_flush=None) -> dict:
    """Fine-tune `model` in place on `examples` (token id lists, EOS appended).

    `settings` keys: epochs, batch_size, learning_rate, weight_decay, warmup_steps,
    max_steps, seed, log_every, checkpoint_every, precision, max_length, packing,
    block_size, max_grad_norm, group_by_length, gradient_checkpointing, compile; optional
    compile_scope (model or blocks; see compile_for_training), pad_multiple (round each
    batch's length up to a multiple; see batching.collate) and pad_to_length (pad every
    example to this length, the study's likely way: only for benchmarks, it wastes
    compute on padding).
    `on_flush(step, tokens_seen, seconds)`, if given, is called after each log flush
    (benchmarks time the steps after a warm-up with it).

    Returns {"log": [...per-step records...], "summary": {...}}.
    """
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    log = log or sys.stderr
    torch.manual_seed(settings["seed"])
    cuda = torch.cuda.is_available()
    device0 = torch.device("cuda" if cuda else "cpu")
    precision = pick_precision(settings.get("precision", "auto"), device0)
    accelerator = Accelerator(cpu=not cuda,
                              mixed_precision={"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision])
    device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes
    is_main = accelerator.is_main_process
    matmul = configure_matmul(device, bool(settings.get("tf32")))  # train.tf32

    if settings.get("packing"):
        examples = batching.pack_examples(examples, settings["block_size"])
    lengths = [len(ex) for ex in examples]
    bsz = settings["batch_size"]
    per_epoch = batching.steps_per_epoch(len(examples), bsz, world)
    total_steps = settings["epochs"] * per_epoch
    if settings.get("max_steps"):
        total_steps = min(total_steps, settings["max_steps"])

    if settings.get("gradient_checkpointing"):
        model.gradient_checkpointing_enable()
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    params = [p for p in model.parameters() if p.requires_grad]
    # Fused AdamW: one kernel for all parameters, on the GPU and (3x faster than the
    # default for-each version there too) on the CPU.
    optimizer = torch.optim.AdamW(params, lr=settings["learning_rate"],
                                  weight_decay=settings["weight_decay"],
                                  fused=device0.type in ("cuda", "cpu"))
    scheduler = linear_schedule(optimizer, settings["warmup_steps"], total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    mode = compile_mode(settings.get("compile"))
    if mode and settings.get("gradient_checkpointing"):  # configcheck says so for the workflow
        raise InputError("train.gradient_checkpointing cannot be combined with train.compile")
    compile_before = compile_counts() if mode else None
    forward = compile_for_training(model, mode, settings.get("compile_scope") or "model")
    cuda_graphs = cuda and mode in CUDA_GRAPH_MODES
    scaler = getattr(accelerator, "scaler", None)

    fingerprint = _settings_fingerprint({**settings, "n_examples": len(examples), "world": world})
    resume_dir = Path(resume_dir) if resume_dir else None
    start_step, elapsed_prev, epoch_seconds, tokens_seen, log_records = 0, 0.0, [], 0, []
    if resume_dir is not None:
        ckpt = latest_resume_checkpoint(resume_dir, fingerprint)
        if ckpt is not None:
            meta = _restore(ckpt, accelerator.unwrap_model(model), optimizer, scheduler, scaler)
            start_step, elapsed_prev = meta["step"], meta["elapsed_s"]
            epoch_seconds, tokens_seen = meta["epoch_seconds"], meta["tokens_seen"]
            log_records = meta["log_records"]
            print(f"resuming from {ckpt} at step {start_step}", file=log, flush=True)

    if is_main:
        trainable = sum(p.numel() for p in params)
        total = sum(p.numel() for p in accelerator.unwrap_model(model).parameters())
        print(f"examples={len(examples)} batch_size={bsz} x {world} process(es) "
              f"steps/epoch={per_epoch} total_steps={total_steps} epochs={settings['epochs']} "
              f"device={device} precision={precision} matmul={matmul} "
              f"trainable={trainable:,}/{total:,} "
              f"packing={bool(settings.get('packing'))}", file=log, flush=True)

    preempted = {"flag": False}

    def on_sigterm(signum, frame):
        preempted["flag"] = True

    def stop_requested() -> bool:
        # Every process must stop at the same step: one that left for checkpoint() while
        # another ran the next step's all-reduce would deadlock both. So with several
        # processes the decision is a sum over all of them (one scalar per step).
        if world == 1:
            return preempted["flag"]
        flag = torch.tensor([int(preempted["flag"])], device=device)
        return bool(accelerator.reduce(flag, reduction="sum").item())

    previous_handler = signal.signal(signal.SIGTERM, on_sigterm)
    model.train()
    log_every, ckpt_every = settings["log_every"], settings.get("checkpoint_every") or 0
    pending_losses: list[torch.Tensor] = []  # kept on device: no host sync per step
    pending_tokens = torch.zeros((), dtype=torch.long, device=device)
    pending_meta: list[tuple[int, float, float]] = []
    bar = tqdm(total=total_steps, initial=start_step, desc="train", file=log,
               disable=not (progress and is_main), mininterval=5, dynamic_ncols=False)
    t_run = time.perf_counter()
    t_window, tokens_window_start = t_run, tokens_seen
    t_epoch = t_run
    step = start_step

    def flush():
        nonlocal tokens_seen, t_window, tokens_window_start
        if not pending_losses:
            return
        losses = torch.stack(pending_losses).float()
        losses = accelerator.reduce(losses, reduction="mean") if world > 1 else losses
        tokens = accelerator.reduce(pending_tokens.clone(), reduction="sum") if world > 1 else pending_tokens
        tokens_seen += int(tokens.item())
        for (s, ep, lr), loss in zip(pending_meta, losses.tolist()):
            log_records.append({"step": s, "epoch": round(ep, 6), "loss": loss, "learning_rate": lr})
        now = time.perf_counter()
        rate = (tokens_seen - tokens_window_start) / max(now - t_window, 1e-9)
        if is_main:
            last = log_records[-1]
            print(f"step {last['step']}/{total_steps} epoch {last['epoch']:.3f} "
                  f"loss {sum(losses.tolist()) / len(losses):.4f} lr {last['learning_rate']:.3e} "
                  f"tokens/s {rate:,.0f} peak_mem_mb {peak_memory_mb(device):,.0f}",
                  file=log, flush=True)
        t_window, tokens_window_start = now, tokens_seen
        if on_flush is not None:
            on_flush(log_records[-1]["step"], tokens_seen, elapsed_prev + now - t_run)
        pending_losses.clear()
        pending_meta.clear()
        pending_tokens.zero_()

    def checkpoint():
        flush()
        if resume_dir is not None and is_main:
            elapsed = elapsed_prev + time.perf_counter() - t_run
            save_resume_checkpoint(resume_dir, step, accelerator.unwrap_model(model), optimizer,
                                   scheduler, scaler, log_records, elapsed, epoch_seconds,
                                   tokens_seen, fingerprint)
        accelerator.wait_for_everyone()

    try:
        while step < total_steps:
            epoch = step // per_epoch
            order = batching.epoch_order(len(examples), settings["seed"], epoch, lengths, bsz,
                                         settings.get("group_by_length", False))
            epoch_batches = batching.batches_for_epoch(order, bsz, rank, world)
            for batch_idx in range(step - epoch * per_epoch, len(epoch_batches)):
                if step >= total_steps:
                    break
                rows = [examples[i] for i in epoch_batches[batch_idx]]
                if settings.get("pad_to_length"):
                    batch = batching.collate_fixed(rows, pad_id, settings["pad_to_length"])
                else:
                    batch = batching.collate(rows, pad_id, settings.get("max_length"),
                                             pad_multiple=settings.get("pad_multiple") or 1)
                # A copy from pageable memory makes the host wait for the GPU to drain;
                # from pinned memory it is truly asynchronous, so the host can queue the
                # next step's kernels while the GPU still runs this one.
                batch = {k: (v.pin_memory() if cuda else v).to(device, non_blocking=True)
                         for k, v in batch.items()}
                # Batches are padded on the right, so under causal attention no real token
                # can see a pad (each pad comes after it) and pads are out of the loss: the
                # attention mask changes nothing. Given one, transformers builds a 4-D mask,
                # tests it on the host (a GPU sync every step) and cannot use flash attention.
                if cuda_graphs:  # a new training step: earlier graph outputs may be reused
                    torch.compiler.cudagraph_mark_step_begin()
                # use_cache=False: training needs no KV cache, and building one costs ops
                # and, under per-block compilation, a recompile per block (its layer index).
                with accelerator.autocast():
                    loss = forward(input_ids=batch["input_ids"], labels=batch["labels"],
                                   use_cache=False).loss
                accelerator.backward(loss)
                if settings.get("max_grad_norm"):
                    accelerator.clip_grad_norm_(params, settings["max_grad_norm"])
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                if mode and step == start_step + 1 and is_main:
                    report = compile_report(mode, compile_before)
                    print(f"torch.compile {mode}: {report['graphs']} graph(s), "
                          f"{report['graph_breaks']} graph break(s)"
                          + "".join(f"; {n} x {r}" for r, n in report["graph_break_reasons"].items()),
                          file=log, flush=True)
                # A copy: a CUDA graph's output is overwritten by its next replay.
                pending_losses.append(loss.detach().clone() if cuda_graphs else loss.detach())
                pending_tokens += batch["attention_mask"].sum()
                pending_meta.append((step, step / per_epoch, scheduler.get_last_lr()[0]))
                bar.update(1)
                if step % log_every == 0:
                    flush()
                if stop_requested():
                    print(f"SIGTERM at step {step}: saving a resumable checkpoint and exiting",
                          file=log, flush=True)
                    checkpoint()
                    raise Preempted(step)
                if ckpt_every and step % ckpt_every == 0 and step < total_steps:
                    checkpoint()
            if step % per_epoch == 0 or step >= total_steps:
                now = time.perf_counter()
                epoch_seconds.append(now - t_epoch)
                t_epoch = now
        flush()
    finally:
        bar.close()
        signal.signal(signal.SIGTERM, previous_handler)

    elapsed = elapsed_prev + time.perf_counter() - t_run
    summary = {
        "steps": step, "steps_per_epoch": per_epoch, "epochs": settings["epochs"],
        "examples": len(examples), "batch_size": bsz, "processes": world,
        "tokens_seen": tokens_seen, "seconds_total": elapsed,
        "seconds_per_epoch": elapsed / (step / per_epoch) if step else None,
        "epoch_seconds": epoch_seconds, "tokens_per_second": tokens_seen / max(elapsed, 1e-9),
        "peak_memory_mb": peak_memory_mb(device), "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else "cpu",
        "precision": precision, "matmul_precision": matmul, "resumed_from_step": start_step,
        "final_loss": log_records[-1]["loss"] if log_records else math.nan,
        "library_versions": library_versions(),
        "compile": compile_report(mode, compile_before) if mode else None,
    }
    return {"log": log_records, "summary": summary, "model": accelerator.unwrap_model(model),
            "is_main": is_main}
