"""The workflow on a real SLURM: a one-node cluster on localhost (MariaDB + slurmdbd,
munged, slurmctld, slurmd with one fake GPU) started by .ci/slurm/start.sh, driven
through `--profile profiles/slurm` with only the partition and account filled in.

It needs root (it installs Debian packages and starts daemons). Where the daemons cannot
start, the tests skip and say why; with BIBLEFT_REQUIRE_SLURM=1 (CI) they fail instead.
Select them with `pytest -m slurm`; BIBLEFT_SLURM_KEEP=1 leaves the cluster running.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from fixtures import make_tiny_gpt2, write_bibleqa
from workflow_helpers import SNAKEMAKE, copy_project, planned_jobs, tiny_config, write_config

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
CI = ROOT / ".ci" / "slurm"
PARTITION, ACCOUNT = "gpu", "ci"   # what start.sh creates
# the rules that ask for a GPU
MODEL_RULES = {"finetune", "generate_answers", "run_probes"}
# The tiny grid: two GPT-2 "sizes" x two seeds (probes off: 18 GPU jobs on one fake GPU).
GRID_MODELS = {"tiny-gpt2": None, "tiny-gpt2-deep": 3}  # slug -> layers (None: the shared fixture)
GRID_SEEDS = [42, 43]
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S*/slurm_logs/rule_([A-Za-z0-9_]+)/\S*)\)")
SACCT_FIELDS = "JobID,State,ExitCode,Elapsed,AllocTRES,Comment%80"


def not_available(reason: str):
    print(f"SLURM test not run: {reason}")
    if os.environ.get("BIBLEFT_REQUIRE_SLURM", "") not in ("", "0"):
        pytest.fail(f"BIBLEFT_REQUIRE_SLURM is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_cluster():
    with pytest.MonkeyPatch.context() as env:
        # conftest.py points SLURM_CONF at an empty file for the rest of the suite.
        if os.environ.get("BIBLEFT_OUTER_SLURM_CONF"):
            env.setenv("SLURM_CONF", os.environ["BIBLEFT_OUTER_SLURM_CONF"])
        else:
            env.delenv("SLURM_CONF", raising=False)
        yield from started_cluster()


def started_cluster():
    if os.geteuid() != 0:
        not_available("starting the SLURM daemons needs root (run the tests as root, as CI does)")
    env = {**os.environ, "SLURM_CI_PARTITION": PARTITION, "SLURM_CI_ACCOUNT": ACCOUNT}
    try:
        proc = subprocess.run(["bash", str(CI / "start.sh")], capture_output=True, text=True,
                              timeout=900, env=env)
    except subprocess.TimeoutExpired:
        not_available(".ci/slurm/start.sh did not finish in 900 s")
    print(proc.stdout)
    if proc.returncode != 0:
        # Stop what did start (munged, MariaDB...) before giving up.
        subprocess.run(["bash", str(CI / "stop.sh")], capture_output=True, text=True, timeout=300)
        errors = [line for line in proc.stderr.splitlines() if "ERROR" in line] or ["no message"]
        not_available(f"the SLURM daemons could not start: {errors[-1]} (.ci/slurm/start.sh exit "
                      f"{proc.returncode}; its output:)\n{proc.stdout[-1500:]}{proc.stderr[-3000:]}")
    yield {"partition": PARTITION, "account": ACCOUNT}
    if os.environ.get("BIBLEFT_SLURM_KEEP", "") in ("", "0"):
        stop = subprocess.run(["bash", str(CI / "stop.sh")], capture_output=True, text=True, timeout=300)
        print(stop.stdout, stop.stderr)


@pytest.fixture(scope="module")
def project(tiny_gpt2, tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("slurm")
    project = copy_project(tmp / "project")
    qa = write_bibleqa(tmp / "qa.csv")
    deep = make_tiny_gpt2(tmp / "tiny-gpt2-deep", n_layer=GRID_MODELS["tiny-gpt2-deep"])
    # One CPU per GPU job: the test node has 2 CPUs and one (fake) GPU.
    config = tiny_config(tiny_gpt2, qa, **{"resources.cpus_per_gpu": 1, "run.models": list(GRID_MODELS),
                                           "run.seeds": GRID_SEEDS, "probes.enabled": False})
    config["models"]["tiny-gpt2-deep"] = {**config["models"]["tiny-gpt2"], "source": str(deep)}
    return project, write_config(tmp / "tiny.yaml", config)


def profile_overrides(cluster: dict) -> list[str]:
    """The profile's default-resources with its two placeholders filled in: on the command
    line `--default-resources` replaces the profile's whole list, so the rest is repeated."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    defaults = dict(profile["default-resources"])
    for key in ("slurm_partition", "slurm_account"):
        assert str(defaults[key]).startswith("<"), f"profile {key} should be a marked placeholder"
    defaults.update(slurm_partition=cluster["partition"], slurm_account=cluster["account"])
    return ["--default-resources", *(f"{k}={v}" for k, v in defaults.items())]


def slurm_command(project: Path, config: Path, cluster: dict, *args: str) -> list[str]:
    return [SNAKEMAKE, *args, "--profile", "profiles/slurm", "--configfile", str(config),
            *profile_overrides(cluster),
            # The plugin's first status check waits 40 s by default: long for 10 s jobs.
            "--slurm-init-seconds-before-status-checks", "2"]


def submitted_jobs(snakemake_output: str) -> dict[str, str]:
    """SLURM job id -> rule, from Snakemake's 'submitted with SLURM jobid' lines."""
    return {job_id: rule for job_id, _, rule in SUBMITTED.findall(snakemake_output)}


def slurm_logs(snakemake_output: str) -> dict[str, Path]:
    """SLURM job id -> its log (the plugin keeps those of failed jobs)."""
    return {job_id: Path(path) for job_id, path, _ in SUBMITTED.findall(snakemake_output)}


def sacct(job_ids) -> list[dict]:
    out = subprocess.run(["sacct", "-X", "-P", "-j", ",".join(job_ids), "-o", SACCT_FIELDS],
                         capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    print("sacct -X -o " + SACCT_FIELDS)
    print("\n".join(lines))
    header = lines[0].split("|")
    return [dict(zip(header, line.split("|"))) for line in lines[1:]]


def run_logged(cmd: list[str], cwd: Path, log: Path, timeout: int) -> tuple[int, str]:
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc.returncode, log.read_text(encoding="utf-8")


def test_grid_runs_on_slurm_each_fine_tune_a_gpu_job(slurm_cluster, project, tmp_path):
    """The tiny grid: every (model, method, seed) fine-tune and every answer set is its own
    SLURM job with a GPU in AllocTRES, the data jobs have none, and all COMPLETED."""
    project, config = project
    status, out = run_logged(slurm_command(project, config, slurm_cluster), project,
                             tmp_path / "snakemake.log", timeout=1500)
    assert status == 0, out[-5000:]
    jobs = submitted_jobs(out)
    assert {"finetune", "generate_answers"} <= set(jobs.values()), \
        f"model rules were not submitted: {sorted(set(jobs.values()))}"
    n_models = len(GRID_MODELS)
    assert list(jobs.values()).count("finetune") == n_models * len(GRID_SEEDS) * 2
    # every fine-tune's answers, and the base model's once per model
    assert list(jobs.values()).count("generate_answers") == n_models * (len(GRID_SEEDS) * 2 + 1)
    rows = sacct(jobs)
    assert {r["JobID"] for r in rows} == set(jobs)
    for row in rows:
        rule = jobs[row["JobID"]]
        assert row["State"] == "COMPLETED", row
        assert row["Comment"].startswith(f"rule_{rule}"), row   # the plugin names the rule there
        gpus = re.search(r"gres/gpu=(\d+)", row["AllocTRES"])
        if rule in MODEL_RULES:
            assert gpus and gpus[1] == "1", f"{rule} ran without a GPU: {row}"
        else:
            assert gpus is None, f"data rule {rule} was given a GPU: {row}"
    # Every output of the workflow is there and up to date: nothing left to do.
    assert planned_jobs(project, "--configfile", str(config)) == {}
    for model in GRID_MODELS:
        assert (project / f"results/{model}/base/bibleqa/closed/predictions/base.jsonl").stat().st_size > 0
        for seed in GRID_SEEDS:
            for method in ("full", "lora"):
                assert (project / f"results/{model}/paper/seed{seed}/bibleqa/closed/predictions/"
                        f"{method}.jsonl").stat().st_size > 0
        assert (project / f"results/{model}/aggregate.csv").stat().st_size > 0
    assert (project / "results/summary.png").stat().st_size > 0


def test_job_terminated_on_slurm_resumes_on_retry(slurm_cluster, project, tmp_path):
    """SIGTERM to the job's steps (what `--signal=TERM@300` and preemption send), then
    Snakemake's retry: the second job resumes the fine-tune from its checkpoint."""
    project, base_config = project
    config = yaml.safe_load(base_config.read_text())
    # Long enough to be caught mid-way (Ruth is 22 steps an epoch): 80 steps, a checkpoint
    # every 10.
    config["train"].update(epochs=4, max_steps=80, log_every=10, resume_every=10)
    config["run"].update(models=["tiny-gpt2"], seeds=[7])
    config_path = write_config(tmp_path / "long.yaml", config)
    target = "checkpoints/tiny-gpt2/paper/seed7/full"
    resume_dir = project / "resume" / "tiny-gpt2" / "paper" / "seed7" / "full"
    log = tmp_path / "snakemake.log"
    with open(log, "w", encoding="utf-8") as fh:
        # --verbose: the plugin logs each sbatch call.
        proc = subprocess.Popen(slurm_command(project, config_path, slurm_cluster, target, "--verbose"), cwd=project,
                                stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + 600
            while not list(resume_dir.glob("step-*")):
                assert proc.poll() is None, f"snakemake ended before a checkpoint:\n{log.read_text()[-4000:]}"
                assert time.monotonic() < deadline, "no resume point within 600 s"
                time.sleep(0.5)
            first_job = [j for j, rule in submitted_jobs(log.read_text()).items() if rule == "finetune"][0]
            subprocess.run(["scancel", "--signal=TERM", first_job], check=True)
            status = proc.wait(timeout=900)
        finally:
            if proc.poll() is None:
                proc.kill()
    out = log.read_text(encoding="utf-8")
    assert status == 0, out[-5000:]
    # The profile's early warning reaches sbatch: SIGTERM 300 s before the time limit.
    sbatch = re.search(r"sbatch call: (sbatch .*rule_finetune.*)", out)
    assert sbatch and "--signal=TERM@300" in sbatch[1] and "--nodes=1" in sbatch[1], out[-3000:]
    # (When run alone, the data jobs come first.)
    jobs = [j for j, rule in submitted_jobs(out).items() if rule == "finetune"]
    assert len(jobs) == 2 and jobs[0] == first_job, submitted_jobs(out)
    rows = sacct(jobs)
    states = {r["JobID"]: r["State"] for r in rows}
    assert states[first_job] == "FAILED" and list(states.values()).count("COMPLETED") == 1, rows
    # The killed attempt's script exited 143 after saving (its own log is replaced by the
    # retry's; the plugin keeps the failed job's SLURM log).
    assert "returned non-zero exit status 143" in slurm_logs(out)[first_job].read_text(encoding="utf-8")
    train_log = (project / "logs/finetune/tiny-gpt2/paper/seed7/full.log").read_text(encoding="utf-8")
    resumed = re.search(r"resuming from resume/tiny-gpt2/paper/seed7/full/step-\d+ at step (\d+)", train_log)
    assert resumed, train_log[-3000:]
    summary = json.loads((project / target / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == int(resumed[1]) > 0
    assert summary["steps"] == 80
    with open(project / target / "train_log.jsonl", encoding="utf-8") as fh:
        assert [json.loads(line)["step"] for line in fh] == list(range(1, 81))
    assert not resume_dir.exists()
