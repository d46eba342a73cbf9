"""How many aten operations one training step of GPT-2 Large's structure dispatches.

A step of 8 short verses is tiny arithmetic, but every operation is launched from the
host one by one; when they are thousands, launching costs more than computing. The
count depends on the layer structure, not on the width, so a thin 36-block GPT-2 on the
CPU counts what GPT-2 Large dispatches on a GPU (on a GPU, views and other metadata
operations launch no kernel; the rest each launch at least one).

    .venv/bin/python benchmarks/ops_per_step.py            # 36 blocks, as GPT-2 Large
    .venv/bin/python benchmarks/ops_per_step.py --lora     # LoRA r=8 on c_attn, c_proj, c_fc
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, also when loaded by path
import common  # noqa: E402  (puts workflow_scripts on sys.path)
import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from bibleft.modeling import build_trainable  # noqa: E402

# No kernel behind these on a GPU: they only make a new view of the same memory.
METADATA_OPS = {"view", "_unsafe_view", "transpose", "t", "expand", "detach", "split",
                "slice", "select", "unsqueeze", "squeeze", "permute", "alias", "as_strided",
                "reshape", "unbind", "split_with_sizes", "empty", "empty_like", "empty_strided"}


class CountOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.counts = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def count_step(n_layer: int, lora: bool, autocast: bool, batch: int, length: int) -> Counter:
    from transformers import GPT2Config, GPT2LMHeadModel

    workflow_config = common.load_workflow_config()
    train = common.train_options(workflow_config)
    lora_options, targets = common.lora_options(workflow_config)
    torch.manual_seed(0)
    config = GPT2Config(n_layer=n_layer, n_embd=64, n_head=2)  # GPT-2 Large: n_embd=1280
    model = GPT2LMHeadModel(config)
    model = (build_trainable(model, "lora", lora_options, targets) if lora
             else build_trainable(model, "full"))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=train.learning_rate,
                                  weight_decay=train.weight_decay, fused=True)
    ids = torch.randint(0, config.vocab_size, (batch, length))

    def step():  # what bibleft.train does per step, without accelerate's wrappers
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, train.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # the first step creates the optimizer state
    counter = CountOps()
    with counter:
        step()
    return counter.counts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=36)
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--no-autocast", action="store_true", help="fp32 (the default is bf16 autocast)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=33, help="tokens per row (the ASV's mean)")
    parser.add_argument("--us-per-op", type=float, default=6.9,
                        help="host cost of one launched op, for the estimate (6.9 us: an H100 "
                        "machine's bare launch; a Python-level op costs more)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    counts = count_step(args.layers, args.lora, not args.no_autocast, args.batch, args.length)
    total = sum(counts.values())
    launching = sum(n for op, n in counts.items() if op not in METADATA_OPS)
    print(f"{args.layers} blocks, {'LoRA' if args.lora else 'full'}, "
          f"{'fp32' if args.no_autocast else 'bf16 autocast'}, batch {args.batch} x {args.length} tokens")
    print(f"aten ops per training step: {total:,} ({launching:,} that launch a kernel on a GPU, "
          f"{counts.get('_to_copy', 0):,} of them dtype casts)")
    print("most frequent:", ", ".join(f"{op} {n}" for op, n in counts.most_common(10)))
    print(f"host time to launch them at {args.us_per_op} us each: "
          f"{launching * args.us_per_op / 1000:.0f} ms per step (a lower bound)")


if __name__ == "__main__":
    main()
