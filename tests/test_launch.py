"""`resources.gpu: N > 1` trains through `accelerate launch` with N processes: the command,
the dry run through the real rule, and N processes that stop together on SIGTERM and resume."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bibleft import launch
from bibleft.asv import Verse
from bibleft.corpus import save_dataset, tokenize_verses
from bibleft.grid import FineTune
from bibleft.modeling import load_tokenizer
from fixtures import finetune_job, train_options, write_bibleqa
from workflow_helpers import copy_project, run_file, snakemake, tiny_config, write_config

ROOT = Path(__file__).resolve().parents[1]
FINETUNE = ROOT / "workflow_scripts" / "finetune.py"


def test_accelerate_command_is_an_argument_list():
    command = launch.accelerate_command("/w/finetune.py", "/tmp/job.json", num_processes=4,
                                        threads_per_process=8, port=41234, python="/env/bin/python")
    assert command == ["/env/bin/python", "-m", "accelerate.commands.launch", "--multi_gpu",
                       "--num_machines", "1", "--num_processes", "4", "--main_process_port", "41234",
                       "--num_cpu_threads_per_process", "8", "--mixed_precision", "no",
                       "--dynamo_backend", "no", "/w/finetune.py", "--spec", "/tmp/job.json"]
    with pytest.raises(ValueError):
        launch.accelerate_command("f.py", "j.json", num_processes=1, threads_per_process=1, port=1)


def test_launch_only_for_several_gpus_and_never_from_inside_a_launch():
    assert launch.needs_launch(2, env={})
    assert not launch.needs_launch(1, env={})
    assert not launch.needs_launch(0, env={})
    # Each launched process sees LOCAL_RANK and trains instead of launching again.
    assert not launch.needs_launch(2, env={"LOCAL_RANK": "0"})


def test_free_ports_differ_between_jobs():
    assert len({launch.free_port() for _ in range(5)}) > 1


@pytest.mark.e2e
def test_dry_run_of_the_rule_prints_the_launch_command(tiny_gpt2, tmp_path, monkeypatch):
    project = copy_project(tmp_path / "project")
    qa = write_bibleqa(tmp_path / "qa.csv")
    config = write_config(tmp_path / "tiny.yaml", tiny_config(
        tiny_gpt2, qa, **{"resources.gpu": 2, "resources.cpus_per_gpu": 1}))
    monkeypatch.setenv(launch.DRY_RUN_ENV, "1")
    proc = snakemake(project, "checkpoints/tiny-gpt2/paper/seed42/full", "--cores", "2", "--configfile", str(config),
                     check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, "a dry run must not produce the fine-tune"
    match = re.search(r"printed the launch command instead of training: (.+)", out)
    assert match, out[-3000:]
    command = shlex.split(match[1])
    print(shlex.join(command))
    assert command[1:3] == ["-m", "accelerate.commands.launch"]
    assert command[command.index("--num_processes") + 1] == "2"
    # threads = cpus_per_gpu x gpus = 2, shared by the 2 processes
    assert command[command.index("--num_cpu_threads_per_process") + 1] == "1"
    # The real script (not Snakemake's temporary copy), told where its job is.
    assert Path(command[-3]).resolve() == (project / "workflow_scripts" / "finetune.py").resolve()
    assert command[-2] == "--spec"
    assert not (project / "checkpoints" / "tiny-gpt2" / "paper" / "seed42" / "full").exists()
    # Generation runs on one GPU, whatever training gets.
    generations = run_file(project, "generations", "base").relative_to(project)
    dry = snakemake(project, str(generations), "-n", "--cores", "2", "--configfile", str(config))
    assert re.search(r"rule generate_(base_)?answers:.*?resources:[^\n]*gpu=1\b", dry.stdout, re.S), dry.stdout[-2000:]


SETTINGS = {"epochs": 2, "batch_size": 2, "learning_rate": 1e-3, "weight_decay": 0.01,
            "warmup_steps": 3, "log_every": 1, "resume_every": 4, "precision": "fp32",
            "max_length": 64, "block_size": 32}
PROCESSES = 2
TOTAL_STEPS = 24   # 48 examples / (2 per process x 2 processes) x 2 epochs

DRIVER = """
import json, sys
sys.path.insert(0, {scripts!r})
from bibleft import launch
spec = json.load(open({spec!r}))
sys.exit(launch.run_launched({script!r}, spec, {processes}, {processes}))
"""


@pytest.mark.e2e
def test_launched_processes_stop_together_on_sigterm_and_resume(tiny_gpt2, tmp_path):
    tokenizer = load_tokenizer(tiny_gpt2)
    verses = [Verse("Ruth", 1, i + 1, f"Whither thou goest, I will go, said she the {i}th time.")
              for i in range(48)]
    save_dataset(tokenize_verses(verses, tokenizer, "text"), tmp_path / "data", num_shards=1)
    out, resume_dir = tmp_path / "out", tmp_path / "resume"
    job = finetune_job(FineTune("tiny", "paper", 7, "full"), tiny_gpt2, tmp_path / "data", out,
                       train_options(**SETTINGS), resume_dir)
    (tmp_path / "spec.json").write_text(json.dumps(job.as_dict()), encoding="utf-8")
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(scripts=str(ROOT / "workflow_scripts"), spec=str(tmp_path / "spec.json"),
                                    script=str(FINETUNE), processes=PROCESSES), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}

    # SIGTERM to the launching process (as SLURM's is): passed on to every training process,
    # which agree on one step, save one checkpoint, and exit.
    proc = subprocess.Popen([sys.executable, str(driver)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    lines, deadline = [], time.monotonic() + 300
    for line in proc.stdout:
        lines.append(line)
        match = re.match(r"step (\d+)/", line)
        if match and int(match[1]) >= 5:
            proc.send_signal(signal.SIGTERM)
            break
        assert time.monotonic() < deadline
    lines += proc.stdout.readlines()
    log = "".join(lines)
    assert proc.wait(timeout=120) != 0, log[-3000:]
    stops = [int(s) for s in re.findall(r"SIGTERM at step (\d+)", log)]
    assert len(stops) == PROCESSES and len(set(stops)) == 1, log[-3000:]
    assert [p.name for p in resume_dir.glob("step-*")] == [f"step-{stops[0]:08d}"]
    assert not out.exists()

    rerun = subprocess.run([sys.executable, str(driver)], capture_output=True, text=True, env=env,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["processes"] == PROCESSES
    assert summary["resumed_from_step"] == stops[0] > 0
    assert summary["steps"] == TOTAL_STEPS
    with open(out / "train_log.jsonl", encoding="utf-8") as fh:
        assert [json.loads(line)["step"] for line in fh] == list(range(1, TOTAL_STEPS + 1))
