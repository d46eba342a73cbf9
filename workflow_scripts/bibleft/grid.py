"""The grid a config asks for, as typed values, and where each of their files lies.

A run of the grid is one of two immutable values, and each knows its folders and its name:
- `BaseModel(model)`: the base model, results/<model>/base/ (greedy decoding has no seed,
  so every seed's fine-tunes are compared with its one set of answers);
- `FineTune(model, setting, seed, method)`: one fine-tune, its weights in
  checkpoints/<model>/<setting>/seed<seed>/<method>/ and its files and tables in
  results/<model>/<setting>/seed<seed>/.

How a run is asked is a `Mode`, a value of MODES: its name, its prompt (a config key),
whether it reads passages retrieved from a book, and the key that turns it on. One set of
answers is an `AnswerSet`: a run asked a question set in a mode (from a book), its files in

    results/<model>/<run>/<questions>/<mode folder>/{generations,predictions}/<variant>.jsonl

(ANSWERS), `<run>` being `base` or `<setting>/seed<seed>`, the mode's folder `closed` or
`open-<book>`. These patterns are the rules' outputs too (rules/*.smk), so a path is
written once; a job's wildcards are typed back by `run_of` and `AnswerSet.of_wildcards`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import ClassVar

# The three models the study compares: the base model and its two fine-tunes.
BASE = "base"
METHODS = ("full", "lora")
VARIANTS = (BASE, *METHODS)


@dataclass(frozen=True)
class Mode:
    """How a model is asked: `prompt`, the config key of its template; `passages`, whether
    each question's passages from a book go into it; `enabled`, the boolean config key that
    turns it on (None: always on); `label`, what a variant's label adds ("Base model +
    retrieval"); `words`, how tables and titles name it."""

    name: str
    prompt: str
    passages: bool
    enabled: str | None
    label: str
    words: str

    def folder(self, book: str | None) -> str:
        """Its folder in a run's question set: its name, with the book where it reads one."""
        return f"{self.name}-{book}" if self.passages else self.name

    def variant(self, variant: str) -> str:
        """A variant's name in this mode: `full` closed book, `full_open` open book (and so
        the union of a mode's variants: `union`, `union_open`)."""
        return variant if self.name == CLOSED else f"{variant}_{self.name}"


CLOSED, OPEN = "closed", "open"
# The answering modes, the one list of them: closed book, the study's; open book, the
# question's passages retrieved from a corpus (the book) in the prompt before it.
MODES = (
    Mode(CLOSED, "answer.prompt", passages=False, enabled=None, label="", words="closed book"),
    Mode(OPEN, "open_book.prompt", passages=True, enabled="open_book.enabled",
         label=" + retrieval", words="open book"),
)


def mode_named(name: str) -> Mode:
    return next(mode for mode in MODES if mode.name == name)


def enabled_modes(experiment) -> tuple[Mode, ...]:
    """The modes `experiment` (config.Experiment) turns on, in MODES' order."""
    return tuple(m for m in MODES if m.enabled is None or experiment.value(m.enabled))


def mode_variant(variant: str, mode: str) -> str:
    return mode_named(mode).variant(variant)


def variant_mode(name: str) -> tuple[str, str]:
    """(variant, mode) of a name Mode.variant made: `lora_open` -> (lora, open)."""
    for mode in MODES:
        if mode.name != CLOSED and name.endswith(f"_{mode.name}"):
            return name[: -len(mode.name) - 1], mode.name
    return name, CLOSED


@dataclass(frozen=True)
class BaseModel:
    """The base model of `model`, as it answers and is probed (once per model)."""

    model: str

    FOLDER: ClassVar[str] = "results/{model}/base"
    variant: ClassVar[str] = BASE
    run: ClassVar[str] = BASE  # its folder below results/<model>/

    @property
    def name(self) -> str:
        return f"{self.model}/{BASE}"

    @property
    def key(self) -> str:
        return BASE

    @property
    def folder(self) -> str:
        return self.FOLDER.format(model=self.model)


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
    # Resumable training state: outside the job's output, which Snakemake deletes when a
    # job fails.
    RESUME: ClassVar[str] = "resume/{model}/{setting}/seed{seed}/{method}"

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
    def run(self) -> str:
        """Its run's folder below results/<model>/: <setting>/seed<seed>."""
        return f"{self.setting}/seed{self.seed}"

    @property
    def name(self) -> str:
        """<model>/<setting>/seed<seed>/<method>: its run in the experiment trackers and logs."""
        return f"{self.model}/{self.key}"

    @property
    def key(self) -> str:
        """<setting>/seed<seed>/<method>: unique among one model's fine-tunes (a rule's
        input name where it reads all of them)."""
        return f"{self.run}/{self.method}"

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


Run = BaseModel | FineTune
_RUN = re.compile(r"(?P<setting>[^/]+)/seed(?P<seed>\d+)")


def run_of(model: str, run: str, variant: str) -> Run:
    """The run a job's `{model}`, `{run}` and `{variant}` wildcards name."""
    if run == BASE:
        if variant != BASE:
            raise ValueError(f"results/{model}/base/ holds the base model's files, not {variant}'s")
        return BaseModel(model)
    match = _RUN.fullmatch(run)
    return FineTune(model, match["setting"], int(match["seed"]), variant)


def run_pattern(settings) -> str:
    """The `{run}` wildcard's constraint: base, or <setting>/seed<seed> of `settings`."""
    names = "|".join(re.escape(s) for s in settings) or "(?!)"
    return rf"{BASE}|(?:{names})/seed\d+"


def folder_file(run_type: type, name: str) -> str:
    """The path of a file directly in a run's folder, with the run's fields as wildcards:
    e.g. results/{model}/{setting}/seed{seed}/scores.csv, one run's table."""
    return f"{run_type.FOLDER}/{name}"


# A run's files of one kind (`probes`) or of one answer set, with every field a wildcard.
PROBES = "results/{model}/{run}/probes/{corpus}/{variant}{suffix}"
ANSWERS = "results/{model}/{run}/{questions}/{mode}/{kind}/{variant}{suffix}"


def probes_file(run: Run, corpus: str, suffix: str = ".jsonl") -> str:
    """A run's probe records on `corpus`'s probe set (a fine-tune's: its setting's corpus)."""
    return PROBES.format(model=run.model, run=run.run, corpus=corpus, variant=run.variant,
                         suffix=suffix)


@dataclass(frozen=True)
class AnswerSet:
    """One set of answers: `run` asked question set `questions` in mode `mode` (a name of
    MODES), from `book` where the mode reads passages (None where it does not)."""

    run: Run
    questions: str
    mode: str
    book: str | None = None

    @property
    def folder(self) -> str:
        """Its mode's folder: closed, open-<book>."""
        return mode_named(self.mode).folder(self.book)

    @property
    def variant(self) -> str:
        """Its name in a run's tables: base, full_open, ..."""
        return mode_variant(self.run.variant, self.mode)

    @property
    def key(self) -> str:
        """Unique among one model's answer sets: a table rule's input name for it."""
        return f"{self.run.key}/{self.questions}/{self.folder}"

    def wildcards(self) -> dict:
        return {"model": self.run.model, "run": self.run.run, "questions": self.questions,
                "mode": self.folder, "variant": self.run.variant}

    def file(self, kind: str, suffix: str = ".jsonl") -> str:
        """Its file of `kind` (generations, predictions), e.g.
        results/m/paper/seed42/bibleqa/closed/predictions/lora.jsonl."""
        return ANSWERS.format(kind=kind, suffix=suffix, **self.wildcards())

    def base(self) -> AnswerSet:
        """The base model's answers to the same questions in the same mode and book: what a
        fine-tune's answers are compared with."""
        return AnswerSet(BaseModel(self.run.model), self.questions, self.mode, self.book)

    @classmethod
    def of_wildcards(cls, wildcards, books) -> AnswerSet:
        """The answer set a job's wildcards name; `books`: the corpora a mode may read."""
        mode, book = mode_of_folder(wildcards.mode, books)
        return cls(run_of(wildcards.model, wildcards.run, wildcards.variant), wildcards.questions,
                   mode.name, book)

    def as_dict(self) -> dict:
        run = self.run.as_dict() if isinstance(self.run, FineTune) else {"model": self.run.model}
        return {"run": run, "questions": self.questions, "mode": self.mode, "book": self.book}

    @classmethod
    def from_dict(cls, fields: dict) -> AnswerSet:
        run = fields["run"]
        typed = FineTune.from_dict(run) if "method" in run else BaseModel(run["model"])
        return cls(typed, fields["questions"], fields["mode"], fields["book"])


def mode_folders(books) -> list[str]:
    """Every mode's folders with `books` (the `{mode}` wildcard's values)."""
    return [mode.folder(book) for mode in MODES for book in (books if mode.passages else [None])]


def mode_of_folder(folder: str, books) -> tuple[Mode, str | None]:
    """(the mode, its book or None) whose folder is `folder` (a `{mode}` wildcard's value)."""
    for mode in MODES:
        for book in (books if mode.passages else [None]):
            if mode.folder(book) == folder:
                return mode, book
    raise ValueError(f"no answering mode has the folder {folder!r}")


@dataclass(frozen=True)
class Grid:
    """`run:` of the config: the models, named settings and seeds to run."""

    models: tuple[str, ...]
    settings: tuple[str, ...]
    seeds: tuple[int, ...]

    def fine_tunes(self, model: str) -> list[FineTune]:
        """Every fine-tune of `model`, in the order the tables list them: by setting, then
        seed, then method."""
        return [FineTune(model, setting, seed, method) for setting in self.settings
                for seed in self.seeds for method in METHODS]


def fine_tunes_of_run(model: str, setting: str, seed: int) -> list[FineTune]:
    """The fine-tunes of one (model, setting, seed), one per method."""
    return [FineTune(model, setting, seed, method) for method in METHODS]
