"""The validated config as typed values, built once: one class per stage (training, LoRA,
answering, judging, probes) and the experiment that holds them.

Words, as the code uses them:
- a *setting* is a named entry of the config's `settings:` registry (a folder in results/
  and checkpoints/): an overlay on the train, lora and data.verse_format keys;
- a stage's *options* are the typed values of its config section (`TrainOptions` is
  `train:`, laid over by a setting, resolved for one method);
- the *grid* is the config's `run:` section (grid.Grid), and one run of it a
  grid.FineTune or grid.BaseModel.

Defaults live in schemas/config.schema.yaml only (the one default the schema cannot state,
a model's tokenizer named after its slug, configcheck fills in): configcheck fills them
in, and a class here takes exactly the keys of its section, no more and no fewer
(`from_dict`), so a key renamed in the schema and not here fails loudly rather than
taking a default.

Options reach a rule's script as one mapping (`as_dict`, a `params:` entry: Snakemake sees
a change only in built-in values), and the script types them with `from_dict`; a
fine-tune's job is one such value, `FineTuneJob`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .grid import CLOSED, OPEN, FineTune, Grid


def _exact_fields(cls, values: dict, where: str | None) -> None:
    """Raise KeyError naming what `values` lacks or has beyond the dataclass's fields."""
    names = [f.name for f in fields(cls)]
    missing = [n for n in names if n not in values]
    unknown = [k for k in values if k not in names]
    if missing or unknown:
        raise KeyError(f"{where or cls.__name__}: "
                       + "; ".join(filter(None, [
                           missing and f"missing {', '.join(missing)}",
                           unknown and f"unknown {', '.join(unknown)}"])))


class _Section:
    """A config section as a frozen dataclass: `from_dict` takes exactly its fields."""

    @classmethod
    def from_dict(cls, values: dict, where: str | None = None):
        _exact_fields(cls, values, where)
        return cls(**values)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainOptions(_Section):
    """`train:` as one fine-tune sees it. At the level of a setting, `compile` may hold a
    mode per method; `for_method` resolves it for one job. The fine-tune's seed and resume
    folder are not options: they are the FineTune's (grid.FineTune.seed, .resume_dir)."""

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    warmup_steps: int
    max_grad_norm: float | None
    max_steps: int | None
    packing: bool
    block_size: int
    max_length: int
    group_by_length: bool
    eos: bool
    precision: str
    tf32: bool
    gradient_checkpointing: bool
    compile: Any            # false, true or a mode; at setting level also {full: .., lora: ..}
    compile_scope: str | None  # None for an eager job: it has no scope
    pad_multiple: int
    padding_free: bool        # eager jobs only: for_method turns it off under compile
    log_every: int
    resume_every: int
    report_to: list
    tracking_dir: str

    def for_method(self, method: str) -> TrainOptions:
        """The options of one fine-tuning job: `compile` resolved to its method's mode, so
        a per-method change reruns only that method's job; an eager job has no compile
        scope, so changing the scope does not rerun it.
        A compiled job trains on padded batches (a graph is made per batch shape, which
        `pad_multiple` buckets; a padding-free row's length varies with every step), so
        `padding_free` is off for it and changing it does not rerun it."""
        mode = self.compile
        if isinstance(mode, dict):
            mode = mode.get(method, False)  # a method the mapping leaves out: eager
        return replace(self, compile=mode, compile_scope=self.compile_scope if mode else None,
                       padding_free=self.padding_free and not mode)


@dataclass(frozen=True)
class LoraOptions(_Section):
    r: int
    alpha: float
    dropout: float


@dataclass(frozen=True)
class AnswerOptions(_Section):
    """`answer:`: how the models are asked and how they answer."""

    prompt: str
    max_new_tokens: int
    limit: int | None
    batch_size: int
    dtype: str
    tf32: bool
    chat_template: bool
    prefix_cache: bool


@dataclass(frozen=True)
class OpenBookOptions(_Section):
    """`open_book:`: answering with passages retrieved from a corpus (the book), beside the
    study's closed book."""

    enabled: bool
    corpus: str | None        # the book; None: each setting's own corpus
    k: int
    prompt: str

    @property
    def modes(self) -> tuple[str, ...]:
        """The answering modes of a run: closed book always (the study), open book when on."""
        return (CLOSED, OPEN) if self.enabled else (CLOSED,)


@dataclass(frozen=True)
class JudgeOptions(_Section):
    """`judge:`: the study's lenient rule and the stricter metrics."""

    ignore_case: bool
    alternatives: bool
    f1_threshold: float


@dataclass(frozen=True)
class ProbeOptions(_Section):
    """`probes:`: the knowledge probes."""

    enabled: bool
    books: list | None
    verses: int | None
    completions: int
    translations: list
    texts: dict
    seed: int
    batch_size: int


@dataclass(frozen=True)
class CorpusEntry(_Section):
    """One entry of the `corpora:` registry: a text to fine-tune on. `kind` says which of
    the keys apply (configcheck.KIND_KEYS)."""

    kind: str                 # bible, text or datasets
    translation: str          # bible
    source: str               # bible: pythonbible or url (the ASV)
    url: str | None
    sha256: str | None
    books: list | None        # bible: the slice
    max_verses: int | None
    path: str | None          # text: file or folder; datasets: save_to_disk folder or Hub id
    unit: str                 # text: line or paragraph
    revision: str | None      # datasets (Hub)
    split: str | None
    column: str
    max_examples: int | None  # text, datasets: the slice
    seed: int                 # facts: the generator's (bibleft.facts)
    count: int                # facts: invented people
    paraphrases: int          # facts: phrasings of each biography

    @property
    def is_bible(self) -> bool:
        return self.kind == "bible"

    def example_format(self, verse_format: str) -> str:
        """How an example is written: a Bible's data.verse_format; other texts as they are."""
        return verse_format if self.is_bible else "text"

    def slice(self) -> dict:
        """The keys that pick the training examples out of the corpus."""
        if self.is_bible:
            return {"books": self.books, "max_verses": self.max_verses}
        return {"max_examples": self.max_examples}  # facts: null, the generator's keys size it


@dataclass(frozen=True)
class QuestionSet(_Section):
    """One entry of the `questions:` registry."""

    kind: str                 # bibleqa or table
    url: str | None           # bibleqa: the download
    sha256: str | None
    path: str | None          # bibleqa: a local copy; table: the file
    question: str             # table: the columns
    answer: str
    alternatives: str | None
    reference: str | None     # table: the example each answer comes from (open book's recall)
    corpus: str | None        # facts: the facts corpus asked about


@dataclass(frozen=True)
class DataOptions(_Section):
    """`data:`: the corpus fine-tuning reads (a setting may name another) and the
    question set every model answers."""

    corpus: str
    questions: str
    verse_format: str
    num_shards: int


@dataclass(frozen=True)
class LmEvalOptions(_Section):
    """`lm_eval`: the optional lm-evaluation-harness comparison."""

    python: str
    batch_size: int


@dataclass(frozen=True)
class Resources(_Section):
    """`resources`: what each model job asks for."""

    gpu: int
    cpus_per_gpu: int


@dataclass(frozen=True)
class ModelEntry(_Section):
    """One entry of the `models:` registry."""

    source: str
    revision: str | None
    tokenizer: str
    lora_targets: list
    params_millions: float
    trust_remote_code: bool


@dataclass(frozen=True)
class Setting:
    """One entry of the `settings:` registry, laid over the config: what its fine-tunes see."""

    name: str
    train: TrainOptions
    lora: LoraOptions
    verse_format: str
    corpus: str
    questions: str            # the question set its runs answer (data.questions unless set)

    def train_options(self, fine_tune: FineTune) -> TrainOptions:
        return self.train.for_method(fine_tune.method)


# A FineTuneJob's fields that say where it runs, not what it computes.
PLACES = ("base_model", "data", "output", "resume_dir", "gpus")


@dataclass(frozen=True)
class FineTuneJob:
    """One fine-tuning job, typed once: which fine-tune of the grid it is (its seed orders
    the data and draws LoRA's weights), its options (`train` resolved for its method;
    `lora` and `lora_targets` for a LoRA job only, None for a full one), the base model and
    tokenized data it reads, the folder it writes, the folder of its resume points (None:
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
    data: str
    output: str
    resume_dir: str | None
    gpus: list[str]

    @property
    def is_lora(self) -> bool:
        return self.fine_tune.method == "lora"

    @classmethod
    def from_dict(cls, values: dict) -> FineTuneJob:
        """`as_dict`'s mapping typed again; it must hold exactly the job's fields."""
        _exact_fields(cls, values, "FineTuneJob")
        lora = values["lora"]
        return cls(**{**values, "fine_tune": FineTune.from_dict(values["fine_tune"]),
                      "train": TrainOptions.from_dict(values["train"], "train"),
                      "lora": LoraOptions.from_dict(lora, "lora") if lora is not None else None})

    def as_dict(self) -> dict:
        """The job as JSON-able values."""
        return {**asdict(self), "fine_tune": self.fine_tune.as_dict()}

    def settings(self) -> dict:
        """Its resolved settings, which fine-tune first (settings.json, and the trackers'
        run configuration): the job without where it runs (PLACES)."""
        job = self.as_dict()
        return {**job.pop("fine_tune"), **{k: v for k, v in job.items() if k not in PLACES}}



@dataclass(frozen=True)
class Experiment:
    """The whole validated config, typed: the grid, the registries and each stage's
    options. Built once (rules/common.smk, the benchmarks) by `from_config`."""

    grid: Grid
    models: dict[str, ModelEntry]
    settings: dict[str, Setting]
    corpora: dict[str, CorpusEntry]
    questions: dict[str, QuestionSet]
    data: DataOptions
    answer: AnswerOptions
    open_book: OpenBookOptions
    judge: JudgeOptions
    probes: ProbeOptions
    lm_eval: LmEvalOptions
    resources: Resources

    @classmethod
    def from_config(cls, config: dict) -> Experiment:
        """`config` as configcheck.validate_config leaves it (defaults filled in)."""
        from .configcheck import resolved_setting

        settings = {}
        for name in config["settings"]:
            resolved = resolved_setting(config, name)
            settings[name] = Setting(
                name, TrainOptions.from_dict(resolved["train"], f"settings.{name}.train"),
                LoraOptions.from_dict(resolved["lora"], f"settings.{name}.lora"),
                resolved["data"]["verse_format"], resolved["data"]["corpus"],
                resolved["data"]["questions"])
        return cls(
            grid=Grid.from_config(config["run"]),
            models={slug: ModelEntry.from_dict(entry, f"models.{slug}")
                    for slug, entry in config["models"].items()},
            settings=settings,
            corpora={name: CorpusEntry.from_dict(entry, f"corpora.{name}")
                     for name, entry in config["corpora"].items()},
            questions={name: QuestionSet.from_dict(entry, f"questions.{name}")
                       for name, entry in config["questions"].items()},
            data=DataOptions.from_dict(config["data"], "data"),
            answer=AnswerOptions.from_dict(config["answer"], "answer"),
            open_book=OpenBookOptions.from_dict(config["open_book"], "open_book"),
            judge=JudgeOptions.from_dict(config["judge"], "judge"),
            probes=ProbeOptions.from_dict(config["probes"], "probes"),
            lm_eval=LmEvalOptions.from_dict(config["lm_eval"], "lm_eval"),
            resources=Resources.from_dict(config["resources"], "resources"))

    def train_options(self, fine_tune: FineTune) -> TrainOptions:
        return self.settings[fine_tune.setting].train_options(fine_tune)

    def fine_tune_options(self, fine_tune: FineTune) -> dict:
        """Rule finetune's params: a FineTuneJob's fields but the paths of its rule's input
        and output and its GPUs, as one mapping (FineTuneJob.from_dict types it with them).
        Its resume points go to resume/ (FineTune.resume_dir), outside its output, which
        Snakemake deletes when a job fails. LoRA settings reach the LoRA job only, so
        changing them leaves the full fine-tune current."""
        setting, entry = self.settings[fine_tune.setting], self.models[fine_tune.model]
        lora = fine_tune.method == "lora"
        return {"fine_tune": fine_tune.as_dict(), "train": self.train_options(fine_tune).as_dict(),
                "lora": setting.lora.as_dict() if lora else None,
                "lora_targets": entry.lora_targets if lora else None,
                "trust_remote_code": entry.trust_remote_code, "resume_dir": fine_tune.resume_dir}

    def other_questions(self, setting: str) -> str | None:
        """The question set a setting's runs answer where it is not data.questions (the base
        model's answers to it then lie in results/<model>/base/questions/<name>/), else None."""
        name = self.settings[setting].questions
        return None if name == self.data.questions else name

    def book(self, setting: str) -> str:
        """The corpus a setting's runs answer open book from: open_book.corpus, or else the
        corpus the setting fine-tunes on."""
        return self.open_book.corpus or self.settings[setting].corpus

    def books_in_use(self) -> list[str]:
        """The books of the run settings, in the order of the settings."""
        return list(dict.fromkeys(self.book(s) for s in self.grid.settings))
