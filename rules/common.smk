# The one place that reads `config`: validated against the schema (which fills in every
# default), then typed once as EXPERIMENT (bibleft.options.Experiment): the grid, the
# registries and each stage's options. Then wildcard constraints, the final targets and
# the input and option functions the rules call. Runs of the grid are typed values
# (bibleft.grid): a rule's wildcards are a run's fields, and its folders come from it.
#
# One convention for the settings of every rule. What a script needs besides paths reaches
# it as ONE mapping, `params: options=...`, typed in the script with the options classes'
# `from_dict` (a fine-tune's: options.FineTuneJob, built by Experiment.fine_tune_options).
# A mapping, not the typed value: Snakemake sees a change of params only in built-in
# values (it skips any other object), and compares the *set* of their values with the
# names left out, so two booleans as two params would hide a flip of one of them and
# leave stale outputs. A mapping keeps every name in its value.
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(workflow.basedir, "workflow_scripts"))
from bibleft import corpora, devices, lmeval, preflight, questions, sizing, sources  # noqa: E402
from bibleft.configcheck import SCHEMA_PATH, load_schema, validate_config  # noqa: E402
from bibleft.corpus import VERSE_FORMATS  # noqa: E402
from bibleft.errors import InputError  # noqa: E402
from bibleft.grid import (
    CLOSED,
    METHODS,
    OPEN,
    BaseModel,
    FineTune,
    file_pattern,
    fine_tunes_of_run,  # noqa: E402
    folder_file,
    mode_kind,
    mode_variant,
    questions_kind,
    run_of,
)
from bibleft.openbook import closed_base_input, open_base_input, open_input  # noqa: E402
from bibleft.options import Experiment  # noqa: E402

# Where rule prepare_model puts a base model that is not a local directory.
PREPARED_MODEL = "models/{model}"

try:
    validate_config(
        config,
        load_schema(SCHEMA_PATH),
        [os.path.relpath(path) for path in workflow.config_settings.configfiles],
    )
    EXPERIMENT = Experiment.from_config(config)
    # A local model directory that is missing, has no weights or only pickle weights, a
    # malformed Hub id or revision fails here, before any job is scheduled.
    for _model in EXPERIMENT.grid.models:
        _entry = EXPERIMENT.models[_model]
        sources.check_model_entry(
            _model, _entry.source, _entry.revision, PREPARED_MODEL.format(model=_model)
        )
except InputError as err:
    sys.exit(str(err))  # one line, no traceback: the message names the key

GRID = EXPERIMENT.grid


wildcard_constraints:
    model="|".join(re.escape(m) for m in EXPERIMENT.models),
    tokenizer="|".join(sorted({re.escape(m.tokenizer) for m in EXPERIMENT.models.values()})),
    setting="|".join(re.escape(s) for s in EXPERIMENT.settings),
    seed=r"\d+",
    method="|".join(METHODS),
    corpus="|".join(re.escape(c) for c in EXPERIMENT.corpora),
    book="|".join(re.escape(c) for c in EXPERIMENT.corpora),
    questions="|".join(re.escape(q) for q in EXPERIMENT.questions),
    example_format="|".join(VERSE_FORMATS),


def final_outputs():
    """What `snakemake` builds by default; called in the Snakefile, after every rule."""
    per_model = [
        rules.accuracy_table.output,
        rules.venn_diagram.output,
        rules.loss_curves.output,
        rules.seed_tables.output,
    ]
    per_run = [
        rules.judge_predictions.output,
        rules.accuracy_bars.output,
        rules.timing_table.output,
    ]
    if EXPERIMENT.probes.enabled:
        per_run.append(rules.probe_table.output)
    if OPEN in EXPERIMENT.open_book.modes:
        per_model.append(rules.open_venn_diagram.output)
        per_run.append(rules.retrieval_accuracy.output)
    outputs = [path for paths in per_model for path in expand(paths, model=GRID.models)]
    outputs += [
        path
        for paths in per_run
        for path in expand(paths, model=GRID.models, setting=GRID.settings, seed=GRID.seeds)
    ]
    if len(GRID.models) > 1:
        outputs += rules.model_summary.output
    return outputs


# --- models ------------------------------------------------------------------------------


def model_entry(model):
    return EXPERIMENT.models[model]


def model_size(model):
    return model_entry(model).params_millions


def base_model_dir(model):
    """The directory holding the base model: the local source itself, or models/<slug>/."""
    return sources.model_dir(model_entry(model).source, PREPARED_MODEL.format(model=model))


def gguf_file_input(wildcards):
    """A .gguf path source is an input, so replacing the file rebuilds the model."""
    path = sources.gguf_file(model_entry(wildcards.model).source)
    return [path] if path else []


def tokenizer_source_model(tokenizer):
    """The model whose tokenizer files make data/tokenized/<tokenizer>/... (run models first)."""
    for model in [*GRID.models, *EXPERIMENT.models]:
        if model_entry(model).tokenizer == tokenizer:
            return model


def model_inputs(run):
    """What a run answers or is probed with: the base model (base), the fine-tuned
    checkpoint (full), or the base model and the adapter (LoRA, merged before use)."""
    if isinstance(run, BaseModel):
        return {"model": base_model_dir(run.model)}
    if run.method == "full":
        return {"model": run.checkpoint_dir}
    return {"model": base_model_dir(run.model), "adapter": run.checkpoint_dir}


# --- data --------------------------------------------------------------------------------


def checked(check, *args):
    """`check(*args)` (a bibleft.preflight check, run while the DAG is built), its one-line
    error printed and the run stopped before any job."""
    try:
        return check(*args)
    except InputError as err:
        sys.exit(str(err))


def names_pattern(names):
    """A wildcard constraint matching exactly `names` (none: nothing)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def bible_corpora_pattern():
    return names_pattern(name for name, entry in EXPERIMENT.corpora.items() if entry.is_bible)


def other_corpora_pattern():
    return names_pattern(name for name, entry in EXPERIMENT.corpora.items() if not entry.is_bible)


def question_sets_pattern(kind):
    return names_pattern(name for name, entry in EXPERIMENT.questions.items() if entry.kind == kind)


def bible_source(corpus):
    entry = EXPERIMENT.corpora[corpus]
    return {
        "translation": entry.translation,
        "source": entry.source,
        "url": entry.url,
        "sha256": entry.sha256,
    }


def corpus_source(corpus):
    """What corpus_examples reads: the kind, the file, folder or dataset, and how; or the
    generator's keys (facts)."""
    entry = EXPERIMENT.corpora[corpus]
    if entry.kind == "facts":
        return {key: getattr(entry, key) for key in ("kind", "seed", "count", "paraphrases")}
    return {
        key: getattr(entry, key) for key in ("kind", "path", "unit", "revision", "split", "column")
    }


def corpus_local_source(wildcards):
    """A text corpus's file or folder, or a dataset's local folder, checked and watched (an
    input: replacing it rebuilds the examples); nothing for a Hub dataset."""
    entry, key = EXPERIMENT.corpora[wildcards.corpus], f"corpora.{wildcards.corpus}.path"
    if entry.kind == "facts":
        return []
    if entry.kind == "text":
        checked(corpora.check_text_source, key, entry.path)
    else:
        checked(corpora.check_dataset_source, key, entry.path, entry.split, entry.column)
    local = os.path.expanduser(entry.path)
    return [local] if os.path.exists(local) else []


def corpus_file(corpus):
    """A corpus, whole: a Bible's verses (data/raw/<corpus>.tsv) or another's examples."""
    making = rules.bible_text if EXPERIMENT.corpora[corpus].is_bible else rules.corpus_examples
    return expand(making.output[0], corpus=corpus)[0]


def bibleqa_local_file(wildcards):
    entry = EXPERIMENT.questions[wildcards.questions]
    if not entry.path:
        return []
    return [
        checked(
            preflight.text_file,
            f"questions.{wildcards.questions}.path",
            entry.path,
            "a local copy of BibleQA's 1001.csv, read instead of the download; null downloads it",
        )
    ]


def bibleqa_download(name):
    entry = EXPERIMENT.questions[name]
    return None if entry.path else {"url": entry.url, "sha256": entry.sha256}


def question_source(wildcards):
    """BibleQA's file as published (downloaded or copied), a table, checked now, or
    nothing (facts: generated from the corpus's keys, in params)."""
    entry, name = EXPERIMENT.questions[wildcards.questions], wildcards.questions
    if entry.kind == "bibleqa":
        return {"raw": expand(rules.bibleqa_raw.output[0], questions=name)[0]}
    if entry.kind == "facts":
        return {}
    checked(
        questions.check_question_file,
        f"questions.{name}.path",
        entry.path,
        entry.question,
        entry.answer,
        entry.alternatives,
        entry.reference,
    )
    return {"table": os.path.expanduser(entry.path)}


def question_records_options(name):
    """What question_records reads besides its input: the entry, and for a facts question
    set the generator's keys of its corpus (so a change there regenerates the questions)."""
    entry = EXPERIMENT.questions[name]
    options = {key: value for key, value in entry.as_dict().items() if key != "corpus"}
    if entry.kind != "facts":  # no corpus keys: a corpus's change never reruns its jobs
        return options
    return {**options, "facts": corpus_source(entry.corpus)}


def questions_file(name=None):
    """A question set's records (None: data.questions, which every setting answers unless
    it names another)."""
    return expand(rules.question_records.output[0], questions=name or EXPERIMENT.data.questions)[0]


def run_questions(wildcards):
    """The question set a job's run answers: its setting's (a fine-tune), the one in its
    path (the base model answering another set), else data.questions."""
    if "setting" in wildcards.keys():
        return EXPERIMENT.settings[wildcards.setting].questions
    return wildcards.get("questions", EXPERIMENT.data.questions)


def base_kind(kind, setting, mode=CLOSED):
    """The base model's file `kind` as `setting`'s tables read it: the setting's question
    set (under questions/<name>/ when it is not data.questions) and book."""
    kind = mode_kind(kind, mode, EXPERIMENT.book(setting))
    other = EXPERIMENT.other_questions(setting)
    return questions_kind(kind, other) if other else kind


def tokenized_corpus(fine_tune):
    """The shards a fine-tune reads: per tokenizer, its setting's corpus and example format,
    so settings that share all three share one tokenization."""
    setting = EXPERIMENT.settings[fine_tune.setting]
    return expand(
        rules.tokenize_corpus.output[0],
        tokenizer=model_entry(fine_tune.model).tokenizer,
        corpus=setting.corpus,
        example_format=EXPERIMENT.corpora[setting.corpus].example_format(setting.verse_format),
    )[0]


def probe_set_file(corpus):
    return expand(rules.probe_texts.output[0], corpus=corpus)[0]


def probe_corpus(run):
    """The corpus whose probe set a run is probed on: its setting's (a fine-tune), or the
    one its rule names (the base model, probed on every corpus the settings train on)."""
    return EXPERIMENT.settings[run.setting].corpus if isinstance(run, FineTune) else None


# --- options: one mapping per rule (see the top of this file) ------------------------------


def probe_set_options(corpus):
    """What one corpus's probe set is made of: seen examples are its training slice."""
    entry, probes = EXPERIMENT.corpora[corpus], EXPERIMENT.probes
    return {
        "kind": entry.kind,
        "name": entry.translation if entry.is_bible else corpus,
        **entry.slice(),
        "verse_format": EXPERIMENT.data.verse_format,
        "probes_books": probes.books if entry.is_bible else None,
        **{key: getattr(probes, key) for key in ("verses", "completions", "seed")},
        # The same verses in other words: a Bible's other translations.
        "translations": (
            [t for t in probes.translations if t != entry.translation] if entry.is_bible else []
        ),
        "texts": list(probes.texts),
    }


def answering_options(model):
    return {
        "answer": EXPERIMENT.answer.as_dict(),
        "trust_remote_code": model_entry(model).trust_remote_code,
    }


def open_answering_options(model):
    """Closed book's options with open book's template (`{context}` and `{question}`)."""
    options = answering_options(model)
    return {**options, "answer": {**options["answer"], "prompt": EXPERIMENT.open_book.prompt}}


def retrieval_index_options(corpus):
    """Which examples of the corpus are passages: its training slice."""
    return {"kind": EXPERIMENT.corpora[corpus].kind, **EXPERIMENT.corpora[corpus].slice()}


def retrieval_options(corpus):
    # A Bible's references (BibleQA's "Gen 17:15") are read as verses; others as written.
    return {"k": EXPERIMENT.open_book.k, "bible": EXPERIMENT.corpora[corpus].is_bible}


def probing_options(model):
    # answer's dtype and tf32: the probes run each variant as its answers do.
    return {
        "batch_size": EXPERIMENT.probes.batch_size,
        "dtype": EXPERIMENT.answer.dtype,
        "tf32": EXPERIMENT.answer.tf32,
        "trust_remote_code": model_entry(model).trust_remote_code,
    }


def fine_tunes_options(wildcards):
    """The fine-tunes of a model's grid (as dicts, typed again by grid.fine_tunes_from),
    each naming its input `FineTune.key` (across_fine_tunes). No **kwargs: Snakemake would
    pass a params function its input, output, threads and resources too, and the resources
    (different under a SLURM profile) would then count as changed params."""
    return {"fine_tunes": [ft.as_dict() for ft in GRID.fine_tunes(wildcards.model)]}


# --- inputs of the runs ----------------------------------------------------------------


def answering_inputs(wildcards):
    return {
        "questions": questions_file(run_questions(wildcards)),
        **model_inputs(run_of(wildcards)),
    }


def passages_file(book, questions):
    """The passages of question set `questions`, retrieved from `book`."""
    return expand(rules.retrieve_passages.output.passages, corpus=book, questions=questions)[0]


def open_answering_inputs(wildcards):
    return {
        **answering_inputs(wildcards),
        "passages": passages_file(wildcards.book, run_questions(wildcards)),
    }


def retrieval_inputs(wildcards):
    """The book's index and the questions, once checked (before any job) that the book has
    at least open_book.k passages and that a table's reference column names its examples."""
    checked(
        preflight.open_book_corpus,
        wildcards.corpus,
        EXPERIMENT.corpora[wildcards.corpus],
        EXPERIMENT.open_book.k,
    )
    entry = EXPERIMENT.questions[wildcards.questions]
    if entry.kind == "table" and entry.reference:
        checked(
            preflight.reference_column,
            f"questions.{wildcards.questions}.reference",
            entry,
            wildcards.corpus,
            EXPERIMENT.corpora[wildcards.corpus],
        )
    return {
        "index": expand(rules.retrieval_index.output[0], corpus=wildcards.corpus)[0],
        "questions": expand(rules.question_records.output[0], questions=wildcards.questions)[0],
    }


def probing_inputs(wildcards):
    run = run_of(wildcards)
    return {"texts": probe_set_file(probe_corpus(run) or wildcards.corpus), **model_inputs(run)}


def probe_files(wildcards):
    """One (model, setting, seed)'s probe records by variant: the base model's on the
    setting's corpus."""
    tuned = fine_tunes_of_run(wildcards.model, wildcards.setting, int(wildcards.seed))
    corpus = EXPERIMENT.settings[wildcards.setting].corpus
    return {
        "base": BaseModel(wildcards.model).file(f"probes/{corpus}"),
        **{ft.method: ft.file("probes") for ft in tuned},
    }


def probe_text_inputs(wildcards):
    """The corpus, and each other text of probes.texts named `texts/<name>`."""
    return {
        "corpus": corpus_file(wildcards.corpus),
        **{
            f"texts/{name}": checked(
                preflight.text_file,
                f"probes.texts.{name}",
                path,
                "a text for the probes: one example per line",
            )
            for name, path in EXPERIMENT.probes.texts.items()
        },
    }


def lm_eval_inputs(wildcards):
    """The task, the questions, the three models (the LoRA one as the base model and its
    adapter) and the workflow's own predictions (`<variant>_predictions`)."""
    tuned = {
        ft.method: ft.checkpoint_dir
        for ft in fine_tunes_of_run(wildcards.model, wildcards.setting, int(wildcards.seed))
    }
    predictions = variant_files("predictions", modes=[CLOSED])(wildcards)
    # The harness's Python is looked for only when its table is asked for.
    checked(preflight.executable, "lm_eval.python", EXPERIMENT.lm_eval.python, lmeval.INSTALL_HINT)
    return {
        "task": os.path.join(workflow.basedir, "lm_eval_tasks"),
        "questions": questions_file(),
        "base_model": base_model_dir(wildcards.model),
        **tuned,
        **{f"{variant}_predictions": path for variant, path in predictions.items()},
    }


def variant_files(kind, suffix=".jsonl", modes=None):
    """An input function: the base model's and one (model, setting, seed)'s fine-tunes'
    files of `kind`, named by variant (base, full, lora), in each of `modes` (None: the
    config's; open book's named base_open, ..., from the setting's book)."""

    def inputs(wildcards):
        tuned = fine_tunes_of_run(wildcards.model, wildcards.setting, int(wildcards.seed))
        book, base = EXPERIMENT.book(wildcards.setting), BaseModel(wildcards.model)
        files = {}
        for mode in modes or EXPERIMENT.open_book.modes:
            files[mode_variant(base.variant, mode)] = base.file(
                base_kind(kind, wildcards.setting, mode), suffix
            )
            for run in tuned:
                files[mode_variant(run.variant, mode)] = run.file(
                    mode_kind(kind, mode, book), suffix
                )
        return files

    return inputs


def across_fine_tunes(kind, modes=None):
    """An input function: the base model's file of `kind` (named `base`) and every
    fine-tune's of the model's grid (named by its FineTune.key); open book (in `modes`,
    None: the config's), their open-book files from each setting's book, named as
    bibleft.openbook reads them (`open/<setting>/base`, `open/<FineTune.key>`)."""

    def inputs(wildcards):
        model, modes_ = wildcards.model, modes or EXPERIMENT.open_book.modes
        fine_tunes = GRID.fine_tunes(model)
        files = {}
        if CLOSED in modes_:
            for setting in GRID.settings:
                files[closed_base_input(setting, EXPERIMENT.other_questions(setting))] = BaseModel(
                    model
                ).file(base_kind(kind, setting))
            files.update({ft.key: ft.file(kind) for ft in fine_tunes})
        if OPEN in modes_:
            for setting in GRID.settings:
                files[open_base_input(setting)] = BaseModel(model).file(
                    base_kind(kind, setting, OPEN)
                )
            files.update(
                {
                    open_input(ft): ft.file(mode_kind(kind, OPEN, EXPERIMENT.book(ft.setting)))
                    for ft in fine_tunes
                }
            )
        return files

    return inputs


def all_checkpoints(wildcards):
    """Every fine-tune of the model's grid, named by its FineTune.key."""
    return {ft.key: ft.checkpoint_dir for ft in GRID.fine_tunes(wildcards.model)}


def checkpoints_and_timings(wildcards):
    """One (model, setting, seed)'s fine-tunes by method, and every variant's generation
    timing (`<variant>_timing`): what the timing table reads."""
    tuned = fine_tunes_of_run(wildcards.model, wildcards.setting, int(wildcards.seed))
    timings = variant_files("generations", ".timing.json")(wildcards)
    return {
        **{ft.method: ft.checkpoint_dir for ft in tuned},
        **{f"{variant}_timing": path for variant, path in timings.items()},
    }


# --- resources: sized from the model (bibleft.sizing), grown with each retry -------------

MODEL_GPUS = EXPERIMENT.resources.gpu
GENERATE_GPUS = sizing.generate_gpus(MODEL_GPUS)


# --- the start of a run: the plan, the device, and no cluster run with placeholders --------
# --- and at its failure, the jobs' one-line errors last, after Snakemake's own account ----

RUN_STARTED = time.time()


onstart:
    merged = preflight.merge_order(
        workflow.configfiles,
        workflow.config_settings.configfiles,
        bool(workflow.config_settings.config),
    )
    executor = workflow.executor_plugin.name
    gpu_ids = devices.candidate_ids() if workflow.local_exec else []
    print(
        preflight.plan_line(
            GRID,
            merged,
            preflight.device_words(workflow.local_exec, executor, gpu_ids),
            EXPERIMENT.books_in_use() if OPEN in EXPERIMENT.open_book.modes else [],
            len(set(EXPERIMENT.settings[s].questions for s in GRID.settings)),
            len(
                set(
                    (EXPERIMENT.book(s), EXPERIMENT.settings[s].questions)
                    for s in GRID.settings
                )
            ),
        ),
        file=sys.stderr,
    )
    print(preflight.progress_line(GRID), file=sys.stderr)
    if workflow.local_exec and (warning := preflight.gpu_warning(MODEL_GPUS, gpu_ids)):
        print(warning, file=sys.stderr)
    if executor == "slurm":
        defaults = {
            name: str(resource.raw)
            for name, resource in (workflow.resource_settings.default_resources or {}).items()
        }
        if error := preflight.slurm_placeholders(defaults):
            sys.exit(error)


onerror:
    for line in preflight.job_errors("logs", RUN_STARTED):
        print(line, file=sys.stderr)
