"""What a model job asks the scheduler for: GPUs, CPU threads, host memory and time.

Rules of thumb, sized from the model's parameter count (`models.<slug>.params_millions`)
and grown linearly with each retry (`attempt` 1, 2, ...), so that a job killed for memory
or time asks for more the next time. SLURM and `--resources` see these numbers; a local
run with `--cores` only uses the GPU count and threads.
"""

from __future__ import annotations


def generate_gpus(gpus_per_job: int) -> int:
    """Generation runs in one process on one device: more GPUs would sit idle."""
    return min(1, gpus_per_job)


def threads(gpus: int, cpus_per_gpu: int) -> int:
    """CPU threads for a job on `gpus` GPUs; a CPU-only job still gets one GPU's share."""
    return cpus_per_gpu * max(1, gpus)


def train_mem_mb(params_millions: float, attempt: int = 1) -> int:
    # Host memory: the fp32 weights loaded once plus the optimizer's copy on the way to
    # the GPU, and headroom for data loading.
    return int((4000 + 12 * params_millions) * attempt)


def train_runtime_min(params_millions: float, epochs: int, attempt: int = 1) -> int:
    # About 20 min per epoch per billion parameters on one A100 with dynamic padding,
    # doubled for safety; at least 30 min.
    return int(max(30, 40 * epochs * params_millions / 1000) * attempt)


def generate_mem_mb(params_millions: float, attempt: int = 1) -> int:
    return int((4000 + 8 * params_millions) * attempt)


def generate_runtime_min(params_millions: float, attempt: int = 1) -> int:
    return int(max(20, 20 * params_millions / 1000) * attempt)
