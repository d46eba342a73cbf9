"""More than one GPU per job: re-run a training entry point under `accelerate launch`.

A Snakemake `script:` runs as one Python process. With `resources.gpu: N > 1` the entry
point instead writes its job (inputs, output, params) to a JSON file and starts N copies
of itself through accelerate (torchrun underneath), one per GPU; each copy sees LOCAL_RANK
and trains its share of every batch (`train.train` uses accelerate's Accelerator).
The command is an argument list, never a shell string, so nothing from the config can
reach a shell.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from . import devices
from .errors import InputError

# Set (to anything but "" or "0") to print the launch command and stop instead of training.
DRY_RUN_ENV = "BIBLEFT_LAUNCH_DRY_RUN"
# Seconds torchrun waits after passing SIGTERM on before it SIGKILLs the training processes:
# longer than the profile's 300 s warning (--signal=TERM@300), so the checkpoint is finished.
SHUTDOWN_TIMEOUT_S = 600


def inside_distributed_launch(env=None) -> bool:
    """True in a process started by torchrun/accelerate launch (it sets LOCAL_RANK)."""
    return "LOCAL_RANK" in (os.environ if env is None else env)


def needs_launch(gpus: int, env=None) -> bool:
    return gpus > 1 and not inside_distributed_launch(env)


def free_port() -> int:
    """A free TCP port for the processes' rendezvous: two multi-GPU jobs on one node must
    not share accelerate's default port 29500."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accelerate_command(script: str | Path, spec_path: str | Path, num_processes: int,
                       threads_per_process: int, port: int,
                       python: str = sys.executable) -> list[str]:
    """`python -m accelerate.commands.launch ... <script> --spec <spec_path>` as a list.

    `python -m` runs the accelerate of this very interpreter (no `accelerate` on PATH
    needed). `--multi_gpu` selects torchrun's launcher; with no GPU the Accelerator in
    each process falls back to CPU processes talking over gloo (what the tests use).
    Mixed precision and dynamo are decided by the training code itself, so the launcher
    is told "no" for both rather than reading a stray accelerate config file.
    """
    if num_processes < 2:
        raise ValueError(f"accelerate launch is for 2 or more processes, not {num_processes}")
    return [python, "-m", "accelerate.commands.launch",
            "--multi_gpu", "--num_machines", "1", "--num_processes", str(num_processes),
            "--main_process_port", str(port),
            "--num_cpu_threads_per_process", str(max(1, threads_per_process)),
            "--mixed_precision", "no", "--dynamo_backend", "no",
            str(script), "--spec", str(spec_path)]


def check_devices(gpus: int) -> None:
    """Fail early when fewer CUDA devices are visible than the job asked for."""
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() < gpus:
        raise devices.too_few_gpus(gpus, torch.cuda.device_count())
    if not torch.cuda.is_available():
        print(f"warning: resources gpu={gpus} but no CUDA device is visible; launching {gpus} "
              "CPU processes instead", file=sys.stderr, flush=True)


def run_launched(script: str | Path, spec: dict, gpus: int, threads: int) -> int:
    """Write `spec` to a JSON file, run `script --spec FILE` in `gpus` processes, and return
    the launcher's exit status (143 when training was preempted and saved a checkpoint).

    SIGTERM (SLURM's time-limit or preemption warning) is passed on to the launcher, which
    passes it to the training processes; this process keeps waiting for them, so they can
    finish their checkpoint before the job step ends.
    """
    check_devices(gpus)
    with tempfile.TemporaryDirectory(prefix="bibleft-launch-") as tmp:
        spec_path = Path(tmp) / "job.json"
        spec_path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
        threads_per_process = max(1, threads // gpus)
        command = accelerate_command(script, spec_path, gpus, threads_per_process, free_port())
        shown = shlex.join(command)
        if os.environ.get(DRY_RUN_ENV, "") not in ("", "0"):
            print(f"dry run: would run: {shown}", flush=True)
            raise InputError(f"{DRY_RUN_ENV} is set: printed the launch command instead of training: {shown}")
        print(f"launching {gpus} training processes: {shown}", flush=True)
        sys.stdout.flush()
        sys.stderr.flush()
        # torchrun gives its processes 30 s from SIGTERM to SIGKILL by default: too short
        # to save GPT-2 Large with its optimizer state. SLURM's own SIGKILL stays the limit.
        env = dict(os.environ)
        env.setdefault("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", str(SHUTDOWN_TIMEOUT_S))
        # The children write straight into this step's log (the redirected stdout/stderr).
        proc = subprocess.Popen(command, stdout=sys.stdout, stderr=sys.stderr, env=env)

        def forward(signum, frame):
            proc.send_signal(signum)

        previous = signal.signal(signal.SIGTERM, forward)
        try:
            returncode = proc.wait()
        finally:
            signal.signal(signal.SIGTERM, previous)
    # torchrun exits 1 whenever a training process failed, 143 (preempted) included; the
    # processes' own "SIGTERM at step N" lines in the log tell the two apart.
    print(f"training processes exited with status {returncode}", flush=True)
    return returncode
