"""Resumable training checkpoints: the trainable weights, the optimizer, schedule, loss
scaler and RNG states, and the run's log so far, in a scratch directory outside the job's
output. Tensors go to safetensors and everything else to JSON: no pickle, so loading a
checkpoint cannot run code."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import torch

from .fileio import atomic_dir, write_json


def settings_fingerprint(settings: dict) -> str:
    """A short hash of the run's settings: a checkpoint resumes only the run that wrote it."""
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
    """Write `resume_dir/step-<step>` and delete all but the newest `keep` checkpoints."""
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
    """The newest complete checkpoint written with these settings, or None."""
    for ckpt in sorted(resume_dir.glob("step-*"), reverse=True):
        meta = ckpt / "state.json"
        if meta.is_file() and (ckpt / "state.safetensors").is_file():
            if json.loads(meta.read_text())["fingerprint"] == fingerprint:
                return ckpt
            print(f"ignoring {ckpt}: written with other settings", file=sys.stderr)
    return None


def restore_resume_checkpoint(ckpt: Path, model, optimizer, scheduler, scaler) -> dict:
    """Load `ckpt` into the model, optimizer, schedule, scaler and RNGs; return its
    state.json (step, elapsed_s, epoch_seconds, tokens_seen, ...) with the log so far
    under `log_records`."""
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
