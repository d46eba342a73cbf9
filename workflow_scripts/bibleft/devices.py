"""One GPU per job on a multi-GPU machine.

`snakemake --resources gpu=N` caps how many model jobs run at once, but Snakemake assigns
no GPU ids: every job's "cuda" would be device 0. So each model job claims its devices
itself, before anything touches CUDA: a non-blocking exclusive `flock` on one file per
device id in a node-local lock folder, then CUDA_VISIBLE_DEVICES set to the claimed ids
(torch reads it once, at its first CUDA call; `accelerate launch`'s processes inherit it).
The lock files stay open for the life of the process, so the kernel releases them when the
job ends, however it ends (killed included): no stale lock is ever left to clean up.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import time
import warnings
from pathlib import Path

from .errors import InputError

# A folder shared by all jobs on the node; the default is per user, on the local /tmp.
LOCK_DIR_ENV = "BIBLEFT_GPU_LOCK_DIR"

# The open lock files of this process. Never closed on purpose: the process's end releases them.
_held: list[int] = []


def default_lock_dir() -> Path:
    return Path("/tmp") / f"bibleft-gpu-locks-{os.getuid()}"


def lock_dir(env=None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get(LOCK_DIR_ENV) or default_lock_dir())


def lock_path(folder: str | Path, device: str) -> Path:
    """One file per device id; a GPU UUID (or an old-style MIG id with '/') made file-safe."""
    return Path(folder) / f"gpu-{re.sub(r'[^A-Za-z0-9._-]', '_', device)}.lock"


def visible_ids(env=None) -> list[str] | None:
    """The entries of CUDA_VISIBLE_DEVICES (indices or UUIDs, as strings), None when unset.

    CUDA stops at the first invalid entry, so the common "-1" (hide all GPUs) means none.
    """
    env = os.environ if env is None else env
    if "CUDA_VISIBLE_DEVICES" not in env:
        return None
    ids = []
    for entry in env["CUDA_VISIBLE_DEVICES"].split(","):
        entry = entry.strip()
        if not entry or entry.startswith("-"):
            break
        ids.append(entry)
    return ids


def physical_gpu_count() -> int:
    """How many NVIDIA GPUs this node has, asked of NVML (or `nvidia-smi -L`), 0 when none.

    Not torch.cuda.device_count(): that initialises CUDA in this process, which then keeps
    the CUDA_VISIBLE_DEVICES it saw, and the claim set afterwards would have no effect.
    """
    try:
        import torch.cuda

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Can't initialize NVML" on a machine without GPUs
            count = torch.cuda._raw_device_count_nvml()  # NVML through ctypes; CUDA untouched
        if count >= 0:
            return count
    except (AttributeError, OSError):  # no such private function in this torch; no NVML library
        pass
    if shutil.which("nvidia-smi"):
        proc = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
        if proc.returncode == 0:
            return sum(line.startswith("GPU ") for line in proc.stdout.splitlines())
    return 0


def candidate_ids(env=None) -> list[str]:
    """The devices a job may claim: CUDA_VISIBLE_DEVICES when set (the user or SLURM chose
    them), otherwise every GPU of the node by index."""
    ids = visible_ids(env)
    return [str(i) for i in range(physical_gpu_count())] if ids is None else ids


def too_few_gpus(wanted: int, visible: int, env=None) -> InputError:
    env = os.environ if env is None else env
    return InputError(f"resources gpu={wanted} but only {visible} CUDA device(s) are visible "
                      f"(CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES', 'unset')}); "
                      "request fewer GPUs (config resources.gpu) or run on a node with more")


def try_lock(folder: Path, ids: list[str], n: int) -> list[str]:
    """Lock n of `ids` that no other process holds, all or none (a job holding half of what it
    needs while waiting for the rest could wait forever on another job doing the same)."""
    got = []
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for device in ids:
            # Read-only is enough for flock, and lets the files of a shared folder be opened
            # by every user on the node.
            fd = os.open(lock_path(folder, device), os.O_RDONLY | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            got.append((device, fd))
            if len(got) == n:
                break
    except OSError as err:
        for _, fd in got:
            os.close(fd)
        raise InputError(f"cannot lock GPU files in {folder} ({err}); set {LOCK_DIR_ENV} "
                         "to a writable node-local folder") from err
    if len(got) < n:
        for _, fd in got:
            os.close(fd)
        return []
    _held.extend(fd for _, fd in got)
    return [device for device, _ in got]


def claim_gpus(n: int, env=None, poll_s: float = 5.0, log_every_s: float = 600.0) -> list[str]:
    """Claim n GPUs for the rest of this process (once per process), point
    CUDA_VISIBLE_DEVICES at them and return their ids; [] when n is 0 or the node has none
    (the job then runs on the CPU). While all are taken, wait rather than share one.
    """
    env = os.environ if env is None else env
    if n <= 0:
        return []
    ids = candidate_ids(env)
    if not ids:
        print(f"warning: this job asked for {n} GPU(s) (resources.gpu) but no CUDA GPU is "
              "visible: it runs on the CPU", flush=True)
        return []
    if len(ids) < n:
        raise too_few_gpus(n, len(ids), env)
    if "SLURM_JOB_ID" in env and "CUDA_VISIBLE_DEVICES" in env:
        # SLURM gave this job its own GPUs, numbered within the job (every job may see "0"):
        # a lock shared with other jobs on the node would make them wait for nothing.
        claimed = ids[:n]
        source = f"allocated to SLURM job {env['SLURM_JOB_ID']}"
    else:
        folder = lock_dir(env)
        claimed = wait_for_gpus(folder, ids, n, poll_s, log_every_s)
        source = f"locked in {folder}"
    env["CUDA_VISIBLE_DEVICES"] = ",".join(claimed)
    print(f"using GPU(s) {','.join(claimed)} of {','.join(ids)} "
          f"(CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']}; {source})", flush=True)
    return claimed


def wait_for_gpus(folder: Path, ids: list[str], n: int, poll_s: float, log_every_s: float) -> list[str]:
    start = time.monotonic()
    logged = None
    while not (claimed := try_lock(folder, ids, n)):
        now = time.monotonic()
        if logged is None or now - logged >= log_every_s:
            # More jobs than GPUs: most likely `--resources gpu=<number of GPUs>` was left out.
            what, taken = ("a free GPU", "all") if n == 1 else (f"{n} free GPUs", "too many")
            print(f"waiting for {what}: {taken} of {','.join(ids)} are claimed by other jobs "
                  f"(lock folder {folder}; waited {now - start:.0f} s)", flush=True)
            logged = now
        time.sleep(poll_s)
    return claimed


def release() -> None:
    """Give back this process's GPUs before it ends (for tests; jobs just exit)."""
    while _held:
        os.close(_held.pop())
