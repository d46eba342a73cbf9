"""How long torch.compile takes before the first training step, whole model against each
block alone (`train.compile_scope`), on GPT-2 Large's structure.

Compile time grows with the code traced and generated, which is set by the number of
blocks, not their width; a thin 36-block GPT-2 on the CPU shows how the two scopes scale
(on a GPU, inductor writes Triton kernels instead of C++, and the machine's cores compile
them in parallel: the absolute seconds differ, the ratio is the point). Each run goes
through `bibleft.train.train()`, in a process of its own with inductor's on-disk caches off,
so no run reuses another's work.

    .venv/bin/python benchmarks/compile_time.py                    # 4 runs, ~15 min on 1 thread
    .venv/bin/python benchmarks/compile_time.py --scopes blocks    # ~2 min
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

# Before torch is imported (by common): a cache hit would time a lookup, not a compile.
os.environ["TORCHINDUCTOR_FX_GRAPH_CACHE"] = "0"
os.environ["TORCHINDUCTOR_AUTOGRAD_CACHE"] = "0"

import common  # noqa: E402  (puts workflow_scripts on sys.path)
from bench import train_options  # noqa: E402  (config.yaml's, as the CPU benchmark uses them)


def one_run(method: str, scope: str, mode: str, layers: int) -> dict:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from bibleft.modeling import build_trainable
    from bibleft.train import TrainData, train

    lora, targets = common.lora_options(common.load_workflow_config())
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=layers, n_embd=64, n_head=2))
    model = build_trainable(model, method, lora, targets)
    examples = [torch.randint(0, 50000, (n,)).tolist() for n in (30, 33, 25, 40) * 4]
    clock = common.Windows()
    # The two steps timed, compiled as this run asks, with lengths in multiples of 16 (as
    # a compiled run of the workflow would set train.pad_multiple).
    options = train_options().model_copy(update={"max_steps": 2, "log_every": 1, "compile": mode,
                                                 "compile_scope": scope, "pad_multiple": 16})
    result = train(model, TrainData(examples, 50256), options, 0, callback=clock)
    report = result.summary["compile"]
    first, second = (window.seconds for window in clock.windows)
    return {"method": method, "scope": scope, "mode": mode, "blocks": layers,
            "first_step_s": first, "next_step_s": second - first,
            "graphs": report["graphs"], "graph_breaks": report["graph_breaks"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=36)
    parser.add_argument("--methods", default="full,lora")
    parser.add_argument("--scopes", default="blocks,model")
    parser.add_argument("--mode", default="reduce-overhead")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # METHOD:SCOPE, in this process
    args = parser.parse_args(argv)
    if args.one:
        method, scope = args.one.split(":")
        print(json.dumps(one_run(method, scope, args.mode, args.layers)))
        return
    rows = []
    print(f"{'method':<6} {'scope':<7} {'blocks':>6} {'first step (compile)':>21} "
          f"{'next step':>10} {'graphs':>7} {'breaks':>7}", flush=True)
    for scope in args.scopes.split(","):
        for method in args.methods.split(","):
            proc = subprocess.run([sys.executable, __file__, "--one", f"{method}:{scope}",
                                   "--mode", args.mode, "--layers", str(args.layers)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{method:<6} {scope:<7} FAILED: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{method:<6} {scope:<7} {row['blocks']:>6} {row['first_step_s']:>19.1f} s "
                  f"{row['next_step_s']:>8.2f} s {row['graphs']:>7} {row['graph_breaks']:>7}",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
