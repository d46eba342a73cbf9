"""One fine-tuning job, typed once: rule finetune's params and paths, or a launched
multi-GPU process's JSON spec (bibleft.launch)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from .config import LoraOptions, TrainOptions
from .grid import FineTune


# A FineTuneJob's fields that say where it runs, not what it computes.
PLACES = ("base_model", "data", "output", "resume_dir", "gpus")


@dataclass(frozen=True)
class FineTuneJob:
    """One fine-tuning job, typed once: which fine-tune of the grid it is (its seed orders
    the data and draws LoRA's weights), its options (`train` resolved for its method;
    `lora` and `lora_targets` for a LoRA job only, None for a full one), the base model and
    tokenized examples it reads (by kind: text, qa, qa_passages), the folder it writes, the folder of its resume points (None:
    none is saved) and the GPUs it claimed. Rule finetune's params carry all but its input,
    output and GPUs as one mapping (Experiment.fine_tune_options; Snakemake sees a change
    only in built-in values); `from_dict` types that mapping, and a launched multi-GPU job
    passes the job to its processes as JSON."""

    fine_tune: FineTune
    train: TrainOptions
    lora: LoraOptions | None
    lora_targets: list[str] | None
    trust_remote_code: bool
    base_model: str
    data: dict[str, str]
    output: str
    resume_dir: str | None
    gpus: list[str]

    @property
    def is_lora(self) -> bool:
        return self.fine_tune.method == "lora"

    @classmethod
    def from_dict(cls, values: dict) -> FineTuneJob:
        """`as_dict`'s mapping typed again; it must hold exactly the job's fields."""
        names = {f.name for f in fields(cls)}
        if set(values) != names:
            raise KeyError(f"FineTuneJob: missing {sorted(names - set(values))}, unknown "
                           f"{sorted(set(values) - names)}")
        lora = values["lora"]
        return cls(**{**values, "fine_tune": FineTune.from_dict(values["fine_tune"]),
                      "train": TrainOptions.from_dict(values["train"]),
                      "lora": LoraOptions.from_dict(lora) if lora is not None else None})

    def as_dict(self) -> dict:
        """The job as JSON-able values."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)},
                "fine_tune": self.fine_tune.as_dict(), "train": self.train.as_dict(),
                "lora": self.lora.as_dict() if self.lora is not None else None}

    def settings(self) -> dict:
        """Its resolved settings, which fine-tune first (settings.json, and the trackers'
        run configuration): the job without where it runs (PLACES)."""
        job = self.as_dict()
        return {**job.pop("fine_tune"), **{k: v for k, v in job.items() if k not in PLACES}}
