"""Resume points: what a resume point saves comes back exactly (the run's TrainState
whole, the weights, AdamW's moments, the schedule, the RNG), and only into a run with the
settings that wrote it."""

from __future__ import annotations

import dataclasses

import torch
from safetensors.torch import load_file
from transformers import get_linear_schedule_with_warmup

from bibleft import resume_points
from bibleft.resume_points import TrainParts, TrainState, settings_fingerprint

INPUTS = torch.linspace(-1, 1, 24).reshape(6, 4)
FINGERPRINT = settings_fingerprint({"learning_rate": 0.1, "seed": 0})
STATE = TrainState(step=3, tokens_seen=400, elapsed_s=12.5, epoch_seconds=[3.0],
                   records=[{"step": 3, "epoch": 0.5, "loss": 1.0, "learning_rate": 0.1}])


def new_run(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    # Frozen, as the base model's weights under LoRA: the same in every run, and not the
    # resume point's to save.
    model[2].bias.requires_grad_(False).fill_(0.25)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    scheduler = get_linear_schedule_with_warmup(optimizer, 2, 10)
    return TrainParts(model, optimizer, scheduler)


def steps(run, n: int) -> list[float]:
    """n optimisation steps; dropout draws from the global RNG."""
    model, optimizer, scheduler = run.model, run.optimizer, run.scheduler
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
    return resume_points.save(resume_dir, dataclasses.replace(STATE, step=step), run, fingerprint)


def test_a_state_saved_and_restored_is_the_same_state(tmp_path):
    state = TrainState(step=17, tokens_seen=12345, elapsed_s=0.1 + 0.2, epoch_seconds=[1 / 3, 2.5],
                       records=[{"step": s, "epoch": round(s / 7, 6), "loss": 10.0 / (s + 0.3),
                                 "learning_rate": 5e-5 * (17 - s) / 17} for s in range(1, 18)])
    run = new_run(seed=0)
    ckpt = resume_points.save(tmp_path, state, run, FINGERPRINT)
    assert ckpt.name == "step-00000017"
    assert resume_points.restore(ckpt, new_run(seed=1)) == state  # whole: every field, exact floats


def test_a_restored_run_takes_the_steps_the_saved_one_would_have(tmp_path):
    saved = new_run(seed=0)
    steps(saved, 3)
    ckpt = save(saved, tmp_path, 3)
    lr_at_save = saved.scheduler.get_last_lr()
    after_save = steps(saved, 4)
    assert set(load_file(str(ckpt / "state.safetensors"))) >= {"model.0.weight", "model.2.weight"}
    assert "model.2.bias" not in load_file(str(ckpt / "state.safetensors"))

    restored = new_run(seed=1)  # other weights and RNG state, fresh optimizer and schedule
    assert resume_points.restore(ckpt, restored) == STATE
    assert restored.scheduler.get_last_lr() == lr_at_save
    assert steps(restored, 4) == after_save  # same weights, moments, schedule and dropout masks
    for (name, want), got in zip(saved.model.named_parameters(), restored.model.parameters()):
        if want.requires_grad:
            torch.testing.assert_close(got, want, rtol=0, atol=0, msg=name)
    assert restored.optimizer.state_dict()["state"][0]["step"] == \
        saved.optimizer.state_dict()["state"][0]["step"] == 7


def test_only_the_newest_resume_point_is_kept_and_only_for_the_same_settings(tmp_path):
    run = new_run(seed=0)
    first = save(run, tmp_path, 2)
    steps(run, 1)
    second = save(run, tmp_path, 3)
    assert sorted(tmp_path.iterdir()) == [second] and not first.exists()
    assert resume_points.latest(tmp_path, FINGERPRINT) == second
    assert resume_points.latest(tmp_path, settings_fingerprint({"learning_rate": 0.2, "seed": 0})) is None
    # The fingerprint does not depend on the order of the settings.
    assert settings_fingerprint({"seed": 0, "learning_rate": 0.1}) == FINGERPRINT
