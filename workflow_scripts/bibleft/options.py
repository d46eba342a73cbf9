"""The validated config as typed values, built once: one class per stage (training, LoRA,
answering, judging, probes) and the experiment that holds them.

Words, as the code uses them:
- a *setting* is a named entry of the config's `settings:` registry (a folder in results/
  and checkpoints/): an overlay on the train, lora and data.verse_format keys;
- a stage's *options* are the typed values of its config section (`TrainOptions` is
  `train:`, laid over by a setting, with the seed of one fine-tune);
- the *grid* is the config's `run:` section (grid.Grid), and one run of it a
  grid.FineTune or grid.BaseModel.

Defaults live in schemas/config.schema.yaml only: configcheck fills them in, and a class
here takes exactly the keys of its section, no more and no fewer (`from_dict`), so a key
renamed in the schema and not here fails loudly rather than taking a default.

Options reach a rule's script as one mapping (`as_dict`, a `params:` entry), and the
script types them again with `from_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .grid import CLOSED, OPEN, FineTune, Grid


class _Section:
    """A config section as a frozen dataclass: `from_dict` takes exactly its fields."""

    @classmethod
    def from_dict(cls, values: dict, where: str | None = None, **extra):
        names = [f.name for f in fields(cls)]
        given = {**values, **extra}
        missing = [n for n in names if n not in given]
        unknown = [k for k in given if k not in names]
        if missing or unknown:
            raise KeyError(f"{where or cls.__name__}: "
                           + "; ".join(filter(None, [
                               missing and f"missing {', '.join(missing)}",
                               unknown and f"unknown {', '.join(unknown)}"])))
        return cls(**given)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainOptions(_Section):
    """`train:` as one fine-tune sees it. At the level of a setting, `seed` is None and
    `compile` may hold a mode per method; `for_fine_tune` sets both for one job."""

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
    padding_free: bool        # eager jobs only: for_fine_tune turns it off under compile
    log_every: int
    checkpoint_every: int
    report_to: list
    tracking_dir: str
    # Set per fine-tune (for_fine_tune), not in the config:
    seed: int | None          # run.seeds: data order and LoRA initialisation
    resume_dir: str | None    # resumable checkpoints (None: none are saved)

    def for_fine_tune(self, fine_tune: FineTune) -> TrainOptions:
        """The options of one fine-tuning job: its seed and resume folder, and `compile`
        resolved to its method's mode, so a per-method change reruns only that method's
        job; an eager job has no compile scope, so changing the scope does not rerun it.
        A compiled job trains on padded batches (a graph is made per batch shape, which
        `pad_multiple` buckets; a padding-free row's length varies with every step), so
        `padding_free` is off for it and changing it does not rerun it."""
        mode = self.compile
        if isinstance(mode, dict):
            mode = mode.get(fine_tune.method, False)  # a method the mapping leaves out: eager
        return replace(self, seed=fine_tune.seed, resume_dir=fine_tune.resume_dir, compile=mode,
                       compile_scope=self.compile_scope if mode else None,
                       padding_free=self.padding_free and not mode)


@dataclass(frozen=True)
class LoraOptions(_Section):
    r: int
    alpha: float
    dropout: float


@dataclass(frozen=True)
class AnswerOptions(_Section):
    """`eval:`: how the models are asked and how they answer."""

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
    """`score:`: the study's lenient rule and the stricter metrics."""

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
        return self.train.for_fine_tune(fine_tune)


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
                name, TrainOptions.from_dict(resolved["train"], f"settings.{name}.train",
                                             seed=None, resume_dir=None),
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
            answer=AnswerOptions.from_dict(config["eval"], "eval"),
            open_book=OpenBookOptions.from_dict(config["open_book"], "open_book"),
            judge=JudgeOptions.from_dict(config["score"], "score"),
            probes=ProbeOptions.from_dict(config["probes"], "probes"),
            lm_eval=LmEvalOptions.from_dict(config["lm_eval"], "lm_eval"),
            resources=Resources.from_dict(config["resources"], "resources"))

    def train_options(self, fine_tune: FineTune) -> TrainOptions:
        return self.settings[fine_tune.setting].train_options(fine_tune)

    @property
    def question_set(self) -> QuestionSet:
        """The question set every model answers (data.questions)."""
        return self.questions[self.data.questions]

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

    def corpora_in_use(self) -> list[str]:
        """The corpora the run settings train on, in the order of the settings."""
        return list(dict.fromkeys(self.settings[s].corpus for s in self.grid.settings))
