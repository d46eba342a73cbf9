"""What the DAG runs for an Experiment, and where each file lies: the input and option
functions the rules call (rules/*.smk), as methods of one `Plan` built once from the typed
config (rules/common.smk's PLAN), so that the tests call them without Snakemake.

Input functions only return paths: what the config names outside itself is checked once,
after loading (bibleft.preflight). Options reach a rule's script as ONE mapping
(`params: options=...`), typed again in the script: Snakemake sees a change of params only
in built-in values, and compares the *set* of their values with the names left out, so two
booleans as two params would hide a flip of one of them. A mapping keeps every name.

Tables find their inputs through the typed answer sets both sides share: a table rule's
input names are its AnswerSet keys (`answer_sets`), and its params the same answer sets,
which the script types back (grid.AnswerSet.from_dict) to read `input[answer_set.key]`.
"""

from __future__ import annotations

import os
import re

from . import sizing, sources
from .corpus import VERSE_FORMATS
from .grid import (ANSWERS, CLOSED, METHODS, PROBES, VARIANTS, AnswerSet, BaseModel, FineTune,
                   fine_tunes_of_run, mode_folders, mode_named, mode_of_folder, probes_file,
                   run_of, run_pattern)
from .recipes import QA_MODES

# Where the data files lie; the rules write them (rules/*.smk), the functions below read them.
PREPARED_MODEL = "models/{model}"  # a base model that is not a local directory
RAW_QUESTIONS = "data/raw/questions/{questions}.tsv"
QUESTIONS = "data/questions/{questions}.jsonl"
TOKENIZED = "data/tokenized/{tokenizer}/{corpus}/{example_format}"
PROBE_SET = "data/probes/{corpus}.jsonl"
RETRIEVAL_INDEX = "data/retrieval/{corpus}/index"
PASSAGES = "data/retrieval/{corpus}/{questions}/passages.jsonl"
SPLIT = "data/questions/{questions}.split.json"  # a question set's held-out split
# A question set's trained part as question-answer examples, in a mode's prompt.
QA_TOKENIZED = "data/tokenized/{tokenizer}/qa/{questions}/{mode}"


def answers_file(kind: str, suffix: str = ".jsonl") -> str:
    """The answer sets' file of `kind` with every other field a wildcard: a rule's output."""
    return ANSWERS.replace("{kind}", kind).replace("{suffix}", suffix)


def probes_pattern(suffix: str = ".jsonl") -> str:
    return PROBES.replace("{suffix}", suffix)


def names_pattern(names) -> str:
    """A wildcard constraint matching exactly `names` (none: nothing)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


class Plan:
    """The experiment's jobs: what each rule reads and with which options."""

    def __init__(self, experiment):
        self.x, self.grid = experiment, experiment.grid

    # --- wildcards -----------------------------------------------------------------------

    def wildcard_constraints(self) -> dict[str, str]:
        x = self.x
        return {"model": names_pattern(x.models), "setting": names_pattern(x.settings),
                "tokenizer": names_pattern(sorted({m.tokenizer for m in x.models.values()})),
                "seed": r"\d+", "method": "|".join(METHODS), "corpus": names_pattern(x.corpora),
                "questions": names_pattern(x.questions), "run": run_pattern(x.settings),
                "variant": names_pattern(VARIANTS),
                "mode": names_pattern(mode_folders(list(x.corpora))),
                # closed book's is empty (venn.png): a group, as an empty constraint is none
                "mode_suffix": "(?:" + "|".join(re.escape(m.variant("")) for m in x.modes) + ")",
                "example_format": names_pattern(VERSE_FORMATS)}

    def corpora_pattern(self, bible: bool) -> str:
        return names_pattern(n for n, c in self.x.corpora.items() if c.IS_BIBLE == bible)

    def questions_pattern(self, kind: str) -> str:
        return names_pattern(n for n, q in self.x.questions.items() if q.kind == kind)

    # --- models --------------------------------------------------------------------------

    def model_size(self, model: str) -> float:
        return self.x.models[model].params_millions

    def base_model_dir(self, model: str) -> str:
        """The directory holding the base model: the local source itself, or models/<slug>/."""
        return sources.model_dir(self.x.models[model].source, PREPARED_MODEL.format(model=model))

    def gguf_file_input(self, wildcards) -> list[str]:
        """A .gguf path source is an input, so replacing the file rebuilds the model."""
        path = sources.gguf_file(self.x.models[wildcards.model].source)
        return [path] if path else []

    def prepare_options(self, wildcards) -> dict:
        # The revision is an option, so pinning or changing it downloads again.
        entry = self.x.models[wildcards.model]
        return {"source": entry.source, "revision": entry.revision}

    def tokenizer_model(self, tokenizer: str) -> str:
        """The model whose tokenizer files make data/tokenized/<tokenizer>/... (run models first)."""
        return next(m for m in [*self.grid.models, *self.x.models]
                    if self.x.models[m].tokenizer == tokenizer)

    def model_inputs(self, run) -> dict:
        """What a run answers or is probed with: the base model (base), the fine-tuned
        checkpoint (full), or the base model and the adapter (LoRA, merged before use)."""
        if isinstance(run, BaseModel):
            return {"model": self.base_model_dir(run.model)}
        if run.method == "full":
            return {"model": run.checkpoint_dir}
        return {"model": self.base_model_dir(run.model), "adapter": run.checkpoint_dir}

    # --- data ----------------------------------------------------------------------------

    def corpus_file(self, corpus: str) -> str:
        """A corpus, whole: a Bible's verses (data/raw/<corpus>.tsv) or another's examples."""
        return self.x.corpora[corpus].FILE.format(corpus=corpus)

    def corpus_local_source(self, wildcards) -> list[str]:
        return self.x.corpora[wildcards.corpus].local_inputs()

    def corpus_source(self, wildcards) -> dict:
        return self.x.corpora[wildcards.corpus].source_options()

    def bibleqa_local_file(self, wildcards) -> list[str]:
        path = self.x.questions[wildcards.questions].path
        return [os.path.expanduser(path)] if path else []

    def bibleqa_download(self, wildcards) -> dict | None:
        # The URL only matters when no local file is given.
        entry = self.x.questions[wildcards.questions]
        return None if entry.path else {"url": entry.url, "sha256": entry.sha256}

    def question_source(self, wildcards) -> dict:
        return self.x.questions[wildcards.questions].record_inputs(
            RAW_QUESTIONS.format(questions=wildcards.questions))

    def question_records_options(self, wildcards) -> dict:
        return self.x.questions[wildcards.questions].records_options(self.x.corpora)

    def tokenize_inputs(self, wildcards) -> dict:
        return {"text": self.corpus_file(wildcards.corpus),
                "model": self.base_model_dir(self.tokenizer_model(wildcards.tokenizer))}

    def tokenize_options(self, wildcards) -> dict:
        corpus = self.x.corpora[wildcards.corpus]
        return {"kind": corpus.kind, **corpus.slice(), "num_shards": self.x.data.num_shards,
                "trust_remote_code": self.x.models[self.tokenizer_model(wildcards.tokenizer)]
                .trust_remote_code}

    # --- fine-tuning -----------------------------------------------------------------------

    def fine_tune(self, wildcards) -> FineTune:
        return FineTune(wildcards.model, wildcards.setting, int(wildcards.seed), wildcards.method)

    def finetune_inputs(self, wildcards) -> dict:
        """The shards a fine-tune reads, by kind: its setting's corpus as tokenized for its
        tokenizer and example format (`text`: settings that share all three share one
        tokenization), its question set's trained part in a mode's prompt (`qa`,
        `qa_passages`), as its recipe reads them; and its base model."""
        ft = self.fine_tune(wildcards)
        setting, tokenizer = self.x.settings[ft.setting], self.x.models[ft.model].tokenizer
        corpus = self.x.corpora[setting.corpus]
        inputs = {"model": self.base_model_dir(ft.model)}
        for kind in sorted(setting.train.reads()):
            if kind == "text":
                inputs[kind] = TOKENIZED.format(
                    tokenizer=tokenizer, corpus=setting.corpus,
                    example_format=corpus.example_format(setting.verse_format))
            else:
                mode = mode_named(QA_MODES[kind])
                inputs[kind] = QA_TOKENIZED.format(
                    tokenizer=tokenizer, questions=setting.questions,
                    mode=mode.folder(self.x.book(ft.setting) if mode.passages else None))
        return inputs

    def split_inputs(self, wildcards) -> dict:
        return {"questions": QUESTIONS.format(questions=wildcards.questions)}

    def split_options(self, wildcards) -> dict:
        return {"questions": self.x.questions[wildcards.questions].as_dict()}

    def splits(self, question_sets) -> dict:
        """The split files of those of `question_sets` that have a split, named
        `split/<questions>` (a table rule's inputs)."""
        return {f"split/{q}": SPLIT.format(questions=q) for q in dict.fromkeys(question_sets)
                if self.x.questions[q].split is not None}

    def qa_inputs(self, wildcards) -> dict:
        """A question set's records, its split, the tokenizer's model and, for a mode with
        passages, the set's passages from the book."""
        mode, book = mode_of_folder(wildcards.mode, list(self.x.corpora))
        inputs = {"questions": QUESTIONS.format(questions=wildcards.questions),
                  "split": SPLIT.format(questions=wildcards.questions),
                  "model": self.base_model_dir(self.tokenizer_model(wildcards.tokenizer))}
        if book is not None:
            inputs["passages"] = PASSAGES.format(corpus=book, questions=wildcards.questions)
        return inputs

    def qa_options(self, wildcards) -> dict:
        """The mode's prompt, and how the answers ask it (answer.chat_template)."""
        mode, _ = mode_of_folder(wildcards.mode, list(self.x.corpora))
        model = self.tokenizer_model(wildcards.tokenizer)
        return {"prompt": self.x.value(mode.prompt), "chat_template": self.x.answer.chat_template,
                "model": model, "trust_remote_code": self.x.models[model].trust_remote_code}

    def fine_tune_options(self, wildcards) -> dict:
        """Rule finetune's params: a jobs.FineTuneJob's fields but the paths of its input and
        output and its GPUs, as one mapping. Its resume points go to resume/, outside its
        output, which Snakemake deletes when a job fails. LoRA settings reach the LoRA job
        only, so changing them leaves the full fine-tune current."""
        ft = self.fine_tune(wildcards)
        setting, entry, lora = self.x.settings[ft.setting], self.x.models[ft.model], ft.method == "lora"
        return {"fine_tune": ft.as_dict(), "train": self.x.train_options(ft).as_dict(),
                "lora": setting.lora.as_dict() if lora else None,
                "lora_targets": entry.lora_targets if lora else None,
                "trust_remote_code": entry.trust_remote_code, "resume_dir": ft.resume_dir}

    def train_runtime(self, wildcards, attempt: int) -> int:
        return sizing.train_runtime_min(self.model_size(wildcards.model),
                                        self.x.settings[wildcards.setting].train.epochs, attempt)

    # --- answer sets ---------------------------------------------------------------------

    def run_answer_sets(self, model: str, setting: str, seed: int) -> list[AnswerSet]:
        """One (model, setting, seed)'s answer sets: per mode, the base model's, then each
        fine-tune's (named base, full, lora; base_open, ...)."""
        questions, book = self.x.settings[setting].questions, self.x.book(setting)
        return [AnswerSet(run, questions, mode.name, book if mode.passages else None)
                for mode in self.x.modes
                for run in (BaseModel(model), *fine_tunes_of_run(model, setting, seed))]

    def answer_sets(self, model: str, modes=None) -> list[AnswerSet]:
        """Every fine-tune's answer sets of a model's grid (in `modes`, None: the config's),
        mode by mode, in grid order: what a table across the grid reads, each beside its
        base model's (AnswerSet.base)."""
        chosen = [m for m in self.x.modes if modes is None or m.name in modes]
        return [AnswerSet(ft, self.x.settings[ft.setting].questions, mode.name,
                          self.x.book(ft.setting) if mode.passages else None)
                for mode in chosen for ft in self.grid.fine_tunes(model)]

    def answer_set(self, wildcards) -> AnswerSet:
        return AnswerSet.of_wildcards(wildcards, list(self.x.corpora))

    def answering_inputs(self, wildcards) -> dict:
        """The questions, the model (and adapter) and, for a mode with passages, the
        question set's passages from the book."""
        answers = self.answer_set(wildcards)
        inputs = {"questions": QUESTIONS.format(questions=answers.questions),
                  **self.model_inputs(answers.run)}
        if answers.book is not None:
            inputs["passages"] = PASSAGES.format(corpus=answers.book, questions=answers.questions)
        return inputs

    def answering_options(self, wildcards) -> dict:
        """answer: with the mode's prompt (closed book answer.prompt, open book open_book.prompt)."""
        mode = mode_named(self.answer_set(wildcards).mode)
        return {"answer": {**self.x.answer.as_dict(), "prompt": self.x.value(mode.prompt)},
                "trust_remote_code": self.x.models[wildcards.model].trust_remote_code}

    def table_inputs(self, kind: str, modes=None):
        """An input function: every answer set of a model's grid (`answer_sets`) and their
        base model's, each named by its key; `kind`: predictions, ...; and the held-out
        splits of their question sets (`splits`)."""
        def inputs(wildcards) -> dict:
            sets = self.answer_sets(wildcards.model, modes)
            return {**{a.key: a.file(kind) for s in sets for a in (s.base(), s)},
                    **self.splits(a.questions for a in sets)}
        return inputs

    def run_split(self, wildcards) -> dict:
        """The held-out split of a run's question set, if it has one (`split/<questions>`)."""
        return self.splits([self.x.settings[wildcards.setting].questions])

    def table_options(self, modes=None):
        """The params of a table across the grid: its answer sets (AnswerSet.as_dict), and
        each setting's corpus and question set (for titles and headings)."""
        def options(wildcards) -> dict:
            return {"answer_sets": [a.as_dict() for a in self.answer_sets(wildcards.model, modes)],
                    "settings": self.setting_words()}
        return options

    def setting_words(self) -> dict:
        """Per run setting, what its titles name: the corpus it trains on, the questions it
        answers (and of which kind), the book open book reads."""
        return {s: {"corpus": self.x.settings[s].corpus, "questions": self.x.settings[s].questions,
                    "questions_kind": self.x.questions[self.x.settings[s].questions].kind,
                    "book": self.x.book(s)} for s in self.grid.settings}

    def venn_mode(self, wildcards) -> str:
        return next(m.name for m in self.x.modes if m.variant("") == wildcards.mode_suffix)

    def venn_inputs(self, wildcards) -> dict:
        return self.table_inputs("predictions", [self.venn_mode(wildcards)])(wildcards)

    def venn_options(self, wildcards) -> dict:
        mode = self.venn_mode(wildcards)
        return {**self.table_options([mode])(wildcards), "mode": mode}

    def run_inputs(self, kind: str, suffix: str = ".jsonl", modes=None, name: str = "{}"):
        """An input function: one (model, setting, seed)'s answer sets' files of `kind`, named
        by variant (base, full, lora, base_open, ...) through `name`."""
        def inputs(wildcards) -> dict:
            return {name.format(a.variant): a.file(kind, suffix)
                    for a in self.run_answer_sets(wildcards.model, wildcards.setting, int(wildcards.seed))
                    if modes is None or a.mode in modes}
        return inputs

    def run_words(self, wildcards) -> dict:
        return {"setting": wildcards.setting, **self.setting_words()[wildcards.setting]}

    def fine_tunes_options(self, wildcards) -> dict:
        """The fine-tunes of a model's grid (as dicts), each naming its input FineTune.key."""
        return {"fine_tunes": [ft.as_dict() for ft in self.grid.fine_tunes(wildcards.model)],
                "settings": self.setting_words()}

    def all_checkpoints(self, wildcards) -> dict:
        return {ft.key: ft.checkpoint_dir for ft in self.grid.fine_tunes(wildcards.model)}

    def checkpoints_and_timings(self, wildcards) -> dict:
        """One run's fine-tunes by method, and every variant's generation timing
        (`<variant>_timing`): what the timing table reads."""
        tuned = fine_tunes_of_run(wildcards.model, wildcards.setting, int(wildcards.seed))
        return {**{ft.method: ft.checkpoint_dir for ft in tuned},
                **self.run_inputs("generations", ".timing.json", name="{}_timing")(wildcards)}

    # --- open book -----------------------------------------------------------------------

    def reads_passages(self) -> bool:
        return any(mode.passages for mode in self.x.modes)

    def retrieval_index_options(self, wildcards) -> dict:
        """Which examples of the corpus are passages: its training slice."""
        corpus = self.x.corpora[wildcards.corpus]
        return {"kind": corpus.kind, **corpus.slice()}

    def retrieval_options(self, wildcards) -> dict:
        # A Bible's references (BibleQA's "Gen 17:15") are read as verses; others as written.
        return {"k": self.x.open_book.k, "bible": self.x.corpora[wildcards.corpus].IS_BIBLE}

    def retrieval_inputs(self, wildcards) -> dict:
        return {"index": RETRIEVAL_INDEX.format(corpus=wildcards.corpus),
                "questions": QUESTIONS.format(questions=wildcards.questions)}

    def run_passages(self, wildcards) -> str:
        setting = self.x.settings[wildcards.setting]
        return PASSAGES.format(corpus=self.x.book(wildcards.setting), questions=setting.questions)

    def question_sets_in_use(self) -> list[str]:
        """The question sets the run settings answer, in the order of the settings."""
        return list(dict.fromkeys(self.x.settings[s].questions for s in self.grid.settings))

    def books_in_use(self) -> list[str]:
        """The books of the run settings, in the order of the settings."""
        return list(dict.fromkeys(self.x.book(s) for s in self.grid.settings))

    # --- probes --------------------------------------------------------------------------

    def probe_set_options(self, wildcards) -> dict:
        """What one corpus's probe set is made of: seen examples are its training slice."""
        corpus, probes = self.x.corpora[wildcards.corpus], self.x.probes
        return {"kind": corpus.kind, "name": corpus.translation if corpus.IS_BIBLE else wildcards.corpus,
                **corpus.slice(), "verse_format": self.x.data.verse_format,
                "probes_books": probes.books if corpus.IS_BIBLE else None,
                **{key: getattr(probes, key) for key in ("verses", "completions", "seed")},
                # The same verses in other words: a Bible's other translations.
                "translations": ([t for t in probes.translations if t != corpus.translation]
                                 if corpus.IS_BIBLE else []),
                "texts": list(probes.texts)}

    def probe_text_inputs(self, wildcards) -> dict:
        """The corpus, and each other text of probes.texts named `texts/<name>`."""
        return {"corpus": self.corpus_file(wildcards.corpus),
                **{f"texts/{name}": os.path.expanduser(path)
                   for name, path in self.x.probes.texts.items()}}

    def probing_inputs(self, wildcards) -> dict:
        run = run_of(wildcards.model, wildcards.run, wildcards.variant)
        return {"texts": PROBE_SET.format(corpus=wildcards.corpus), **self.model_inputs(run)}

    def probing_options(self, wildcards) -> dict:
        # answer's dtype and tf32: the probes run each variant as its answers do.
        return {"batch_size": self.x.probes.batch_size, "dtype": self.x.answer.dtype,
                "tf32": self.x.answer.tf32,
                "trust_remote_code": self.x.models[wildcards.model].trust_remote_code}

    def probe_files(self, wildcards) -> dict:
        """One (model, setting, seed)'s probe records by variant, on the setting's corpus."""
        corpus = self.x.settings[wildcards.setting].corpus
        runs = [BaseModel(wildcards.model),
                *fine_tunes_of_run(wildcards.model, wildcards.setting, int(wildcards.seed))]
        return {run.variant: probes_file(run, corpus) for run in runs}

    def probe_corpora(self) -> list[str]:
        return list(dict.fromkeys(self.x.settings[s].corpus for s in self.grid.settings))

    # --- lm-evaluation-harness -----------------------------------------------------------

    def lm_eval_inputs(self, wildcards) -> dict:
        """The task folder's parent's, the questions, the three models (the LoRA one as the
        base model and its adapter) and the workflow's own closed-book predictions."""
        tuned = fine_tunes_of_run(wildcards.model, wildcards.setting, int(wildcards.seed))
        predictions = self.run_inputs("predictions", modes=[CLOSED], name="{}_predictions")
        return {"questions": QUESTIONS.format(questions=self.x.data.questions),
                "base_model": self.base_model_dir(wildcards.model),
                **{ft.method: ft.checkpoint_dir for ft in tuned}, **predictions(wildcards)}
