"""One GPU per job: concurrent jobs on a node claim different GPUs through lock files, wait
when all are taken, respect CUDA_VISIBLE_DEVICES and SLURM, and the model jobs record the
claim. No GPU is needed: a 2-GPU node is simulated with CUDA_VISIBLE_DEVICES=0,1."""

from __future__ import annotations

import fcntl
import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bibleft import devices
from bibleft.errors import InputError
from fixtures import write_bibleqa
from workflow_helpers import copy_project, snakemake, tiny_config, with_overlay, write_config

ROOT = Path(__file__).resolve().parents[1]

# A job that claims argv[1] GPUs and holds them until its stdin closes or it is killed.
CLAIMER = f"""
import sys
sys.path.insert(0, {str(ROOT / "workflow_scripts")!r})
from bibleft import devices
devices.claim_gpus(int(sys.argv[1]), poll_s=0.05)
sys.stdin.read()
"""


class Job:
    """A claiming process whose output lines the test reads with a timeout."""

    def __init__(self, env: dict, gpus: int = 1):
        self.proc = subprocess.Popen([sys.executable, "-c", CLAIMER, str(gpus)], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.proc.stdout],
                         daemon=True).start()

    def line(self, timeout: float = 60) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output within {timeout} s") from None

    def claimed(self) -> str:
        while True:
            line = self.line()
            match = re.match(r"using GPU\(s\) (\S+) of \S+ \(CUDA_VISIBLE_DEVICES=(\S+?);", line)
            assert match or line.startswith("waiting for"), line
            if match:
                assert match[1] == match[2]
                return match[1]


@pytest.fixture
def jobs():
    started: list[Job] = []
    yield lambda env, gpus=1: started.append(Job(env, gpus)) or started[-1]
    for job in started:
        job.proc.kill()
        job.proc.wait()


@pytest.fixture(autouse=True)
def release_claims():
    yield
    devices.release()


def node_env(lock_dir: Path, **extra) -> dict:
    """This process's environment outside SLURM, with a lock folder of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return {**env, devices.LOCK_DIR_ENV: str(lock_dir), **extra}


def test_concurrent_jobs_get_different_gpus_and_a_third_waits_for_one(tmp_path, jobs):
    env = node_env(tmp_path / "locks", CUDA_VISIBLE_DEVICES="0,1")
    first = jobs(env)
    held_by_first = first.claimed()
    second = jobs(env)
    assert {held_by_first, second.claimed()} == {"0", "1"}
    third = jobs(env)
    waiting = third.line()
    assert waiting.startswith("waiting for a free GPU: all of 0,1 are claimed by other jobs "
                              f"(lock folder {tmp_path / 'locks'}"), waiting
    # SIGKILL: no code of the first job runs, the kernel drops its lock as the process ends.
    first.proc.kill()
    assert third.claimed() == held_by_first


def test_multi_gpu_jobs_claim_disjoint_sets(tmp_path, jobs):
    env = node_env(tmp_path, CUDA_VISIBLE_DEVICES="0,1,2,3")
    first = jobs(env, 2)
    assert first.claimed() == "0,1"
    assert jobs(env, 2).claimed() == "2,3"


@pytest.mark.parametrize("visible", ["3,5", "GPU-8d1f0a7e-aaaa,GPU-2c9b-bbbb"])
def test_claims_come_from_cuda_visible_devices(tmp_path, jobs, visible):
    env = node_env(tmp_path, CUDA_VISIBLE_DEVICES=visible)
    first = jobs(env)
    claims = {first.claimed(), jobs(env).claimed()}
    assert claims == set(visible.split(","))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        devices.lock_path(tmp_path, d).name for d in visible.split(","))


def test_under_slurm_the_jobs_own_gpus_are_used_without_locking(tmp_path, jobs):
    # Another SLURM job on the node also sees its GPU as "0" and holds the lock file of "0".
    other = os.open(devices.lock_path(tmp_path, "0"), os.O_RDONLY | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_EX)
    try:
        env = node_env(tmp_path, SLURM_JOB_ID="4242", CUDA_VISIBLE_DEVICES="0")
        job = jobs(env)
        line = job.line()
        assert line.startswith("using GPU(s) 0 of 0 (CUDA_VISIBLE_DEVICES=0; allocated to SLURM job 4242)"), line
    finally:
        os.close(other)


def test_cuda_visible_devices_is_narrowed_to_the_claim(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "3,5", devices.LOCK_DIR_ENV: str(tmp_path)}
    assert devices.claim_gpus(1, env=env) == ["3"]
    assert env["CUDA_VISIBLE_DEVICES"] == "3"


def test_without_cuda_visible_devices_the_nodes_gpus_are_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "physical_gpu_count", lambda: 2)
    env = {devices.LOCK_DIR_ENV: str(tmp_path)}
    assert devices.claim_gpus(1, env=env) == ["0"]
    assert env["CUDA_VISIBLE_DEVICES"] == "0"


@pytest.mark.parametrize("visible", [None, "", "-1"])
def test_no_gpu_means_no_claim(tmp_path, monkeypatch, visible):
    monkeypatch.setattr(devices, "physical_gpu_count", lambda: 0)
    env = {devices.LOCK_DIR_ENV: str(tmp_path / "locks")}
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    assert devices.claim_gpus(1, env=env) == []
    assert env.get("CUDA_VISIBLE_DEVICES") == visible
    assert not (tmp_path / "locks").exists()


def test_a_cpu_job_claims_nothing(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "0,1", devices.LOCK_DIR_ENV: str(tmp_path / "locks")}
    assert devices.claim_gpus(0, env=env) == []
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert not (tmp_path / "locks").exists()


def test_more_gpus_than_visible_is_one_clear_line(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "0,1", devices.LOCK_DIR_ENV: str(tmp_path)}
    with pytest.raises(InputError) as err:
        devices.claim_gpus(3, env=env)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("resources gpu=3 but only 2 CUDA device(s) are visible "
                              "(CUDA_VISIBLE_DEVICES=0,1); request fewer GPUs (config resources.gpu)")
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_an_unusable_lock_folder_is_one_clear_line(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match=f"cannot lock GPU files in {blocker}.*set {devices.LOCK_DIR_ENV}"):
        devices.claim_gpus(1, env={"CUDA_VISIBLE_DEVICES": "0", devices.LOCK_DIR_ENV: str(blocker)})


@pytest.mark.e2e
def test_model_jobs_record_the_gpu_they_claimed(tiny_gpt2, tmp_path, monkeypatch):
    """The real rules through snakemake on a simulated 2-GPU node: each model job claims
    one GPU, says so in its output, and (no CUDA here) still runs on the CPU."""
    project = copy_project(tmp_path / "project")
    config = write_config(tmp_path / "tiny.yaml", tiny_config(
        tiny_gpt2, write_bibleqa(tmp_path / "qa.csv"),
        **{"resources.gpu": 1, "resources.cpus_per_gpu": 1, "train.max_steps": 2, "answer.limit": 2}))
    for name in [k for k in os.environ if k.startswith("SLURM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv(devices.LOCK_DIR_ENV, str(tmp_path / "locks"))
    snakemake(project, "results/tiny-gpt2/base/bibleqa/closed/generations/base.jsonl",
              "checkpoints/tiny-gpt2/paper/seed42/full",
              "--cores", "2", "--resources", "gpu=2", *with_overlay(config))
    timing = json.loads((project / "results/tiny-gpt2/base/bibleqa/closed/generations/base.timing.json").read_text())
    assert timing["gpus"] in (["0"], ["1"]) and timing["device"] == "cpu"
    summary = json.loads((project / "checkpoints/tiny-gpt2/paper/seed42/full/train_summary.json").read_text())
    assert summary["gpus"] in (["0"], ["1"]) and summary["device"] == "cpu"
    log = (project / "logs/generate/tiny-gpt2/base/bibleqa/closed/base.log").read_text()
    assert re.search(r"^using GPU\(s\) [01] of 0,1 \(CUDA_VISIBLE_DEVICES=[01]; locked in ", log, re.M), log
