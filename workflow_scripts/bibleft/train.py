"""The fine-tuning loop, shared by full fine-tuning and LoRA.

One loop for both methods (they differ only in `modeling.build_trainable`):
`train(model, data, options, seed, resume_dir, callback)`. It logs a banner to stderr
(the rule's log), then every `log_every` steps one line (step, epoch, loss, learning rate,
tokens/s, peak memory), keeps a tqdm bar with ETA, saves the run's `TrainState` as resume
points in a scratch directory outside the job's output (`resume_points`), and on
SIGTERM (SLURM's warning before a time-limit kill or preemption) saves one and exits
non-zero. What a caller adds (the experiment trackers of `tracking`, a benchmark's clock)
is one `TrainCallback`.
"""

from __future__ import annotations

import math
import resource
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from . import batching, resume_points
from .attention import SEGMENTS, attending_by_segments
from .resume_points import TrainParts, TrainState, settings_fingerprint
from .compiling import (CUDA_GRAPH_MODES, compile_counts, compile_for_training, compile_mode,
                        compile_report, report_line)
from .errors import InputError
from .modeling import pick_device, takes_padding_free
from .precision import configure_matmul

if TYPE_CHECKING:  # for annotations only: the job's options come typed
    from .config import TrainOptions

EXIT_PREEMPTED = 143  # 128 + SIGTERM: what a job killed by SIGTERM reports


class Preempted(SystemExit):
    def __init__(self, step: int):
        super().__init__(EXIT_PREEMPTED)
        self.step = step


@dataclass(frozen=True)
class TrainData:
    """What a run learns from: the examples (token id lists; each ends in EOS only if
    `train.eos` asked for it: see corpus.with_eos) and the pad token. A step's examples
    (cut at `train.max_length`) are laid in one row without padding (`padding_free`), or
    padded to their longest (rounded up to `train.pad_multiple`), or, with `fixed_length`,
    every example to that length (the benchmarks' comparison with the study's likely way;
    no setting asks for it).

    `contexts`: per example, how many of its first tokens are read and not learned (a
    question-answer example's prompt; None: every token is learned). `parts`: the
    examples in phases, (count, epochs) each in order (a recipe's parts: bibleft.recipes);
    empty, one phase of them all for `train.epochs`."""

    examples: list[list[int]]
    pad_id: int
    fixed_length: int | None = None
    contexts: list[int] | None = None
    parts: tuple[tuple[int, int], ...] = ()

    def phases(self, n_examples: int, options: TrainOptions, processes: int) -> list:
        return batching.plan_phases(list(self.parts) or [(n_examples, options.epochs)],
                                    options.batch_size, processes)

    def collate(self, rows: list[list[int]], options: TrainOptions,
                padding_free_width: int | None = None, contexts: list[int] | None = None,
                segments: bool = False) -> dict:
        """A step's batch as train() lays it. `padding_free_width`: the model's hidden size
        where padding-free batches are on (the step is one row where that computes no more
        than padding: batching.padding_free_pays), None for padded batches; `contexts`:
        the rows' tokens out of the loss (TrainData.contexts); `segments`: the model
        attends by example (bibleft.attention), so a row scores no pair across examples."""
        if self.fixed_length is not None:
            return batching.collate_fixed(rows, self.pad_id, self.fixed_length)
        if padding_free_width and batching.padding_free_pays(
                [min(len(row), options.max_length) for row in rows], padding_free_width,
                segments):
            return batching.collate_padding_free(rows, self.pad_id, max_length=options.max_length,
                                                 pad_multiple=options.pad_multiple,
                                                 contexts=contexts)
        return batching.collate(rows, self.pad_id, max_length=options.max_length,
                                pad_multiple=options.pad_multiple, contexts=contexts)


@dataclass(frozen=True)
class Window:
    """A log flush's figures: the last step, the real tokens and training seconds so far
    (those before a resume included), and the window's throughput and peak memory."""

    step: int
    tokens_seen: int
    seconds: float
    tokens_per_s: float
    peak_memory_mb: float


class TrainCallback:
    """What a caller adds to a run; every hook does nothing unless overridden.

    accelerator_kwargs(): extra arguments for the Accelerator (the trackers' log_with);
    on_start(accelerator): after set-up, before the first step;
    on_flush(records, window): in every process after each log flush, with its new
        per-step records (averaged over processes) and the Window;
    on_end(): however the run ends (finished, preempted or failed).
    """

    def accelerator_kwargs(self) -> dict:
        return {}

    def on_start(self, accelerator) -> None:
        pass

    def on_flush(self, records: list[dict], window: Window) -> None:
        pass

    def on_end(self) -> None:
        pass


@dataclass(frozen=True)
class TrainResult:
    """One record per step (step, epoch, loss, learning_rate), the run's figures (steps,
    tokens, seconds, memory, ...), the trained model without accelerate's wrappers, and
    whether this process is the one to save it."""

    records: list[dict]
    summary: dict
    model: object
    is_main: bool


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


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
        # Every process must stop at the same step: one that left to save a resume point
        # while another ran the next step's all-reduce would deadlock both. So with several
        # processes the decision is a sum over all of them (one scalar per step).
        if self.accelerator.num_processes == 1:
            return self.signalled
        flag = torch.tensor([int(self.signalled)], device=self.accelerator.device)
        return bool(self.accelerator.reduce(flag, reduction="sum").item())


class StepLog:
    """The steps since the last flush, and the clock; a flush turns them into the
    state's records.

    A step's loss and real-token count stay on the device until the next flush: reading
    one back is a host sync, and one per step would stop the host from queueing the next
    step's kernels while the GPU still runs this one.
    """

    def __init__(self, accelerator, total_steps: int, phases: list, state: TrainState):
        self.accelerator, self.total_steps, self.phases = accelerator, total_steps, phases
        self.state, self.elapsed_before = state, state.elapsed_s
        self.pending_losses: list[torch.Tensor] = []
        self.pending_tokens = torch.zeros((), dtype=torch.long, device=accelerator.device)
        self.pending_meta: list[tuple[int, float, float]] = []
        self.started = self.window_start = self.epoch_start = time.perf_counter()
        self.window_tokens = state.tokens_seen

    def elapsed(self) -> float:
        """Training seconds so far, those before a resume included."""
        return self.elapsed_before + time.perf_counter() - self.started

    def add(self, step: int, learning_rate: float, loss: torch.Tensor,
            real_tokens: torch.Tensor) -> None:
        self.pending_losses.append(loss)
        self.pending_tokens += real_tokens
        self.pending_meta.append((step, batching.epoch_at(self.phases, step), learning_rate))

    def end_epoch(self) -> None:
        now = time.perf_counter()
        self.state.epoch_seconds.append(now - self.epoch_start)
        self.epoch_start = now

    def flush(self, callback: TrainCallback) -> None:
        """Turn the pending steps into the state's records (averaged over processes), log
        a line (main process) and pass the new records to the callback."""
        if not self.pending_losses:
            return
        state, several = self.state, self.accelerator.num_processes > 1
        losses = torch.stack(self.pending_losses).float()
        losses = self.accelerator.reduce(losses, reduction="mean") if several else losses
        tokens = (self.accelerator.reduce(self.pending_tokens.clone(), reduction="sum") if several
                  else self.pending_tokens)
        state.tokens_seen += int(tokens.item())
        new = [{"step": step, "epoch": round(epoch, 6), "loss": loss, "learning_rate": lr}
               for (step, epoch, lr), loss in zip(self.pending_meta, losses.tolist())]
        state.records.extend(new)
        now = time.perf_counter()
        state.elapsed_s = self.elapsed_before + now - self.started
        window = Window(new[-1]["step"], state.tokens_seen, state.elapsed_s,
                        (state.tokens_seen - self.window_tokens) / max(now - self.window_start, 1e-9),
                        peak_memory_mb(self.accelerator.device))
        if self.accelerator.is_main_process:
            last = new[-1]
            say(f"step {last['step']}/{self.total_steps} epoch {last['epoch']:.3f} "
                f"loss {sum(losses.tolist()) / len(losses):.4f} lr {last['learning_rate']:.3e} "
                f"tokens/s {window.tokens_per_s:,.0f} peak_mem_mb {window.peak_memory_mb:,.0f}")
        self.window_start, self.window_tokens = now, state.tokens_seen
        callback.on_flush(new, window)
        self.pending_losses.clear()
        self.pending_meta.clear()
        self.pending_tokens.zero_()


def setup_accelerator(requested_precision: str, accelerator_kwargs: dict) -> tuple:
    """accelerate's Accelerator (one process of several under `accelerate launch`) and the
    precision it trains in (`pick_precision`)."""
    from accelerate import Accelerator

    device = pick_device()
    precision = pick_precision(requested_precision, device)
    accelerator = Accelerator(
        cpu=device.type != "cuda",
        mixed_precision={"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision],
        **accelerator_kwargs)
    return accelerator, precision


def setup_examples(data: TrainData, options: TrainOptions) -> list[list[int]]:
    """The examples a step draws from: as they are, or packed into fixed blocks."""
    if options.packing and (data.contexts is not None or len(data.parts) > 1):
        raise InputError("train.packing cannot be combined with a recipe of several parts or "
                         "with question-answer examples (a block would mix them)")
    return batching.pack_examples(data.examples, options.block_size) if options.packing else data.examples


def setup_steps(phases: list, options: TrainOptions) -> tuple[int, int]:
    """(steps per epoch of the first phase, total steps): every phase's epochs, or
    `max_steps` if fewer."""
    total = sum(phase.steps for phase in phases)
    return phases[0].per_epoch, min(total, options.max_steps) if options.max_steps else total


def padding_free_width(model, data: TrainData, options: TrainOptions, compiled: bool) -> int | None:
    """The model's hidden size where a step may be one padding-free row (TrainData.collate
    decides per step), else None. Fixed blocks (packing) and fixed lengths hold no padding
    to leave out; a compiled model makes a graph per batch shape (TrainOptions.for_method
    turns padding_free off for compiled jobs; this is for direct callers)."""
    on = (options.padding_free and not options.packing and data.fixed_length is None
          and not compiled and takes_padding_free(model))
    return model.config.hidden_size if on else None


def setup_optimizer(model, options: TrainOptions, total_steps: int) -> tuple:
    """(trainable parameters, optimizer, schedule) of `model`, gradient checkpointing on if
    asked: fused AdamW and HF Trainer's linear schedule."""
    from transformers import get_linear_schedule_with_warmup

    if options.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    params = [p for p in model.parameters() if p.requires_grad]
    # Fused AdamW: one kernel for all parameters, on the GPU and (3x faster than the
    # default for-each version there too) on the CPU.
    optimizer = torch.optim.AdamW(params, lr=options.learning_rate,
                                  weight_decay=options.weight_decay, fused=True)
    # HF Trainer's default schedule, exactly: linear warm-up from 0, then linear decay to 0.
    scheduler = get_linear_schedule_with_warmup(optimizer, options.warmup_steps, total_steps)
    return params, optimizer, scheduler


class Trainer:
    """What a run sets up before its first step, in this order: accelerate, the examples and
    how many steps they make, the batch layout, the optimizer and learning-rate schedule,
    torch.compile, and where its resume points go (`resume_dir`, none if None);
    then one optimisation step at a time. Each set-up step takes what it needs and returns
    what it makes."""

    def __init__(self, model, data: TrainData, options: TrainOptions, seed: int,
                 resume_dir: str | Path | None, accelerator_kwargs: dict):
        compiled = compile_mode(options.compile)
        # The config refuses the pair (config.TrainOptions); this is for direct callers.
        if compiled and options.gradient_checkpointing:
            raise InputError("train.gradient_checkpointing cannot be combined with train.compile")
        self.data, self.options, self.seed, self.compile_mode = data, options, seed, compiled
        self.resume_dir = Path(resume_dir) if resume_dir is not None else None
        self.accelerator, self.precision = setup_accelerator(options.precision, accelerator_kwargs)
        self.matmul = configure_matmul(self.accelerator.device, options.tf32)
        self.examples = setup_examples(data, options)
        self.phases = data.phases(len(self.examples), options, self.accelerator.num_processes)
        self.per_epoch, self.total_steps = setup_steps(self.phases, options)
        self.padding_free_width = padding_free_width(model, data, options, bool(compiled))
        # On a CPU a padding-free row attends by example (bibleft.attention): the pairs
        # across examples are not scored. On a GPU the packed-sequence mask stays: there a
        # step is launch-bound, and a kernel per example per layer would add launches.
        self.segments = bool(self.padding_free_width) and self.accelerator.device.type == "cpu"
        self.params, optimizer, self.scheduler = setup_optimizer(model, options, self.total_steps)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.scaler = getattr(self.accelerator, "scaler", None)
        self.compile_before = compile_counts() if compiled else None
        self.forward = compile_for_training(self.model, compiled, options.compile_scope)
        self.cuda_graphs = self.accelerator.device.type == "cuda" and compiled in CUDA_GRAPH_MODES
        # The seed, n_examples and world: the same settings with another data order, over
        # other data or on another number of processes make other steps, which a resume point
        # must not resume. Where the resume points are kept is not what they hold.
        self.fingerprint = settings_fingerprint({
            **options.as_dict(), "seed": seed, "n_examples": len(self.examples),
            "world": self.accelerator.num_processes,
            **({"parts": list(data.parts), "contexts": sum(data.contexts)}
               if data.parts or data.contexts else {})})

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def unwrapped_model(self):
        return self.accelerator.unwrap_model(self.model)

    @property
    def parts(self) -> TrainParts:
        """What a resume point holds besides the state (the model without accelerate's wrappers)."""
        return TrainParts(self.unwrapped_model(), self.optimizer, self.scheduler, self.scaler)

    def banner(self) -> str:
        trainable = sum(p.numel() for p in self.params)
        total = sum(p.numel() for p in self.unwrapped_model().parameters())
        options = self.options
        return (f"examples={len(self.examples)} batch_size={options.batch_size} x "
                f"{self.accelerator.num_processes} process(es) steps/epoch={self.per_epoch} "
                f"total_steps={self.total_steps} epochs={sum(p.epochs for p in self.phases)} "
                f"device={self.accelerator.device} precision={self.precision} matmul={self.matmul} "
                f"trainable={trainable:,}/{total:,} packing={options.packing} "
                f"batches={self.batch_layout()}")

    def batch_layout(self) -> str:
        """How a step's examples are laid out, for the banner and the run's summary
        (padding-free: each step whose row computes no more than its padded batch)."""
        options = self.options
        if self.data.fixed_length is not None:
            return f"padded to {self.data.fixed_length}"
        if self.padding_free_width:
            return "padding-free"
        if options.padding_free and not options.packing and not self.compile_mode:
            kind = self.unwrapped_model().config.model_type
            return f"padded (architecture {kind} is not in PADDING_FREE_MODEL_TYPES)"
        return "padded"

    def compile_summary(self) -> dict | None:
        return compile_report(self.compile_mode, self.compile_before) if self.compile_mode else None

    def resume(self) -> TrainState:
        """The state to start from: the newest resume point in the resume directory written
        with these settings, restored into the model, optimizer and schedule, or a fresh
        run's."""
        resume_dir = self.resume_dir
        point = resume_points.latest(resume_dir, self.fingerprint) if resume_dir else None
        if point is None:
            return TrainState()
        state = resume_points.restore(point, self.parts)
        say(f"resuming from {point} at step {state.step}")
        return state

    def save(self, state: TrainState, steps: StepLog, callback: TrainCallback) -> None:
        """Flush the log and save the state in a resume point (the main process
        writes it)."""
        steps.flush(callback)
        if self.resume_dir is not None and self.is_main:
            state.elapsed_s = steps.elapsed()
            resume_points.save(self.resume_dir, state, self.parts, self.fingerprint)
        self.accelerator.wait_for_everyone()

    def rows_by_step(self, start_step: int):
        """This process's example indices for each step from `start_step` to the last."""
        return batching.indices_by_step(
            [len(ex) for ex in self.examples], self.phases, self.options.batch_size, self.seed,
            self.options.group_by_length, start_step, self.total_steps,
            self.accelerator.process_index, self.accelerator.num_processes)

    def batch(self, rows: list[int]) -> dict:
        """A step's rows (example indices) collated and on the device."""
        # A copy from pageable memory makes the host wait for the GPU to drain; from pinned
        # memory it is truly asynchronous, so the host can queue the next step's kernels
        # while the GPU still runs this one.
        cuda = self.accelerator.device.type == "cuda"
        contexts = [self.data.contexts[i] for i in rows] if self.data.contexts is not None else None
        batch = self.data.collate([self.examples[i] for i in rows], self.options,
                                  self.padding_free_width, contexts, self.segments)
        return {k: (v.pin_memory() if cuda else v).to(self.accelerator.device, non_blocking=True)
                for k, v in batch.items()}

    def step(self, batch: dict) -> torch.Tensor:
        """One optimisation step on a batch on the device; returns its loss, detached."""
        # No attention mask is given. A padded batch is padded on the right, so under causal
        # attention no real token can see a pad (each pad comes after it) and pads are out
        # of the loss: the mask changes nothing, and given one, transformers builds a 4-D
        # mask, tests it on the host (a GPU sync every step) and cannot use flash attention.
        # A padding-free row brings its position ids instead, from which transformers
        # builds the mask that keeps each example to itself (it does so only when given
        # no attention mask and no cache).
        if self.cuda_graphs:  # a new training step: earlier graph outputs may be reused
            torch.compiler.cudagraph_mark_step_begin()
        positions = {"position_ids": batch["position_ids"]} if "position_ids" in batch else {}
        # use_cache=False: training needs no KV cache, and building one costs ops and,
        # under per-block compilation, a recompile per block (its layer index).
        with self.accelerator.autocast():
            loss = self.forward(input_ids=batch["input_ids"], labels=batch["labels"],
                                use_cache=False, **positions).loss
        self.accelerator.backward(loss)
        if self.options.max_grad_norm:
            self.accelerator.clip_grad_norm_(self.params, self.options.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        # A copy: a CUDA graph's output is overwritten by its next replay.
        return loss.detach().clone() if self.cuda_graphs else loss.detach()

    def summary(self, state: TrainState, resumed_from: int) -> dict:
        step, elapsed, device = state.step, state.elapsed_s, self.accelerator.device
        return {
            "steps": step, "steps_per_epoch": self.per_epoch,
            "epochs": sum(phase.epochs for phase in self.phases),
            **({"phases": [{"examples": p.count, "epochs": p.epochs, "steps_per_epoch": p.per_epoch}
                           for p in self.phases]} if len(self.phases) > 1 else {}),
            "examples": len(self.examples), "batch_size": self.options.batch_size,
            "batches": self.batch_layout(),
            "attention": SEGMENTS if self.segments else "sdpa",
            "processes": self.accelerator.num_processes, "tokens_seen": state.tokens_seen,
            "seconds_total": elapsed,
            "seconds_per_epoch": elapsed / batching.epoch_at(self.phases, step) if step else None,
            "epoch_seconds": state.epoch_seconds,
            "tokens_per_second": state.tokens_seen / max(elapsed, 1e-9),
            "peak_memory_mb": peak_memory_mb(device), "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "precision": self.precision, "matmul_precision": self.matmul,
            "resumed_from_step": resumed_from,
            "final_loss": state.records[-1]["loss"] if state.records else math.nan,
            "library_versions": library_versions(), "compile": self.compile_summary(),
        }


def train(model, data: TrainData, options: TrainOptions, seed: int,
          resume_dir: str | Path | None = None, callback: TrainCallback | None = None) -> TrainResult:
    """Fine-tune `model` in place on `data` as `options` (the config's `train:` for one
    job: TrainOptions.for_method) say, the data in `seed`'s order; `callback` adds trackers
    or timing. The caller seeds torch's RNG (finetuning.finetune, before a LoRA adapter is
    drawn): the dropout masks follow from it.

    The learning rate follows transformers' get_linear_schedule_with_warmup exactly: up
    from 0 over warmup_steps, then down to 0 at the last step. With `resume_dir`, a
    resume point is saved there every resume_every steps and on SIGTERM, and the newest one
    of the same options and seed resumed.
    """
    from .config import CompileModes

    if isinstance(options.compile, (dict, CompileModes)):
        raise ValueError(f"train.compile {options.compile!r} is per method: resolve it for one "
                         "fine-tune (TrainOptions.for_method)")
    callback = callback or TrainCallback()
    run = Trainer(model, data, options, seed, resume_dir, callback.accelerator_kwargs())
    state = run.resume()
    resumed_from = state.step
    if run.is_main:
        say(run.banner())
    try:
        callback.on_start(run.accelerator)
        with attending_by_segments(run.unwrapped_model(), run.segments):
            _loop(run, state, callback)
        summary = run.summary(state, resumed_from)  # before on_end: closing is not training
    finally:
        callback.on_end()  # after the last step, a preemption or a failure alike
    return TrainResult(state.records, summary, run.unwrapped_model(), run.is_main)


def _loop(run: Trainer, state: TrainState, callback: TrainCallback) -> None:
    """The steps from `state.step` to the last, `state` kept current: each step, then the
    log flush, the stop check and the resume point it may be due."""
    from tqdm.auto import tqdm

    options, first = run.options, state.step + 1
    run.model.train()
    with Preemption(run.accelerator) as preemption, tqdm(
            total=run.total_steps, initial=state.step, desc="train", file=sys.stderr, mininterval=5,
            disable=not run.is_main, dynamic_ncols=False) as bar:
        steps = StepLog(run.accelerator, run.total_steps, run.phases, state)
        for rows in run.rows_by_step(state.step):
            batch = run.batch(rows)
            loss = run.step(batch)
            state.step += 1
            if run.compile_mode and state.step == first and run.is_main:
                say(report_line(run.compile_summary()))
            steps.add(state.step, run.scheduler.get_last_lr()[0], loss, batch["attention_mask"].sum())
            bar.update(1)
            if state.step % options.log_every == 0:
                steps.flush(callback)
            if preemption.stop_requested():
                say(f"SIGTERM at step {state.step}: saving a resume point and exiting")
                run.save(state, steps, callback)
                raise Preempted(state.step)
            if options.resume_every and state.step % options.resume_every == 0 \
                    and state.step < run.total_steps:
                run.save(state, steps, callback)
            if batching.epoch_at(run.phases, state.step).is_integer() or state.step >= run.total_steps:
                steps.end_epoch()
        steps.flush(callback)
    state.elapsed_s = steps.elapsed()
