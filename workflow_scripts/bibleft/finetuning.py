"""One fine-tuning job, from its `FineTuneJob` to its output directory: a full fine-tune
(safetensors model + tokenizer) or a LoRA adapter, with train_log.jsonl,
train_summary.json, the resolved settings (settings.json) and a model card (README.md)
that Hugging Face tools read. The folder loads from anywhere with the plain Auto classes:
an adapter names its base model by Hub id and commit when it came from the Hub, else by
the base folder's absolute path, and its card says what to pass when that folder is gone."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, fields

from .cards import model_card, point_adapter_at_base
from .corpus import load_examples, with_eos
from .fileio import atomic_dir, write_json, write_jsonl
from .grid import FineTune, run_of
from .hub import model_provenance
from .modeling import build_trainable, load_causal_lm, load_tokenizer
from .options import LoraOptions, TrainOptions
from .tracking import Trackers
from .train import TrainData, train


@dataclass(frozen=True)
class FineTuneJob:
    """What one fine-tuning job needs: which fine-tune of the grid it is, the base model
    and tokenized data folders it reads, the folder it writes, its options (`train` set
    for this fine-tune: its seed and resume folder; `lora` and `lora_targets` None for a
    full fine-tune), and the GPUs it claimed. A launched multi-GPU job passes it to its
    processes as JSON (`as_dict`, `from_dict`)."""

    fine_tune: FineTune
    base_model: str
    data: str
    output: str
    train: TrainOptions
    lora: LoraOptions | None
    lora_targets: list[str] | None
    trust_remote_code: bool
    gpus: list[str]

    def __post_init__(self):
        if (self.fine_tune.method == "lora") != (self.lora is not None):
            raise ValueError(f"{self.fine_tune.name}: LoRA options are for a LoRA fine-tune "
                             f"only (lora={self.lora!r})")
        if self.train.seed != self.fine_tune.seed:
            raise ValueError(f"{self.fine_tune.name}: train.seed {self.train.seed!r} is not the "
                             "fine-tune's (TrainOptions.for_fine_tune sets it)")

    @classmethod
    def from_snakemake(cls, smk, gpus: list[str]) -> FineTuneJob:
        """The job of rule finetune: its wildcards name the fine-tune, its input the base
        model and data, its output the folder to write, `params.options` the rest."""
        return cls.from_dict({"fine_tune": run_of(smk.wildcards).as_dict(),
                              "base_model": str(smk.input.model), "data": str(smk.input.data),
                              "output": str(smk.output[0]), **smk.params.options, "gpus": gpus})

    @classmethod
    def from_dict(cls, values: dict) -> FineTuneJob:
        """`as_dict`'s mapping typed again; it must hold exactly the job's fields."""
        names = [f.name for f in fields(cls)]
        missing, unknown = [n for n in names if n not in values], [k for k in values if k not in names]
        if missing or unknown:
            raise KeyError(f"FineTuneJob: missing {missing}, unknown {unknown}")
        return cls(**{**values, "fine_tune": FineTune.from_dict(values["fine_tune"]),
                      "train": TrainOptions.from_dict(values["train"], "train"),
                      "lora": LoraOptions.from_dict(values["lora"], "lora")
                      if values["lora"] is not None else None})

    def as_dict(self) -> dict:
        """The job as JSON-able values."""
        return {"fine_tune": self.fine_tune.as_dict(), "base_model": self.base_model,
                "data": self.data, "output": self.output, "train": self.train.as_dict(),
                "lora": self.lora.as_dict() if self.lora else None,
                "lora_targets": self.lora_targets, "trust_remote_code": self.trust_remote_code,
                "gpus": self.gpus}

    def settings(self) -> dict:
        """Its resolved settings, which fine-tune first (settings.json, and the trackers'
        run configuration)."""
        job = self.as_dict()
        return {**job.pop("fine_tune"), **{k: v for k, v in job.items() if k not in ("output", "gpus")}}


def finetune(job: FineTuneJob) -> None:
    """Train as `job` says and, in the main process, write the output directory; the
    finished output supersedes the resumable checkpoints, which are then deleted."""
    import torch

    tokenizer = load_tokenizer(job.base_model, trust_remote_code=job.trust_remote_code)
    model = load_causal_lm(job.base_model, trust_remote_code=job.trust_remote_code)
    # LoRA's new weights are drawn from the global RNG: seed it, so that a rerun (or a
    # run with another number of GPUs) starts from the same adapter.
    torch.manual_seed(job.train.seed)
    model = build_trainable(model, job.fine_tune.method, job.lora,
                            job.lora_targets)
    examples = with_eos(load_examples(job.data), tokenizer.eos_token_id, job.train.eos)
    trackers = Trackers(job.train.report_to, job.train.tracking_dir, job.fine_tune.name,
                        job.settings())
    result = train(model, TrainData(examples, tokenizer.pad_token_id), job.train, trackers)
    if not result.is_main:
        return
    base = model_provenance(job.base_model)
    summary = {"method": job.fine_tune.method, **result.summary, "gpus": job.gpus, "base_model": base}
    with atomic_dir(job.output) as tmp:
        result.model.save_pretrained(str(tmp))  # safetensors (model or adapter)
        tokenizer.save_pretrained(str(tmp))
        write_jsonl(tmp / "train_log.jsonl", result.records)
        write_json(tmp / "train_summary.json", summary)
        write_json(tmp / "settings.json", job.settings())
        if job.lora is not None:
            point_adapter_at_base(tmp, job.base_model, base)
        # After save_pretrained: peft writes a README.md of its own, a template.
        (tmp / "README.md").write_text(model_card(job, summary), encoding="utf-8")
    if job.train.resume_dir is not None:
        shutil.rmtree(job.train.resume_dir, ignore_errors=True)
    print(f"saved {job.fine_tune.method} fine-tune -> {job.output}")
