"""Resume points: a run's `TrainState` saved and restored whole, with the
tensors of its `TrainParts` (the trainable weights, the optimizer, schedule and loss
scaler) and the RNG states, in a scratch directory outside the job's output. Tensors go
to safetensors and everything else to JSON: no pickle, so loading a resume point cannot
run code; each resume point is written to a temporary folder and moved into place.
("Checkpoint" names the finished fine-tunes alone: checkpoints/<model>/...; a resume
point is the state a killed job goes on from, in resume/<model>/...)"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from .fileio import atomic_dir, read_jsonl, write_json, write_jsonl


@dataclass
class TrainState:
    """Where a training run stands, all of it plain values: the steps taken, the real
    (non-padding) tokens seen, the training seconds so far and those of each finished
    epoch, and one record per step (step, epoch, loss, learning_rate). A fresh run's is
    TrainState(); a resumed run's is the resume point's, and it goes on from there."""

    step: int = 0
    tokens_seen: int = 0
    elapsed_s: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class TrainParts:
    """The objects a step changes, whose state a resume point holds beside the TrainState:
    the model (its trainable weights only), the optimizer, the learning-rate schedule and
    the loss scaler (None without fp16)."""

    model: Any
    optimizer: Any
    scheduler: Any
    scaler: Any = None


def settings_fingerprint(settings: dict) -> str:
    """A short hash of the run's settings: a resume point resumes only the run that wrote it."""
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


def save(resume_dir: Path, state: TrainState, parts: TrainParts, fingerprint: str,
         keep: int = 1) -> Path:
    """Write `resume_dir/step-<state.step>` and delete all but the newest `keep` resume points."""
    from safetensors.torch import save_file

    trainable = {f"model.{n}": p.detach().cpu().contiguous()
                 for n, p in parts.model.named_parameters() if p.requires_grad}
    opt_tensors, opt_scalars = _optimizer_tensors(parts.optimizer)
    rng = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    progress = {k: v for k, v in asdict(state).items() if k != "records"}
    target = resume_dir / f"step-{state.step:08d}"
    with atomic_dir(target) as tmp:
        save_file({**trainable, **opt_tensors, **rng}, str(tmp / "state.safetensors"))
        write_json(tmp / "state.json", {
            "fingerprint": fingerprint, "state": progress, "optimizer": opt_scalars,
            "scheduler": parts.scheduler.state_dict(),
            "scaler": parts.scaler.state_dict() if parts.scaler is not None else None})
        write_jsonl(tmp / "train_log.jsonl", state.records)
    for old in sorted(resume_dir.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def latest(resume_dir: Path, fingerprint: str) -> Path | None:
    """The newest complete resume point written with these settings, or None."""
    for point in sorted(resume_dir.glob("step-*"), reverse=True):
        meta = point / "state.json"
        if meta.is_file() and (point / "state.safetensors").is_file():
            if json.loads(meta.read_text())["fingerprint"] == fingerprint:
                return point
            print(f"ignoring {point}: written with other settings", file=sys.stderr)
    return None


def restore(point: Path, parts: TrainParts) -> TrainState:
    """Load `point` into `parts` and the RNGs; return its TrainState."""
    from safetensors.torch import load_file

    meta = json.loads((point / "state.json").read_text())
    tensors = load_file(str(point / "state.safetensors"))
    params = dict(parts.model.named_parameters())
    with torch.no_grad():
        for name, value in tensors.items():
            if name.startswith("model."):
                params[name[len("model."):]].copy_(value)
    _load_optimizer(parts.optimizer, {k: v for k, v in tensors.items() if k.startswith("opt.")},
                    meta["optimizer"])
    parts.scheduler.load_state_dict(meta["scheduler"])
    if parts.scaler is not None and meta["scaler"]:
        parts.scaler.load_state_dict(meta["scaler"])
    torch.set_rng_state(tensors["rng.cpu"])
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states[:torch.cuda.device_count()])
    names = {f.name for f in fields(TrainState)} - {"records"}
    return TrainState(**{k: meta["state"][k] for k in names},
                      records=read_jsonl(point / "train_log.jsonl"))
