"""train.report_to: experiment trackers through accelerate get the run's losses, under a
run named after the fine-tune, and none of them can make a run fail."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from accelerate.tracking import TensorBoardTracker
# tensorboard: pinned in requirements.txt for these tests (the tracker files they read back).
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bibleft.asv import Verse
from bibleft.corpus import save_dataset, tokenize_verses, with_eos
from bibleft.finetuning import finetune, job_of_rule
from bibleft.grid import FineTune
from bibleft.jobs import FineTuneJob
from bibleft.modeling import build_trainable, load_causal_lm, load_tokenizer
from bibleft.tracking import Trackers, flat_config
from bibleft.train import Preempted, TrainData, train
from fixtures import finetune_job, train_options

VERSES = [
    "In the beginning God created the heaven and the earth.",
    "And God said, Let there be light: and there was light.",
    "Jesus wept.",
    "The Lord is my shepherd; I shall not want.",
    "For God so loved the world, that he gave his only begotten Son.",
    "Rejoice evermore.",
]
# 24 examples at batch size 4: 6 steps, logged in windows of 4 and 2 (several records a flush).
SETTINGS = {"precision": "fp32", "log_every": 4, "max_length": 64}
RUN = FineTune("tiny", "paper", 3, "full")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tiny_gpt2, tmp_path_factory) -> Path:
    tokenizer = load_tokenizer(tiny_gpt2)
    verses = [Verse("Genesis", 1, i + 1, VERSES[i % len(VERSES)]) for i in range(24)]
    out = tmp_path_factory.mktemp("corpus") / "tokenized"
    save_dataset(tokenize_verses(verses, tokenizer, "text"), out, num_shards=1)
    return out


@pytest.fixture(scope="module")
def examples(tiny_gpt2) -> tuple[list[list[int]], int]:
    tokenizer = load_tokenizer(tiny_gpt2)
    ids = tokenizer([VERSES[i % len(VERSES)] for i in range(24)])["input_ids"]
    return with_eos(ids, tokenizer.eos_token_id, True), tokenizer.pad_token_id


def train_tiny(tiny_gpt2, examples, log: io.StringIO, trackers=Trackers, run_name=RUN.name,
               **settings):
    """A run with the `trackers` of `settings` (train.report_to, train.tracking_dir), as
    finetuning.finetune builds them; its stderr (the job's log) into `log`."""
    ids, pad_id = examples
    torch.manual_seed(RUN.seed)  # as finetune seeds a job: the same dropout masks every run
    model = build_trainable(load_causal_lm(tiny_gpt2), "full")
    options = train_options(**{**SETTINGS, **settings})
    trackers = trackers(options.report_to, options.tracking_dir, run_name, options.as_dict())
    with contextlib.redirect_stderr(log):
        return train(model, TrainData(ids, pad_id), options, RUN.seed, callback=trackers)


def scalars(run_dir: Path, tag: str) -> dict[int, float]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {event.step: event.value for event in events.Scalars(tag)}


def tracker_warnings(log: io.StringIO) -> list[str]:
    return [line for line in log.getvalue().splitlines() if line.startswith("warning: tracker")]


def test_tensorboard_gets_every_step_of_train_log(tiny_gpt2, corpus, tmp_path, capsys):
    trackers = tmp_path / "trackers"
    finetune(finetune_job(RUN, tiny_gpt2, corpus, tmp_path / "out", train_options(
        **SETTINGS, report_to=["tensorboard"], tracking_dir=str(trackers)), tmp_path / "resume"))
    assert "warning: tracker" not in capsys.readouterr().err

    records = [json.loads(line) for line in (tmp_path / "out" / "train_log.jsonl").open()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    run_dir = trackers / "tensorboard" / "tiny" / "paper" / "seed3" / "full"
    losses = scalars(run_dir, "train/loss")
    assert sorted(losses) == [r["step"] for r in records]
    for record in records:  # TensorBoard keeps float32: the log's losses are float32 values
        assert losses[record["step"]] == pytest.approx(record["loss"], rel=1e-6)
        assert scalars(run_dir, "train/learning_rate")[record["step"]] == pytest.approx(
            record["learning_rate"], rel=1e-6)
    # Throughput and memory once a flush, at its last step.
    assert sorted(scalars(run_dir, "train/tokens_per_s")) == [4, 6]
    assert all(v > 0 for v in scalars(run_dir, "train/peak_memory_mb").values())
    # The job's resolved settings, flattened, as the run's hyperparameters.
    (hparams,) = run_dir.glob("*/hparams.yml")
    config = yaml.safe_load(hparams.read_text())
    assert config["setting"] == "paper" and config["seed"] == 3 and config["method"] == "full"
    assert config["train.learning_rate"] == train_options().learning_rate
    assert config["train.report_to"] == '["tensorboard"]' and config["lora"] == "null"
    assert config == flat_config(json.loads((tmp_path / "out" / "settings.json").read_text()))


class Wildcards(SimpleNamespace):
    def keys(self):
        return vars(self).keys()


class Input(SimpleNamespace):
    """A rule's input as a script sees it: named paths, and their items()."""

    def items(self):
        return vars(self).items()


def test_the_job_of_the_rule_is_named_after_its_checkpoint_folder():
    fine_tune = FineTune("gpt2", "paper", 1, "lora")
    options = {"fine_tune": fine_tune.as_dict(), "train": train_options().as_dict(),
               "lora": {"r": 8, "alpha": 8, "dropout": 0.0}, "lora_targets": ["c_attn"],
               "trust_remote_code": False, "resume_dir": fine_tune.resume_dir}
    smk = SimpleNamespace(
        input=Input(model="models/gpt2", text="data/tokenized/gpt2/paper"),
        output=["checkpoints/gpt2/paper/seed1/lora"], params=SimpleNamespace(options=options),
        wildcards=Wildcards(model="gpt2", setting="paper", seed="1", method="lora"))
    job = job_of_rule(smk, gpus=["0"])
    assert job.fine_tune == fine_tune and job.gpus == ["0"]
    assert job.fine_tune.name == "gpt2/paper/seed1/lora" == job.output.removeprefix("checkpoints/")
    assert job.lora.r == 8
    assert FineTuneJob.from_dict(json.loads(json.dumps(job.as_dict()))) == job
    assert job.data == {"text": "data/tokenized/gpt2/paper"}  # the examples it reads, by kind


def test_flat_config_keeps_what_every_tracker_takes():
    config = {"seed": 1, "train": {"lr": 5e-5, "packing": False, "max_steps": None,
                                   "report_to": ["tensorboard"], "compile": {"full": "default"}},
              "lora": None, "method": "full"}
    assert flat_config(config) == {
        "seed": 1, "train.lr": 5e-5, "train.packing": False, "train.max_steps": "null",
        "train.report_to": '["tensorboard"]', "train.compile.full": "default",
        "lora": "null", "method": "full"}


def test_each_tracker_starts_once_and_gets_every_step(tiny_gpt2, examples, tmp_path, monkeypatch):
    """Two trackers, the second a stand-in for one not installed here (dvclive)."""
    import accelerate.tracking
    from accelerate.tracking import DVCLiveTracker
    from accelerate.utils import LoggerType

    monkeypatch.setattr(accelerate.tracking, "_available_trackers",
                        [*accelerate.tracking._available_trackers, LoggerType.DVCLIVE])
    events = []
    start = TensorBoardTracker.start
    monkeypatch.setattr(TensorBoardTracker, "start",
                        lambda self: events.append(("start", "tensorboard")) or start(self))
    monkeypatch.setattr(DVCLiveTracker, "start", lambda self: events.append(("start", "dvclive")))
    monkeypatch.setattr(DVCLiveTracker, "store_init_configuration", lambda self, values: None)
    monkeypatch.setattr(DVCLiveTracker, "log",
                        lambda self, values, step=None: events.append(("log", step)))
    monkeypatch.setattr(DVCLiveTracker, "finish", lambda self: events.append(("finish", "dvclive")))
    log = io.StringIO()
    train_tiny(tiny_gpt2, examples, log, report_to=["tensorboard", "dvclive"],
               tracking_dir=str(tmp_path))
    assert tracker_warnings(log) == []
    assert events == [("start", "tensorboard"), ("start", "dvclive"),
                      *[("log", step) for step in range(1, 7)], ("finish", "dvclive")]
    assert sorted(scalars(tmp_path / "tensorboard" / "tiny/paper/seed3/full", "train/loss")) == [
        1, 2, 3, 4, 5, 6]


def test_a_tracker_not_installed_warns_once_and_training_goes_on(tiny_gpt2, examples, tmp_path):
    missing = [name for name in ("aim", "swanlab") if importlib.util.find_spec(name) is None]
    if not missing:
        pytest.skip("aim and swanlab are both installed")
    log = io.StringIO()
    result = train_tiny(tiny_gpt2, examples, log, report_to=[missing[0], "tensorboard"],
                        tracking_dir=str(tmp_path))
    (warning,) = tracker_warnings(log)
    assert warning == (f"warning: tracker {missing[0]}: not used: its package is not installed "
                       "(see requirements-trackers.txt); training goes on without it")
    # The installed tracker still gets the run, and the run is the one without trackers.
    assert sorted(scalars(tmp_path / "tensorboard" / "tiny/paper/seed3/full", "train/loss")) == [
        1, 2, 3, 4, 5, 6]
    plain = train_tiny(tiny_gpt2, examples, io.StringIO())
    assert [r["loss"] for r in result.records] == [r["loss"] for r in plain.records]


def test_a_tracker_that_cannot_start_warns_and_training_goes_on(tiny_gpt2, examples, tmp_path,
                                                                monkeypatch):
    def unreachable(self):
        raise ConnectionError("Failed to connect to\nhttps://tracker.example: timed out")

    monkeypatch.setattr(TensorBoardTracker, "start", unreachable)
    log = io.StringIO()
    result = train_tiny(tiny_gpt2, examples, log, report_to=["tensorboard"],
                        tracking_dir=str(tmp_path))
    assert tracker_warnings(log) == [
        "warning: tracker tensorboard: not used: could not start (ConnectionError: Failed to "
        "connect to https://tracker.example: timed out); training goes on without it"]
    assert [r["step"] for r in result.records] == [1, 2, 3, 4, 5, 6]
    assert "step 6/6" in log.getvalue()


def test_a_tracker_that_fails_mid_run_is_dropped_and_training_goes_on(tiny_gpt2, examples,
                                                                      tmp_path, monkeypatch):
    calls, finished = [], []
    log_values = TensorBoardTracker.log

    def flaky_log(self, values, step=None, **kwargs):
        calls.append(step)
        if step == 3:
            raise OSError("No space left on device")
        return log_values(self, values, step=step, **kwargs)

    monkeypatch.setattr(TensorBoardTracker, "log", flaky_log)
    monkeypatch.setattr(TensorBoardTracker, "finish",
                        lambda self: finished.append(self.run_name) or self.writer.close())
    log = io.StringIO()
    result = train_tiny(tiny_gpt2, examples, log, report_to=["tensorboard"],
                        tracking_dir=str(tmp_path))
    assert tracker_warnings(log) == [
        "warning: tracker tensorboard: dropped at step 3: logging failed (OSError: No space "
        "left on device); training goes on without it"]
    assert calls == [1, 2, 3]  # no more tries after the failure
    assert finished == ["tensorboard/tiny/paper/seed3/full"]  # closed once, when dropped
    assert [r["step"] for r in result.records] == [1, 2, 3, 4, 5, 6]


def test_the_tracker_run_is_closed_on_preemption(tiny_gpt2, examples, tmp_path, monkeypatch):
    finished = []
    finish = TensorBoardTracker.finish
    monkeypatch.setattr(TensorBoardTracker, "finish",
                        lambda self: finished.append(self.run_name) or finish(self))

    class PreemptedAfterStep4(Trackers):  # SLURM's warning, once step 4 is logged
        def on_flush(self, records, window):
            super().on_flush(records, window)
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Preempted) as stopped:
        train_tiny(tiny_gpt2, examples, io.StringIO(), PreemptedAfterStep4, "preempted",
                   report_to=["tensorboard"], tracking_dir=str(tmp_path))
    assert stopped.value.step == 4
    assert finished == ["tensorboard/preempted"]
    assert sorted(scalars(tmp_path / "tensorboard" / "preempted", "train/loss")) == [1, 2, 3, 4]


LAUNCH = """
import json, sys
sys.path.insert(0, {scripts!r})
from bibleft import launch
sys.exit(launch.run_launched({script!r}, json.load(open({spec!r})), 2, 1))
"""


@pytest.mark.e2e
def test_two_processes_make_one_tracker_run(tiny_gpt2, corpus, tmp_path):
    """Under `accelerate launch` (two CPU processes) the main process alone logs: one run,
    one event file, with the losses averaged over the processes, as train_log.jsonl has them."""
    trackers = tmp_path / "trackers"
    job = finetune_job(RUN, tiny_gpt2, corpus, tmp_path / "out", train_options(
        **SETTINGS, batch_size=2, report_to=["tensorboard"], tracking_dir=str(trackers)),
        tmp_path / "resume")
    (tmp_path / "spec.json").write_text(json.dumps(job.as_dict()), encoding="utf-8")
    driver = tmp_path / "driver.py"
    driver.write_text(LAUNCH.format(scripts=str(ROOT / "workflow_scripts"),
                                    script=str(ROOT / "workflow_scripts" / "finetune.py"),
                                    spec=str(tmp_path / "spec.json")), encoding="utf-8")
    run = subprocess.run([sys.executable, str(driver)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "warning: tracker" not in run.stdout + run.stderr
    records = [json.loads(line) for line in (tmp_path / "out" / "train_log.jsonl").open()]
    assert len(records) == 6  # 24 examples, 2 a process, 2 processes
    run_dir = trackers / "tensorboard" / "tiny" / "paper" / "seed3" / "full"
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    assert len(list(run_dir.glob("*/hparams.yml"))) == 1
    losses = scalars(run_dir, "train/loss")
    assert losses == pytest.approx({r["step"]: r["loss"] for r in records}, rel=1e-6)
