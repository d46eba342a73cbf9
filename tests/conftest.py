import fcntl
import json
import os
import sys
from pathlib import Path

import pytest

# Under pytest -n the workers and their Snakemake jobs together run more threads than there
# are cores; OpenMP threads that spin while waiting for work (its default) burn the CPU
# another process needs. Sleeping instead changes no result. Set before torch is imported;
# Snakemake's jobs inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# One intra-op thread per process: four workers on 2 cores leave no core for a second
# thread, which only adds synchronisation on the tiny models, and torch.compile then
# generates single-threaded kernels, which compile faster (test_train's full-model compile
# test: 54 s wall / 64.6 CPU s instead of 60 s / 69.4). Snakemake's jobs set their own
# (tiny_config gives each one thread).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# torch.compile's kernels compiled in the process itself, not in a pool of worker processes
# that each start by importing torch: test_train's LoRA compile test 56.6 CPU s instead of
# 62.7 (2.5 s longer alone, but the suite is short of CPU, not of time alone).
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")

# Snakemake loads every installed executor plugin at each command, and the SLURM plugin then
# asks `scontrol show config`, waiting up to 10 s for a controller. Where the SLURM client is
# installed but no controller runs (on CI once test_slurm.py has stopped its cluster), that is
# 10 s of nothing per snakemake command, a hundred and more of them. An empty configuration
# makes scontrol fail at once; test_slurm.py restores the one from outside (kept in
# BIBLEFT_OUTER_SLURM_CONF; pytest-xdist's workers inherit the changed environment) for its
# cluster.
if os.environ.get("SLURM_CONF") != os.devnull:
    os.environ["BIBLEFT_OUTER_SLURM_CONF"] = os.environ.get("SLURM_CONF", "")
    os.environ["SLURM_CONF"] = os.devnull

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))
sys.path.insert(0, str(ROOT / "tests"))

from fixtures import make_tiny_gpt2  # noqa: E402

# Files by how long they take (pytest --durations on 2 cores), longest first; the rest follow
# in their usual order. A file left out only starts later.
LONGEST_FILES = ["test_slurm.py", "test_workflow.py", "test_gguf.py", "test_peers.py",
                 "test_gpu_benchmark.py", "test_own_data.py", "test_grid.py", "test_train.py",
                 "test_judge_workflow.py", "test_open_book_workflow.py", "test_control_workflow.py",
                 "test_modes.py", "test_recipe_workflow.py"]


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> Path:
    return make_tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny-gpt2")



@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> dict:
    """One finished tiny workflow (workflow_helpers.finished_tiny_run), shared by every
    end-to-end test that only reads its outputs or dry-runs against it (a test that changes
    it works on workflow_helpers.own_copy_of_run).

    Under pytest-xdist (pytest.ini's -n) every worker is its own process with its own session;
    the first to ask builds the run in the workers' common temporary folder, under a file lock,
    and the others wait for it and read where it is: one build (minutes) instead of one per
    worker, the pattern pytest-xdist documents for session fixtures."""
    from workflow_helpers import finished_tiny_run

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return finished_tiny_run(tmp_path_factory.mktemp("tiny-run"))
    shared = tmp_path_factory.getbasetemp().parent  # the same folder for every worker
    built = shared / "tiny-run.json"
    with open(shared / "tiny-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not built.is_file():
            setup = finished_tiny_run(shared / "tiny-run")
            built.write_text(json.dumps({key: str(path) for key, path in setup.items()}))
    return {key: Path(path) for key, path in json.loads(built.read_text()).items()}


def pytest_collection_modifyitems(config, items):
    """The longest files first (pytest.ini's --dist loadfile hands out whole files in this
    order): the SLURM tests, mostly waiting on the scheduler, overlap everything else, and the
    shared tiny run (tiny_run) is built while other workers run files that do not need it."""
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept
