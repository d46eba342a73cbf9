"""What the config names outside itself (files, folders, packages, executables), checked
when Snakemake builds the DAG, before any job starts.

Each check fails with one line that names the key, the value and the way out (an
InputError that rules/common.smk prints as it is). The config's own shape, its names and
numbers are configcheck's; this module looks at the world. rules/common.smk runs a check
where a target needs the thing: the run models' sources at start-up, and what only one
rule uses in that rule's input function, so an optional rule's tool (lm_eval.python) is
looked for only when its output is asked for.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import InputError
from .fileio import read_utf8


def text_file(key: str, path: str, what: str) -> str:
    """`path` (a leading ~ expanded) when it is a file with at least one non-blank line of
    UTF-8 text; else one line naming `key`. `what` says what the file is for."""
    expanded = Path(os.path.expanduser(path))
    if not expanded.exists():
        raise InputError(f"config error: {key}: {path} does not exist ({what})")
    if not expanded.is_file():
        raise InputError(f"config error: {key}: {path} is a folder, not a file ({what})")
    try:
        text = read_utf8(expanded)
    except InputError as err:
        raise InputError(f"config error: {key}: {err} ({what})") from None
    if not text.strip():
        raise InputError(f"config error: {key}: {path} is empty ({what})")
    return str(expanded)


def executable(key: str, command: str, how_to_install: str) -> str:
    """`command` when it runs here: a path to an executable file (relative to the working
    directory) or a command on PATH; else one line naming `key` and how to install it."""
    if os.sep in command or command.startswith("."):
        if Path(command).is_file() and os.access(command, os.X_OK):
            return command
    elif shutil.which(command):
        return command
    raise InputError(f"config error: {key}: no executable {command!r} here; {how_to_install}")


# --- open book: the book and the references ------------------------------------------------

def bible_verse_count(books: list[str] | None) -> int | None:
    """How many verses the ASV's canon has in `books` (titled as data/raw/<corpus>.tsv
    titles them; None: all), from pythonbible's tables without reading any text; None when
    a title is unknown (the tokenize job names it)."""
    import pythonbible

    from .references import _short_titles

    book_of = {title: book for book, title in _short_titles().items()}
    chosen = list(book_of.values()) if not books else [book_of.get(title) for title in books]
    if None in chosen:
        return None
    return sum(pythonbible.get_number_of_verses(book, chapter)
               for book in chosen
               for chapter in range(1, pythonbible.get_number_of_chapters(book) + 1))


def open_book_corpus(name: str, entry, k: int) -> None:
    """open_book.k is no more than the passages book `name` (a corpora entry) can hold: a
    Bible's verses in its slice, a text's lines or paragraphs (read now), generated facts'
    biographies (count x paraphrases); a dataset's rows
    are counted by the index job. Else one line naming open_book.k."""
    from .corpora import text_examples

    if entry.kind == "bible":
        count = bible_verse_count(entry.books)
        if count is not None and entry.max_verses is not None:
            count = min(count, entry.max_verses)
        what = "verses"
    elif entry.kind == "text":
        try:
            count = len(text_examples(entry.path, entry.unit))
        except InputError:
            return  # the corpus's own check names what is wrong with its path
        if entry.max_examples is not None:
            count = min(count, entry.max_examples)
        what = f"{entry.unit}s"
    elif entry.kind == "facts":
        count, what = entry.count * entry.paraphrases, "biographies"
    else:
        return
    if count is not None and k > count:
        raise InputError(f"config error: open_book.k: {k} passages per question, but the book "
                         f"{name} (corpora.{name}) holds {count} {what}; lower open_book.k or "
                         "name a larger book (open_book.corpus)")


def reference_column(key: str, questions, book: str, entry) -> None:
    """A table's reference column (`key`: questions.<name>.reference) names examples of the
    book: some of its values read as verses where the book is a Bible, or are references of
    the book's examples where it is a text (`<file>:<line>`); a dataset book's row
    references are matched by the retrieval job. Else one line naming `key`."""
    from .corpora import text_examples
    from .questions import check_question_file
    from .references import verse_references

    records = check_question_file(key, questions.path,
                                  questions.question, questions.answer, questions.alternatives,
                                  questions.reference)
    values = [r["reference"] for r in records if r.get("reference")]
    if not values:
        raise InputError(f"config error: {key}: column {questions.reference!r} is empty in "
                         f"every row of {questions.path}: it names no example")
    if entry.kind == "bible":
        if not any(verse_references(value) for value in values):
            raise InputError(f"config error: {key}: no value of column {questions.reference!r} "
                             f"reads as a verse (e.g. 'Genesis 1:1' or 'Gen 1:1'; first: "
                             f"{values[0]!r})")
    elif entry.kind == "text":
        try:
            known = {e["reference"] for e in text_examples(entry.path, entry.unit)}
        except InputError:
            return
        if not known.intersection(values):
            example = next(iter(sorted(known)), "")
            raise InputError(f"config error: {key}: no value of column {questions.reference!r} "
                             f"names an example of the book {book} (its references read like "
                             f"{example!r}; first value: {values[0]!r})")


# --- at the start of a run: what it will do, and where -------------------------------------

def plan_line(grid, config_files: list[str], device: str, books: list[str] = (),
              question_sets: int = 1, open_base_sets: int | None = None) -> str:
    """One line: models x settings x seeds and how many jobs of the grid that makes (with
    open book, its answer sets from `books` too), the config files in the order they were
    merged (each over the ones before), the device. The base model answers once per question
    set the settings answer (`question_sets`) and, open book, once per (book, question set)
    (`open_base_sets`, None: one per book)."""
    def count(items, word):
        return f"{len(items)} {word}{'s' if len(items) != 1 else ''} ({', '.join(map(str, items))})"

    fine_tunes = sum(len(grid.fine_tunes(model)) for model in grid.models)
    answers = f"{fine_tunes + len(grid.models) * question_sets} answer sets"
    if books:
        open_base = len(books) if open_base_sets is None else open_base_sets
        answers += (f" closed book and {fine_tunes + len(grid.models) * open_base} open book "
                    f"(from {', '.join(books)})")
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
