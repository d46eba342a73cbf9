"""The grid a config asks for, as typed values: models x settings x seeds, each (model,
setting, seed, method) one fine-tune, and the base model answering once per model.

A run of the grid is one of two immutable values, and each knows its folders and its name:
- `BaseModel(model)`: the base model's answers and probes, in results/<model>/base/
  (greedy decoding has no seed, so every seed's fine-tunes are compared with these);
- `FineTune(model, setting, seed, method)`: one fine-tune, its weights in
  checkpoints/<model>/<setting>/seed<seed>/<method>/ and its answers, probes and tables in
  results/<model>/<setting>/seed<seed>/.

The folder patterns below are the rules' outputs too (rules/*.smk), so a path is written
once. A rule's wildcards are a run's fields (`run_of(wildcards)`): nothing turns a path
back into a run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

# The three models the study compares: the base model and its two fine-tunes.
BASE = "base"
METHODS = ("full", "lora")
VARIANTS = (BASE, *METHODS)

# How a model answers: closed book (the study's prompt) or open book (the question's
# passages retrieved from a corpus, "the book", placed in the prompt before it). A run's
# closed-book files lie in <run folder>/<kind>/; its open-book files in
# <run folder>/open/<book>/<kind>/ (`mode_kind`), their variants named `<variant>_open`.
CLOSED, OPEN = "closed", "open"
MODES = (CLOSED, OPEN)


def mode_variant(variant: str, mode: str) -> str:
    """A variant's name in `mode`: `full` closed book, `full_open` open book (and so the
    union of a mode's variants: `union`, `union_open`)."""
    return variant if mode == CLOSED else f"{variant}_{mode}"


def variant_mode(name: str) -> tuple[str, str]:
    """(variant, mode) of a name mode_variant made: `lora_open` -> (lora, open)."""
    for mode in MODES[1:]:
        if name.endswith(f"_{mode}"):
            return name[: -len(mode) - 1], mode
    return name, CLOSED


def mode_kind(kind: str, mode: str, book: str = "{book}") -> str:
    """The `kind` of a run's files (generations, predictions) in `mode`: closed book as it
    is, open book under open/<book>/, e.g. results/m/base/open/asv/predictions/base.jsonl."""
    return kind if mode == CLOSED else f"{mode}/{book}/{kind}"


def questions_kind(kind: str, questions: str = "{questions}") -> str:
    """The `kind` of the base model's files on a question set other than data.questions
    (a setting's data.questions, e.g. the facts control's): under questions/<name>/, e.g.
    results/m/base/questions/facts/predictions/base.jsonl. A fine-tune's folder is its
    setting's, so its files need no such level."""
    return f"questions/{questions}/{kind}"


@dataclass(frozen=True)
class BaseModel:
    """The base model of `model`, as it answers and is probed (once per model)."""

    model: str

    FOLDER: ClassVar[str] = "results/{model}/base"
    VARIANT: ClassVar[str] = BASE  # its files' name, generations/base.jsonl
    variant: ClassVar[str] = BASE

    @property
    def name(self) -> str:
        return f"{self.model}/{BASE}"

    @property
    def folder(self) -> str:
        return self.FOLDER.format(**self.wildcards())

    def wildcards(self) -> dict:
        return {"model": self.model}

    def file(self, kind: str, suffix: str = ".jsonl") -> str:
        """Its file of `kind` (generations, predictions, probes), e.g. results/m/base/predictions/base.jsonl."""
        return file_pattern(type(self), kind, suffix).format(**self.wildcards())


@dataclass(frozen=True)
class FineTune:
    """One fine-tune of the grid: `model` trained by `method` under named setting `setting`
    with training seed `seed`."""

    model: str
    setting: str
    seed: int
    method: str

    FOLDER: ClassVar[str] = "results/{model}/{setting}/seed{seed}"
    CHECKPOINT: ClassVar[str] = "checkpoints/{model}/{setting}/seed{seed}/{method}"
    # Resumable training checkpoints: outside the job's output, which Snakemake deletes
    # when a job fails.
    RESUME: ClassVar[str] = "resume/{model}/{setting}/seed{seed}/{method}"
    VARIANT: ClassVar[str] = "{method}"

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown fine-tuning method {self.method!r} ({' or '.join(METHODS)})")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise TypeError(f"seed {self.seed!r} is not an integer")

    @classmethod
    def from_dict(cls, fields: dict) -> FineTune:
        return cls(fields["model"], fields["setting"], int(fields["seed"]), fields["method"])

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def variant(self) -> str:
        return self.method

    @property
    def name(self) -> str:
        """<model>/<setting>/seed<seed>/<method>: its run in the experiment trackers and logs."""
        return f"{self.model}/{self.key}"

    @property
    def key(self) -> str:
        """<setting>/seed<seed>/<method>: unique among one model's fine-tunes (a rule's
        input name where it reads all of them)."""
        return f"{self.setting}/seed{self.seed}/{self.method}"

    @property
    def folder(self) -> str:
        return self.FOLDER.format(**self.wildcards())

    @property
    def checkpoint_dir(self) -> str:
        return self.CHECKPOINT.format(**self.wildcards())

    @property
    def resume_dir(self) -> str:
        return self.RESUME.format(**self.wildcards())

    def wildcards(self) -> dict:
        return asdict(self)

    def file(self, kind: str, suffix: str = ".jsonl") -> str:
        """Its file of `kind`, e.g. results/m/paper/seed42/predictions/lora.jsonl."""
        return file_pattern(type(self), kind, suffix).format(**self.wildcards())


Run = BaseModel | FineTune


def folder_file(run_type: type, name: str) -> str:
    """The path of a file directly in a run's folder, with the run's fields as wildcards:
    e.g. results/{model}/{setting}/seed{seed}/scores.csv, one run's table."""
    return f"{run_type.FOLDER}/{name}"


def file_pattern(run_type: type, kind: str, suffix: str = ".jsonl") -> str:
    """The path of a run's file of `kind` with the run's fields as wildcards: what a rule
    writes, e.g. results/{model}/{setting}/seed{seed}/generations/{method}.jsonl."""
    return f"{run_type.FOLDER}/{kind}/{run_type.VARIANT}{suffix}"


def run_of(wildcards) -> Run:
    """The run a job's wildcards name: a fine-tune's rule has them all, the base model's
    only `model`."""
    if "method" in wildcards.keys():
        return FineTune(wildcards.model, wildcards.setting, int(wildcards.seed), wildcards.method)
    return BaseModel(wildcards.model)


@dataclass(frozen=True)
class Grid:
    """`run:` of the config: the models, named settings and seeds to run."""

    models: tuple[str, ...]
    settings: tuple[str, ...]
    seeds: tuple[int, ...]

    @classmethod
    def from_config(cls, run: dict) -> Grid:
        return cls(tuple(run["models"]), tuple(run["settings"]), tuple(run["seeds"]))

    def fine_tunes(self, model: str) -> list[FineTune]:
        """Every fine-tune of `model`, in the order the tables list them: by setting, then
        seed, then method."""
        return [FineTune(model, setting, seed, method) for setting in self.settings
                for seed in self.seeds for method in METHODS]


def fine_tunes_of_run(model: str, setting: str, seed: int) -> list[FineTune]:
    """The fine-tunes of one (model, setting, seed), one per method."""
    return [FineTune(model, setting, seed, method) for method in METHODS]


def fine_tunes_from(fine_tunes: list[dict]) -> list[FineTune]:
    """Fine-tunes passed to a script as dicts (a rule's params), typed again."""
    return [FineTune.from_dict(fields) for fields in fine_tunes]
