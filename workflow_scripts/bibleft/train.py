"""The fine-tuning loop, shared by full fine-tuning and LoRA.

One loop for both methods (they differ only in `modeling.build_trainable`). It logs a
banner, then every `log_every` steps one line (step, epoch, loss, learning rate,
tokens/s, peak memory), which also goes to the experiment trackers of `train.report_to`
(`tracking`), keeps a tqdm bar with ETA, saves resumable checkpoints into a scratch
directory outside the job's output (`checkpointing`), and on SIGTERM (SLURM's warning
before a time-limit kill or preemption) saves one and exits non-zero.
"""

from __future__ import annotations

import functools
import math
import resource
import signal
import sys
import time
from pathlib import Path

import torch

from . import batching
from .checkpointing import (latest_resume_checkpoint, restore_resume_checkpoint,
                            save_resume_checkpoint, settings_fingerprint)
from .compiling import (CUDA_GRAPH_MODES, compile_counts, compile_for_training, compile_mode,
                        compile_report, report_line)
from .errors import InputError
from .precision import configure_matmul
from .tracking import DEFAULT_RUN_NAME, Trackers, accelerator_kwargs

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


class Preemption:
    """SIGTERM, while in use as a context manager, as a request to stop after the current
    step: the handler only sets a flag, which the loop reads between steps."""

    def __init__(self, accelerator):
        self.accelerator = accelerator
        self.signalled = False

    def __enter__(self) -> Preemption:
        self.previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *exc_info) -> None:
        signal.signal(signal.SIGTERM, self.previous_handler)

    def _on_sigterm(self, signum, frame) -> None:
        self.signalled = True

    def stop_requested(self) -> bool:
        # Every process must stop at the same step: one that left to save a checkpoint
        # while another ran the next step's all-reduce would deadlock both. So with several
        # processes the decision is a sum over all of them (one scalar per step).
        if self.accelerator.num_processes == 1:
            return self.signalled
        flag = torch.tensor([int(self.signalled)], device=self.accelerator.device)
        return bool(self.accelerator.reduce(flag, reduction="sum").item())


class StepLog:
    """The run's per-step records, a log line per flush, and the clock.

    A step's loss and real-token count stay on the device until the next flush: reading
    one back is a host sync, and one per step would stop the host from queueing the next
    step's kernels while the GPU still runs this one.
    """

    def __init__(self, accelerator, total_steps: int, log, on_flush, start: dict,
                 trackers: Trackers | None = None):
        self.accelerator, self.total_steps = accelerator, total_steps
        self.log, self.on_flush, self.trackers = log, on_flush, trackers
        # `start`: the resumed checkpoint's state (see Trainer.resume), or a fresh run's.
        self.records, self.tokens_seen = start["log_records"], start["tokens_seen"]
        self.epoch_seconds, self.elapsed_before = start["epoch_seconds"], start["elapsed_s"]
        self.pending_losses: list[torch.Tensor] = []
        self.pending_tokens = torch.zeros((), dtype=torch.long, device=accelerator.device)
        self.pending_meta: list[tuple[int, float, float]] = []
        self.started = self.window_start = self.epoch_start = time.perf_counter()
        self.window_tokens = self.tokens_seen

    def elapsed(self) -> float:
        """Training seconds so far, those before a resume included."""
        return self.elapsed_before + time.perf_counter() - self.started

    def add(self, step: int, epoch: float, learning_rate: float, loss: torch.Tensor,
            real_tokens: torch.Tensor) -> None:
        self.pending_losses.append(loss)
        self.pending_tokens += real_tokens
        self.pending_meta.append((step, epoch, learning_rate))

    def end_epoch(self) -> None:
        now = time.perf_counter()
        self.epoch_seconds.append(now - self.epoch_start)
        self.epoch_start = now

    def flush(self) -> None:
        """Turn the pending steps into records (averaged over processes), log a line and
        send the records to the trackers (main process only)."""
        if not self.pending_losses:
            return
        several = self.accelerator.num_processes > 1
        losses = torch.stack(self.pending_losses).float()
        losses = self.accelerator.reduce(losses, reduction="mean") if several else losses
        tokens = (self.accelerator.reduce(self.pending_tokens.clone(), reduction="sum") if several
                  else self.pending_tokens)
        self.tokens_seen += int(tokens.item())
        new = [{"step": step, "epoch": round(epoch, 6), "loss": loss, "learning_rate": lr}
               for (step, epoch, lr), loss in zip(self.pending_meta, losses.tolist())]
        self.records.extend(new)
        now = time.perf_counter()
        rate = (self.tokens_seen - self.window_tokens) / max(now - self.window_start, 1e-9)
        if self.accelerator.is_main_process:
            last, peak = self.records[-1], peak_memory_mb(self.accelerator.device)
            print(f"step {last['step']}/{self.total_steps} epoch {last['epoch']:.3f} "
                  f"loss {sum(losses.tolist()) / len(losses):.4f} lr {last['learning_rate']:.3e} "
                  f"tokens/s {rate:,.0f} peak_mem_mb {peak:,.0f}",
                  file=self.log, flush=True)
            if self.trackers is not None:
                self.trackers.log_steps(new, rate, peak)
        self.window_start, self.window_tokens = now, self.tokens_seen
        if self.on_flush is not None:
            self.on_flush(self.records[-1]["step"], self.tokens_seen,
                          self.elapsed_before + now - self.started)
        self.pending_losses.clear()
        self.pending_meta.clear()
        self.pending_tokens.zero_()


class Trainer:
    """What a run sets up before its first step: accelerate (one process of several under
    `accelerate launch`), the examples and how many steps they make, the optimizer and
    learning-rate schedule, torch.compile and the resumable checkpoints (`resume_dir`,
    none if None); then one optimisation step at a time."""

    def __init__(self, model, examples: list[list[int]], settings: dict,
                 resume_dir: Path | None = None):
        from accelerate import Accelerator
        from transformers import get_linear_schedule_with_warmup

        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.precision = pick_precision(settings.get("precision", "auto"), device)
        # train.report_to: the trackers accelerate can start here (tracking.Trackers starts them).
        self.accelerator = accelerator = Accelerator(
            cpu=device.type != "cuda",
            mixed_precision={"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[self.precision],
            **accelerator_kwargs(settings))
        self.matmul = configure_matmul(accelerator.device, bool(settings.get("tf32")))  # train.tf32
        if settings.get("packing"):
            examples = batching.pack_examples(examples, settings["block_size"])
        self.examples, self.settings, self.resume_dir = examples, settings, resume_dir
        self.per_epoch = batching.steps_per_epoch(len(examples), settings["batch_size"],
                                                  accelerator.num_processes)
        self.total_steps = settings["epochs"] * self.per_epoch
        if settings.get("max_steps"):
            self.total_steps = min(self.total_steps, settings["max_steps"])

        if settings.get("gradient_checkpointing"):
            model.gradient_checkpointing_enable()
            if hasattr(model, "enable_input_require_grads"):
                model.enable_input_require_grads()
        self.params = [p for p in model.parameters() if p.requires_grad]
        # Fused AdamW: one kernel for all parameters, on the GPU and (3x faster than the
        # default for-each version there too) on the CPU.
        optimizer = torch.optim.AdamW(self.params, lr=settings["learning_rate"],
                                      weight_decay=settings["weight_decay"], fused=True)
        # HF Trainer's default schedule, exactly: linear warm-up from 0, then linear decay to 0.
        self.scheduler = get_linear_schedule_with_warmup(optimizer, settings["warmup_steps"],
                                                         self.total_steps)
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        self.compile_mode = compile_mode(settings.get("compile"))
        # configcheck refuses the pair in the workflow's config; this is for direct callers.
        if self.compile_mode and settings.get("gradient_checkpointing"):
            raise InputError("train.gradient_checkpointing cannot be combined with train.compile")
        self.compile_before = compile_counts() if self.compile_mode else None
        self.forward = compile_for_training(self.model, self.compile_mode,
                                            settings.get("compile_scope") or "model")
        self.cuda_graphs = device.type == "cuda" and self.compile_mode in CUDA_GRAPH_MODES
        self.scaler = getattr(accelerator, "scaler", None)
        # n_examples and world: the same settings over other data or another number of
        # processes make other steps, which a checkpoint must not resume.
        self.fingerprint = settings_fingerprint({**settings, "n_examples": len(examples),
                                                 "world": accelerator.num_processes})

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def unwrapped_model(self):
        return self.accelerator.unwrap_model(self.model)

    def banner(self) -> str:
        trainable = sum(p.numel() for p in self.params)
        total = sum(p.numel() for p in self.unwrapped_model().parameters())
        settings = self.settings
        return (f"examples={len(self.examples)} batch_size={settings['batch_size']} x "
                f"{self.accelerator.num_processes} process(es) steps/epoch={self.per_epoch} "
                f"total_steps={self.total_steps} epochs={settings['epochs']} "
                f"device={self.accelerator.device} precision={self.precision} matmul={self.matmul} "
                f"trainable={trainable:,}/{total:,} packing={bool(settings.get('packing'))}")

    def compile_summary(self) -> dict | None:
        return compile_report(self.compile_mode, self.compile_before) if self.compile_mode else None

    def resume(self, log) -> dict:
        """The state to start from: the newest checkpoint in the resume directory written
        with these settings, restored into the model, optimizer and schedule, or a fresh
        run's."""
        ckpt = latest_resume_checkpoint(self.resume_dir, self.fingerprint) if self.resume_dir else None
        if ckpt is None:
            return {"step": 0, "elapsed_s": 0.0, "epoch_seconds": [], "tokens_seen": 0, "log_records": []}
        start = restore_resume_checkpoint(ckpt, self.unwrapped_model(), self.optimizer,
                                          self.scheduler, self.scaler)
        print(f"resuming from {ckpt} at step {start['step']}", file=log, flush=True)
        return start

    def save(self, step: int, steps: StepLog) -> None:
        """Flush the log and save a resumable checkpoint (the main process writes it)."""
        steps.flush()
        if self.resume_dir is not None and self.is_main:
            save_resume_checkpoint(self.resume_dir, step, self.unwrapped_model(), self.optimizer,
                                   self.scheduler, self.scaler, steps.records, steps.elapsed(),
                                   steps.epoch_seconds, steps.tokens_seen, self.fingerprint)
        self.accelerator.wait_for_everyone()

    def rows_by_step(self, start_step: int):
        """This process's examples for each step from `start_step` to the last."""
        return batching.rows_by_step(
            self.examples, self.settings["batch_size"], self.settings["seed"],
            self.settings.get("group_by_length", False), start_step, self.total_steps,
            self.accelerator.process_index, self.accelerator.num_processes)

    def to_device(self, batch: dict) -> dict:
        # A copy from pageable memory makes the host wait for the GPU to drain; from pinned
        # memory it is truly asynchronous, so the host can queue the next step's kernels
        # while the GPU still runs this one.
        cuda = self.accelerator.device.type == "cuda"
        return {k: (v.pin_memory() if cuda else v).to(self.accelerator.device, non_blocking=True)
                for k, v in batch.items()}

    def step(self, batch: dict) -> torch.Tensor:
        """One optimisation step on a batch on the device; returns its loss, detached."""
        # Batches are padded on the right, so under causal attention no real token can see
        # a pad (each pad comes after it) and pads are out of the loss: the attention mask
        # changes nothing. Given one, transformers builds a 4-D mask, tests it on the host
        # (a GPU sync every step) and cannot use flash attention.
        if self.cuda_graphs:  # a new training step: earlier graph outputs may be reused
            torch.compiler.cudagraph_mark_step_begin()
        # use_cache=False: training needs no KV cache, and building one costs ops and,
        # under per-block compilation, a recompile per block (its layer index).
        with self.accelerator.autocast():
            loss = self.forward(input_ids=batch["input_ids"], labels=batch["labels"],
                                use_cache=False).loss
        self.accelerator.backward(loss)
        if self.settings.get("max_grad_norm"):
            self.accelerator.clip_grad_norm_(self.params, self.settings["max_grad_norm"])
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        # A copy: a CUDA graph's output is overwritten by its next replay.
        return loss.detach().clone() if self.cuda_graphs else loss.detach()

    def summary(self, steps: StepLog, step: int, start_step: int) -> dict:
        elapsed, device = steps.elapsed(), self.accelerator.device
        return {
            "steps": step, "steps_per_epoch": self.per_epoch, "epochs": self.settings["epochs"],
            "examples": len(self.examples), "batch_size": self.settings["batch_size"],
            "processes": self.accelerator.num_processes, "tokens_seen": steps.tokens_seen,
            "seconds_total": elapsed,
            "seconds_per_epoch": elapsed / (step / self.per_epoch) if step else None,
            "epoch_seconds": steps.epoch_seconds,
            "tokens_per_second": steps.tokens_seen / max(elapsed, 1e-9),
            "peak_memory_mb": peak_memory_mb(device), "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "precision": self.precision, "matmul_precision": self.matmul,
            "resumed_from_step": start_step,
            "final_loss": steps.records[-1]["loss"] if steps.records else math.nan,
            "library_versions": library_versions(), "compile": self.compile_summary(),
        }


def train(model, examples: list[list[int]], pad_id: int, settings: dict,
          resume_dir: str | Path | None = None, log=None, progress: bool = True,
          on_flush=None, collate=None, run_name: str | None = None,
          run_config: dict | None = None) -> dict:
    """Fine-tune `model` in place on `examples` (token id lists; each ends in EOS only if
    `train.eos` asked for it: see corpus.with_eos).

    `settings`: the config's `train` block (schemas/config.schema.yaml) with `compile`
    resolved to one mode; tf32, compile_scope and pad_multiple may be left out. The
    learning rate follows transformers' get_linear_schedule_with_warmup exactly: up from
    0 over warmup_steps, then down to 0 at the last step.
    `collate(rows) -> batch` pads a step's examples into input_ids, attention_mask and
    labels: by default batching.collate with max_length and pad_multiple (benchmarks pass
    batching.collate_fixed). With `resume_dir`, a checkpoint is saved there every
    checkpoint_every steps and on SIGTERM, and the newest one of the same settings resumed.
    `on_flush(step, tokens_seen, seconds)`, if given, is called after each log flush
    (benchmarks time the steps after a warm-up with it).
    With `settings["report_to"]` (train.report_to), the experiment trackers get a run
    named `run_name` whose configuration is `run_config` (default: `settings`), and every
    step's loss, learning rate and epoch plus each flush's tokens/s and peak memory; the
    run is closed however training ends. A tracker that cannot start or log warns in
    `log` and training goes on (bibleft.tracking).

    Returns {"log": one record per step (step, epoch, loss, learning_rate), "summary": the
    run's figures (steps, tokens, seconds, memory, ...), "model": the trained model
    without accelerate's wrappers, "is_main": whether this process is the one to save it}.
    """
    log = log or sys.stderr
    collate = collate or functools.partial(batching.collate, pad_id=pad_id,
                                           max_length=settings.get("max_length"),
                                           pad_multiple=settings.get("pad_multiple") or 1)
    torch.manual_seed(settings["seed"])
    trainer = Trainer(model, examples, settings, Path(resume_dir) if resume_dir else None)
    start = trainer.resume(log)
    if trainer.is_main:
        print(trainer.banner(), file=log, flush=True)
    trackers = Trackers(trainer.accelerator, log)
    try:
        trackers.start(settings, run_name or DEFAULT_RUN_NAME,
                       settings if run_config is None else run_config)
        steps, step = _train_steps(trainer, start, collate, settings, log, progress, on_flush,
                                   trackers)
        summary = trainer.summary(steps, step, start["step"])  # before closing: not its time
    finally:
        trackers.close()  # after the last step, a preemption or a failure alike
    return {"log": steps.records, "summary": summary, "model": trainer.unwrapped_model(),
            "is_main": trainer.is_main}


def _train_steps(trainer: Trainer, start: dict, collate, settings: dict, log, progress: bool,
                 on_flush, trackers: Trackers) -> tuple[StepLog, int]:
    """The loop of `train`, from the step `start` names to the last: its StepLog and the
    last step reached."""
    from tqdm.auto import tqdm

    trainer.model.train()
    step, total_steps, per_epoch = start["step"], trainer.total_steps, trainer.per_epoch
    ckpt_every = settings.get("checkpoint_every") or 0
    with Preemption(trainer.accelerator) as preemption, tqdm(
            total=total_steps, initial=step, desc="train", file=log, mininterval=5,
            disable=not (progress and trainer.is_main), dynamic_ncols=False) as bar:
        steps = StepLog(trainer.accelerator, total_steps, log, on_flush, start, trackers)
        for rows in trainer.rows_by_step(step):
            batch = trainer.to_device(collate(rows))
            loss = trainer.step(batch)
            step += 1
            if trainer.compile_mode and step == start["step"] + 1 and trainer.is_main:
                print(report_line(trainer.compile_summary()), file=log, flush=True)
            steps.add(step, step / per_epoch, trainer.scheduler.get_last_lr()[0], loss,
                      batch["attention_mask"].sum())
            bar.update(1)
            if step % settings["log_every"] == 0:
                steps.flush()
            if preemption.stop_requested():
                print(f"SIGTERM at step {step}: saving a resumable checkpoint and exiting",
                      file=log, flush=True)
                trainer.save(step, steps)
                raise Preempted(step)
            if ckpt_every and step % ckpt_every == 0 and step < total_steps:
                trainer.save(step, steps)
            if step % per_epoch == 0 or step >= total_steps:
                steps.end_epoch()
        steps.flush()
    return steps, step
