"""Resumable checkpoints: what a checkpoint saves comes back exactly (weights, AdamW's
moments, the schedule, the RNG), and only into a run with the settings that wrote it."""

from __future__ import annotations

import torch
from safetensors.torch import load_file
from transformers import get_linear_schedule_with_warmup

from bibleft.checkpointing import (latest_resume_checkpoint, restore_resume_checkpoint,
                                   save_resume_checkpoint, settings_fingerprint)

INPUTS = torch.linspace(-1, 1, 24).reshape(6, 4)
FINGERPRINT = settings_fingerprint({"learning_rate": 0.1, "seed": 0})


def new_run(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    # Frozen, as the base model's weights under LoRA: the same in every run, and not the
    # checkpoint's to save.
    model[2].bias.requires_grad_(False).fill_(0.25)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    scheduler = get_linear_schedule_with_warmup(optimizer, 2, 10)
    return model, optimizer, scheduler


def steps(run, n: int) -> list[float]:
    """n optimisation steps; dropout draws from the global RNG."""
    model, optimizer, scheduler = run
    losses = []
    for _ in range(n):
        loss = model(INPUTS).square().mean()
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def save(run, resume_dir, step: int, fingerprint: str = FINGERPRINT):
    model, optimizer, scheduler = run
    return save_resume_checkpoint(resume_dir, step, model, optimizer, scheduler, None,
                                  [{"step": step, "loss": 1.0}], 12.5, [3.0], 400, fingerprint)


def test_a_restored_run_takes_the_steps_the_saved_one_would_have(tmp_path):
    saved = new_run(seed=0)
    steps(saved, 3)
    ckpt = save(saved, tmp_path, 3)
    lr_at_save = saved[2].get_last_lr()
    after_save = steps(saved, 4)
    assert set(load_file(str(ckpt / "state.safetensors"))) >= {"model.0.weight", "model.2.weight"}
    assert "model.2.bias" not in load_file(str(ckpt / "state.safetensors"))

    restored = new_run(seed=1)  # other weights and RNG state, fresh optimizer and schedule
    meta = restore_resume_checkpoint(ckpt, restored[0], restored[1], restored[2], None)
    assert (meta["step"], meta["elapsed_s"], meta["epoch_seconds"], meta["tokens_seen"]) == (3, 12.5, [3.0], 400)
    assert meta["log_records"] == [{"step": 3, "loss": 1.0}]
    assert restored[2].get_last_lr() == lr_at_save
    assert steps(restored, 4) == after_save  # same weights, moments, schedule and dropout masks
    for (name, want), got in zip(saved[0].named_parameters(), restored[0].parameters()):
        if want.requires_grad:
            torch.testing.assert_close(got, want, rtol=0, atol=0, msg=name)
    assert restored[1].state_dict()["state"][0]["step"] == saved[1].state_dict()["state"][0]["step"] == 7


def test_only_the_newest_checkpoint_is_kept_and_only_for_the_same_settings(tmp_path):
    run = new_run(seed=0)
    first = save(run, tmp_path, 2)
    steps(run, 1)
    second = save(run, tmp_path, 3)
    assert sorted(tmp_path.iterdir()) == [second] and not first.exists()
    assert latest_resume_checkpoint(tmp_path, FINGERPRINT) == second
    assert latest_resume_checkpoint(tmp_path, settings_fingerprint({"learning_rate": 0.2, "seed": 0})) is None
    # The fingerprint does not depend on the order of the settings.
    assert settings_fingerprint({"seed": 0, "learning_rate": 0.1}) == FINGERPRINT
