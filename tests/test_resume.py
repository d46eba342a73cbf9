"""A fine-tuning run killed by SIGTERM (SLURM's time-limit or preemption warning) saves a
resume point, and the rerun resumes from it and ends where an uninterrupted run ends: the
same steps, a continuous loss log, the same losses and weights."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bibleft.asv import Verse
from bibleft.corpus import save_dataset, tokenize_verses
from bibleft.finetuning import finetune
from bibleft.grid import FineTune
from bibleft.jobs import FineTuneJob
from bibleft.modeling import load_tokenizer
from bibleft.train import EXIT_PREEMPTED
from fixtures import finetune_job, train_options

ROOT = Path(__file__).resolve().parents[1]
FINETUNE = ROOT / "workflow_scripts" / "finetune.py"

VERSES = [
    "In the beginning God created the heaven and the earth.",
    "And the earth was without form, and void; and darkness was upon the face of the deep.",
    "And God said, Let there be light: and there was light.",
    "Jesus wept.",
    "The Lord is my shepherd; I shall not want.",
    "He maketh me to lie down in green pastures: he leadeth me beside the still waters.",
    "For God so loved the world, that he gave his only begotten Son.",
    "Rejoice evermore.",
    "Pray without ceasing.",
    "Whither thou goest, I will go; and where thou lodgest, I will lodge.",
]
EXAMPLES = 24          # 12 steps per epoch at batch size 2
EPOCHS = 2             # the resumed run crosses an epoch boundary
TOTAL_STEPS = 24
KILL_AFTER_STEP = 5    # SIGTERM once this step has been logged

SEED = 7
SETTINGS = {"epochs": EPOCHS, "batch_size": 2, "learning_rate": 1e-3, "weight_decay": 0.01,
            "warmup_steps": 3, "log_every": 1, "resume_every": 4, "precision": "fp32",
            "max_length": 64, "block_size": 32}


@pytest.fixture(scope="module")
def corpus(tiny_gpt2, tmp_path_factory) -> Path:
    tokenizer = load_tokenizer(tiny_gpt2)
    verses = [Verse("Genesis", 1, i + 1, VERSES[i % len(VERSES)]) for i in range(EXAMPLES)]
    out = tmp_path_factory.mktemp("corpus") / "tokenized"
    save_dataset(tokenize_verses(verses, tokenizer, "text"), out, num_shards=1)
    return out


def write_spec(tmp: Path, name: str, model: Path, data: Path, method: str, **settings) -> Path:
    """The job as the launching process writes it for finetune.py --spec."""
    job = finetune_job(FineTune("tiny", "paper", SEED, method), model, data, tmp / name / "out",
                       train_options(**{**SETTINGS, **settings}), tmp / name / "resume")
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(job.as_dict()), encoding="utf-8")
    return path


def env() -> dict:
    # One thread, as in the in-process runs (see single_thread): the same float sums in
    # the same order in every run.
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_to_end(spec: Path) -> None:
    """An uninterrupted (or resumed) run, in this process: only the run to be killed
    needs a process of its own, and each start costs seconds of imports."""
    finetune(FineTuneJob.from_dict(json.loads(spec.read_text())))


def run_and_terminate(spec: Path, after_step: int) -> tuple[int, str]:
    """Start a run, send SIGTERM once `after_step` is logged; return (exit status, log)."""
    proc = subprocess.Popen([sys.executable, str(FINETUNE), "--spec", str(spec)], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, deadline = [], time.monotonic() + 300
    for line in proc.stdout:
        lines.append(line)
        match = re.match(r"step (\d+)/", line)
        if match and int(match[1]) >= after_step:
            proc.send_signal(signal.SIGTERM)
            break
        assert time.monotonic() < deadline, "no training step logged in 300 s"
    lines += proc.stdout.readlines()
    return proc.wait(timeout=300), "".join(lines)


def read_log(out: Path) -> list[dict]:
    with open(out / "train_log.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def weights(out: Path) -> dict:
    from safetensors.torch import load_file

    files = sorted(out.glob("*.safetensors"))
    assert files, f"no safetensors in {out}"
    return {name: t for f in files for name, t in load_file(str(f)).items()}


@pytest.mark.e2e
@pytest.mark.parametrize("method", ["full", "lora"])
def test_terminated_run_resumes_and_matches_an_uninterrupted_run(tiny_gpt2, corpus, tmp_path, method,
                                                                 single_thread, capsys):
    reference = write_spec(tmp_path, "reference", tiny_gpt2, corpus, method)
    run_to_end(reference)
    ref_out = tmp_path / "reference" / "out"
    ref_log = read_log(ref_out)
    assert [r["step"] for r in ref_log] == list(range(1, TOTAL_STEPS + 1))

    spec = write_spec(tmp_path, "killed", tiny_gpt2, corpus, method)
    out, resume_dir = tmp_path / "killed" / "out", tmp_path / "killed" / "resume"
    status, log = run_and_terminate(spec, KILL_AFTER_STEP)
    print(log[-600:])
    assert status == EXIT_PREEMPTED, f"expected exit {EXIT_PREEMPTED} after SIGTERM, got {status}:\n{log[-2000:]}"
    stopped = int(re.search(r"SIGTERM at step (\d+)", log)[1])
    assert KILL_AFTER_STEP <= stopped < TOTAL_STEPS
    assert not out.exists(), "a preempted run must not leave a (partial) output"
    # Only the newest resume point is kept: the one written on SIGTERM.
    assert [p.name for p in resume_dir.glob("step-*")] == [f"step-{stopped:08d}"]

    capsys.readouterr()
    run_to_end(spec)
    assert f"resuming from {resume_dir / f'step-{stopped:08d}'} at step {stopped}" in capsys.readouterr().err
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == stopped > 0
    assert summary["steps"] == TOTAL_STEPS
    log_records = read_log(out)
    # Continuous: every step once, in order, across the kill and the epoch boundary.
    assert [r["step"] for r in log_records] == list(range(1, TOTAL_STEPS + 1))
    # The optimizer, schedule, data order and RNG (dropout) were restored: the resumed
    # run takes the same steps as the uninterrupted one.
    for got, want in zip(log_records, ref_log):
        assert got["learning_rate"] == pytest.approx(want["learning_rate"], rel=1e-9)
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-4, abs=1e-5), got["step"]
    got_w, want_w = weights(out), weights(ref_out)
    assert got_w.keys() == want_w.keys()
    for name in want_w:
        torch.testing.assert_close(got_w[name], want_w[name], rtol=1e-4, atol=1e-5, msg=name)
    assert not resume_dir.exists(), "the finished output supersedes the resume points"


@pytest.mark.e2e
def test_a_resume_point_from_other_settings_is_not_resumed(tiny_gpt2, corpus, tmp_path, single_thread, capsys):
    spec = write_spec(tmp_path, "run", tiny_gpt2, corpus, "full")
    status, log = run_and_terminate(spec, KILL_AFTER_STEP)
    assert status == EXIT_PREEMPTED, log[-2000:]
    write_spec(tmp_path, "run", tiny_gpt2, corpus, "full", learning_rate=5e-4)
    capsys.readouterr()
    run_to_end(spec)
    assert "written with other settings" in capsys.readouterr().err
    summary = json.loads((tmp_path / "run" / "out" / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == 0
    assert summary["steps"] == TOTAL_STEPS
