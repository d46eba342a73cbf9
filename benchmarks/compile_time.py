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
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from bench import train_settings  # config.yaml's, as the CPU benchmark uses them

ROOT = Path(__file__).resolve().parents[1]


def one_run(method: str, scope: str, mode: str, layers: int) -> dict:
    # Before torch is imported: a cache hit would time a lookup, not a compile.
    os.environ["TORCHINDUCTOR_FX_GRAPH_CACHE"] = "0"
    os.environ["TORCHINDUCTOR_AUTOGRAD_CACHE"] = "0"
    sys.path.insert(0, str(ROOT / "workflow_scripts"))
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from bibleft.configcheck import load_config
    from bibleft.modeling import build_trainable
    from bibleft.train import train

    config = load_config(ROOT / "config.yaml")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=layers, n_embd=64, n_head=2))
    model = build_trainable(model, method, config["lora"],
                            config["models"]["gpt2-large"]["lora_targets"])
    examples = [torch.randint(0, 50000, (n,)).tolist() for n in (30, 33, 25, 40) * 4]
    flushes = []
    # The two steps timed, compiled as this run asks, with lengths in multiples of 16 (as
    # a compiled run of the workflow would set train.pad_multiple).
    settings = {**train_settings(), "max_steps": 2, "log_every": 1, "compile": mode,
                "compile_scope": scope, "pad_multiple": 16}
    result = train(model, examples, 50256, settings, progress=False, log=io.StringIO(),
                   on_flush=lambda step, tokens, seconds: flushes.append(seconds))
    report = result["summary"]["compile"]
    return {"method": method, "scope": scope, "mode": mode, "blocks": layers,
            "first_step_s": flushes[0], "next_step_s": flushes[1] - flushes[0],
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
