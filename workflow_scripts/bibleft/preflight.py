"""What the config names outside itself (files, folders, packages, executables), checked
once after the config is loaded, before the DAG is built; and what a run says at its start
and at its failure.

Each check fails with one line that names the key, the value and the way out (an
InputError that rules/common.smk prints as it is). The config's own shape, its names and
numbers are bibleft.config's; this module looks at the world, and only at what a run of
the grid reads: a registry entry costs nothing until a setting uses it. What only an
optional rule needs (the harness of lm_eval_compare) is looked for when the DAG holds
such a job (`check_jobs`, at the run's start).
"""

from __future__ import annotations

import os
from pathlib import Path

from . import sources
from .dag import PREPARED_MODEL, Plan
from .errors import InputError
from .fileio import executable, text_file


def check_experiment(experiment) -> None:
    """Raise the one-line InputError of the first thing the run cannot use: a run model's
    source (missing, pickle-only, malformed Hub id or revision, GGUF package not installed),
    a corpus or question set a run setting reads (a text, a dataset folder, a table and its
    columns), a probe text, or open book's k and reference column against each book."""
    plan = Plan(experiment)
    for model in experiment.grid.models:
        entry = experiment.models[model]
        sources.check_model_entry(model, entry.source, entry.revision,
                                  PREPARED_MODEL.format(model=model))
    settings = [experiment.settings[s] for s in experiment.grid.settings]
    for name in dict.fromkeys(s.corpus for s in settings):
        experiment.corpora[name].preflight(f"corpora.{name}")
    for name in dict.fromkeys(s.questions for s in settings):
        experiment.questions[name].preflight(f"questions.{name}")
    if experiment.probes.enabled:
        for name, path in experiment.probes.texts.items():
            text_file(f"probes.texts.{name}", path, "a text for the probes: one example per line")
    if plan.reads_passages():
        for setting in experiment.grid.settings:
            _check_book(experiment, experiment.book(setting), experiment.settings[setting].questions)


def _check_book(experiment, book: str, questions: str) -> None:
    """open_book.k is no more than the passages the book can hold (a dataset's rows are
    counted by the index job), and a table's reference column names examples of the book."""
    corpus, k = experiment.corpora[book], experiment.open_book.k
    count, what = corpus.passage_count()
    if count is not None and k > count:
        raise InputError(f"config error: open_book.k: {k} passages per question, but the book "
                         f"{book} (corpora.{book}) holds {count} {what}; lower open_book.k or "
                         "name a larger book (open_book.corpus)")
    entry, key = experiment.questions[questions], f"questions.{questions}"
    values = entry.references(key)
    if values is not None:
        corpus.check_references(f"{key}.reference", entry.reference, values, book)


def check_jobs(experiment, rules: set[str]) -> str | None:
    """The error of what a job in the run's DAG (`rules`: their names) needs and lacks."""
    if "lm_eval_compare" in rules:
        from .lmeval import INSTALL_HINT

        try:
            executable("lm_eval.python", experiment.lm_eval.python, INSTALL_HINT)
        except InputError as err:
            return str(err)
    return None


# --- at the start of a run: what it will do, and where -------------------------------------

def plan_line(plan: Plan, config_files: list[str], device: str) -> str:
    """One line: models x settings x seeds and how many jobs of the grid that makes (the
    answer sets of every mode: the base model's once per question set and book), the config
    files in the order they were merged (each over the ones before), the device."""
    def count(items, word):
        return f"{len(items)} {word}{'s' if len(items) != 1 else ''} ({', '.join(map(str, items))})"

    grid = plan.grid
    fine_tunes = sum(len(grid.fine_tunes(model)) for model in grid.models)
    by_mode = {}
    for model in grid.models:
        for answers in plan.answer_sets(model):
            by_mode.setdefault(answers.mode, set()).update(
                {(model, answers.key), (model, answers.base().key)})
    modes = plan.x.modes
    if len(modes) == 1:
        answers = f"{len(by_mode[modes[0].name])} answer sets"
    else:
        parts = [f"{len(by_mode[m.name])}{' answer sets' if i == 0 else ''} {m.words}"
                 for i, m in enumerate(modes)]
        answers = f"{', '.join(parts[:-1])} and {parts[-1]}"
        if plan.reads_passages():
            answers += f" (from {', '.join(plan.books_in_use())})"
    return (f"plan: {count(grid.models, 'model')} x {count(grid.settings, 'setting')} x "
            f"{count(grid.seeds, 'seed')} = {fine_tunes} fine-tunes, {answers}; "
            f"config: {' < '.join(config_files)}; device: {device}")


def progress_line(grid) -> str:
    """Where a long job's progress is: its log (tqdm with ETA, loss, tokens/s), named for the
    grid's first fine-tune so that the line can be copied as it is."""
    first = grid.fine_tunes(grid.models[0])[0]
    return (f"progress: each job writes it to its log; follow one with "
            f"`tail -f logs/finetune/{first.model}/{first.setting}/seed{first.seed}/{first.method}.log` "
            f"(answers: logs/generate/..., probes: logs/probes/...)")


def merge_order(all_files, command_line_files, command_line_config: bool) -> list[str]:
    """The config files in the order Snakemake merges them: the Snakefile's `configfile:`,
    then those of the command line (a profile's count as such) in their order, then
    `--config`. Each once (by its real path), relative to here when below here."""
    given = [str(path) for path in command_line_files]
    ordered = [*(str(p) for p in all_files if str(p) not in given), *given]
    shown, seen = [], set()
    for path in ordered:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        relative = os.path.relpath(real)
        shown.append(path if relative.startswith("..") else relative)
    return shown + ["--config"] * command_line_config


def device_words(local: bool, executor: str, gpu_ids: list[str]) -> str:
    """Where the model jobs run, in words: the visible CUDA GPUs or the CPU, or the
    executor's nodes."""
    if not local:
        return f"jobs go to {executor}, each model job with the GPUs it asks for"
    if gpu_ids:
        return f"CUDA GPU(s) {','.join(gpu_ids)} visible"
    return "CPU (no CUDA GPU visible)"


def gpu_warning(requested: int, gpu_ids: list[str]) -> str | None:
    """A warning when the model jobs ask for GPUs (resources.gpu) and none is visible."""
    if requested > 0 and not gpu_ids:
        return (f"warning: resources.gpu: {requested} asks a GPU for each model job, but no CUDA "
                "GPU is visible here: the model jobs will run on the CPU (set resources.gpu: 0 "
                "to plan for the CPU, or run where a GPU is)")
    return None


# A placeholder the SLURM profile ships, to be replaced: "<PARTITION>", "<ACCOUNT>".
PLACEHOLDER = "<"


def slurm_placeholders(default_resources: dict[str, str]) -> str | None:
    """The error for a SLURM submission whose default resources still hold the profile's
    placeholders, or None."""
    left = {name: value for name, value in default_resources.items()
            if isinstance(value, str) and value.strip("'\"").startswith(PLACEHOLDER)
            and value.strip("'\"").endswith(">")}
    if not left:
        return None
    shown = ", ".join(f"{name}={value.strip(chr(39) + chr(34))}" for name, value in left.items())
    hold = "still holds its placeholder" if len(left) == 1 else "still hold their placeholders"
    return (f"profile error: default-resources {shown} {hold} from "
            "profiles/slurm/config.yaml: set them there (sinfo -s lists partitions; sacctmgr -n -s "
            "list user $USER format=account your accounts) or on the command line (docs/slurm.md); "
            "nothing was submitted")


def job_errors(log_folder: str, since: float) -> list[str]:
    """The one-line errors (bibleft.entry: `error in rule ...`) that jobs wrote to their logs
    under `log_folder` since `since` (a time.time()), to repeat them where a user looks
    last: after Snakemake's own account of the failure."""
    found = []
    for path in sorted(Path(log_folder).rglob("*.log")) if Path(log_folder).is_dir() else []:
        if path.stat().st_mtime < since:
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("error in rule ") and line not in found:
                found.append(line)
    return found
