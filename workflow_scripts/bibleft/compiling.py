"""torch.compile for training: the mode and scope `train.compile` and `train.compile_scope`
ask for, and what compiling cost (graphs, graph breaks)."""

from __future__ import annotations

import torch

from .errors import InputError

# torch.compile modes that replay CUDA graphs: the whole forward (and backward) as one
# launch, which is what a step of 8 short verses needs (its kernels are tiny; launching
# them one by one from Python costs more than running them).
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


def compile_mode(setting) -> str | None:
    """`train.compile`: false (eager), true (torch.compile's default mode) or a mode name."""
    if setting is True:
        return "default"
    return setting or None


def transformer_blocks(model) -> list:
    """The model's repeated blocks (GPT2Block, LlamaDecoderLayer, ...), found by the class
    names transformers lists in `_no_split_modules`, through peft's and DDP's wrappers."""
    base = getattr(model, "module", model)  # DistributedDataParallel
    base = base.get_base_model() if hasattr(base, "get_base_model") else base  # peft
    names = set(getattr(base, "_no_split_modules", None) or [])
    blocks = [m for m in model.modules() if type(m).__name__ in names]
    if not blocks:
        raise InputError(f"config train.compile_scope: blocks: {type(base).__name__} names no "
                         "block class (_no_split_modules); use compile_scope: model")
    return blocks


def compile_for_training(model, mode: str | None, scope: str = "model"):
    """The callable that runs the training forward: `model` itself (eager, or its blocks
    compiled in place) or the whole model compiled.

    `scope: blocks` compiles each transformer block alone ("regional compilation"): the 36
    blocks share one compiled graph (two under LoRA: the first block's input needs no
    gradient), so compiling takes seconds where the whole model takes minutes; the
    embedding, final norm, LM head and loss stay eager, a few dozen ops per step.
    dynamic=True: one compiled graph for every sequence length, not one per length.
    """
    if not mode:
        return model
    if scope == "model":
        return torch.compile(model, mode=mode, dynamic=True)
    if scope != "blocks":
        raise ValueError(f"unknown compile scope {scope!r} (model or blocks)")
    for block in transformer_blocks(model):
        block.compile(mode=mode, dynamic=True)
    return model


def compile_counts() -> dict:
    """torch.compile's process-wide tallies so far: graphs compiled, graph breaks by reason."""
    from torch._dynamo.utils import counters

    return {"graphs": counters["stats"]["unique_graphs"],
            "graph_breaks": dict(counters["graph_break"])}


def compile_report(mode: str, before: dict) -> dict:
    """What compiling cost since `before`: a graph break leaves part of a step eager (and
    splits a CUDA-graphs step into several graphs), so users and tests should see it."""
    now = compile_counts()
    breaks = {reason: n - before["graph_breaks"].get(reason, 0)
              for reason, n in now["graph_breaks"].items()}
    breaks = {reason.splitlines()[0]: n for reason, n in breaks.items() if n > 0}
    return {"mode": mode, "graphs": now["graphs"] - before["graphs"],
            "graph_breaks": sum(breaks.values()), "graph_break_reasons": breaks}


def report_line(report: dict) -> str:
    """A compile report as one log line, e.g. `torch.compile reduce-overhead: 1 graph(s),
    0 graph break(s)`, followed by each break's reason and count."""
    return (f"torch.compile {report['mode']}: {report['graphs']} graph(s), "
            f"{report['graph_breaks']} graph break(s)"
            + "".join(f"; {n} x {r}" for r, n in report["graph_break_reasons"].items()))
