"""Which float32 matmuls a job runs: IEEE float32 or TensorFloat-32.

On Ampere and later GPUs, TF32 runs float32 matmuls with a 10-bit mantissa: faster, and
enough to change a greedy answer. PyTorch leaves it off for matmuls but on for cuDNN;
transformers' Trainer leaves PyTorch's default. So the study's float32 meant IEEE float32,
and here TF32 is on only where a setting (`train.tf32`, `answer.tf32`) asks for it. Only
PyTorch's per-backend API (`fp32_precision`) is used, never `allow_tf32`: mixing the two
is an error.
"""

from __future__ import annotations


def configure_matmul(device, tf32: bool) -> str:
    """On a CUDA device, set float32 matmuls (and cuDNN convolutions) to TF32 or IEEE float32;
    return the precision in force on `device`, read back from PyTorch (`tf32` or `ieee`),
    for the job's summary."""
    import torch

    if device.type == "cuda":
        value = "tf32" if tf32 else "ieee"
        torch.backends.cuda.matmul.fp32_precision = value
        torch.backends.cudnn.conv.fp32_precision = value
    return matmul_precision(device)


def matmul_precision(device) -> str:
    """`tf32` or `ieee`: how float32 matmuls run on `device`, read back from PyTorch. CPU
    matmuls in float32 are always IEEE here (PyTorch's CPU default, never changed)."""
    import torch

    if device.type != "cuda":
        return "ieee"
    flag = torch.backends.cuda.matmul.fp32_precision
    # "none" defers to the global setting, whose default is IEEE float32 ("highest").
    return flag if flag in ("tf32", "ieee") else (
        "tf32" if torch.backends.fp32_precision == "tf32" else "ieee")
