"""Texts to fine-tune on that are not a Bible: a local text file or folder, or a `datasets`
dataset (a folder written by save_to_disk, or a Hugging Face Hub id).

Each gives training examples `{"reference": ..., "text": ...}` in order: one per non-blank
line or per blank-line-separated paragraph of the text (reference `<file>:<first line>`),
or one per row of the dataset (reference `<split>:<row index>`, rows counted from 0 as
`dataset[i]` counts them). Taking the first N is the caller's.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError
from .fileio import read_utf8
from .hub import check_hub_id
from .preflight import text_file

UNITS = ("line", "paragraph")
TEXT_SOURCE = "a UTF-8 text file, or a folder of .txt files, to fine-tune on"
DATASET_SOURCE = "a folder written by save_to_disk, or a Hugging Face Hub dataset id"


# --- text files ------------------------------------------------------------------------------

def _txt_files(folder: Path) -> list[Path]:
    """Every *.txt file below `folder`, sorted by its path relative to it."""
    return sorted((p for p in folder.rglob("*.txt") if p.is_file()),
                  key=lambda p: p.relative_to(folder).as_posix())


def _blocks(text: str, unit: str) -> list[tuple[int, str]]:
    """(first line number, text) of each line or paragraph of `text` with any words."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r} (one of {', '.join(UNITS)})")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if unit == "line":
        return [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]
    blocks, start, held = [], 0, []
    for n, line in enumerate([*lines, ""], 1):  # a blank line after the last closes it
        if line.strip():
            start = start or n
            held.append(line.rstrip())
        elif held:
            blocks.append((start, "\n".join(held).strip()))
            start, held = 0, []
    return blocks


def text_examples(path: str, unit: str) -> list[dict]:
    """The examples of a UTF-8 text file, or of every *.txt file below a folder (in the
    order of their relative paths), one per non-blank line (`unit` "line", stripped) or per
    paragraph ("paragraph": lines between blank lines, joined by newlines).

    Reference `<name>:<first line>`, name being the file's path relative to the folder, or
    the file's own name. Raises InputError for a missing path, a file that is not UTF-8
    (naming it and the byte), and a source without any text."""
    root = Path(os.path.expanduser(path))
    if root.is_dir():
        files = [(p.relative_to(root).as_posix(), p) for p in _txt_files(root)]
        if not files:
            raise InputError(f"{path}: no .txt file in this folder or below it")
    elif root.is_file():
        files = [(root.name, root)]
    else:
        raise InputError(f"{path}: no such file or folder")
    examples = [{"reference": f"{name}:{line}", "text": text}
                for name, file in files for line, text in _blocks(read_utf8(file), unit)]
    if not examples:
        raise InputError(f"{path}: no text to train on (only blank lines)")
    return examples


def check_text_source(key: str, path: str) -> None:
    """For the DAG build: `path` is a file with text (UTF-8, not blank), or a folder with at
    least one .txt file that has text; else one line naming `key` and which it is not."""
    folder = Path(os.path.expanduser(path))
    if not folder.is_dir():
        text_file(key, path, TEXT_SOURCE)  # missing, empty or not UTF-8
        return
    files = _txt_files(folder)
    if not files:
        raise InputError(f"config error: {key}: {path} is a folder with no .txt file in it or "
                         f"below it ({TEXT_SOURCE})")
    for file in files:  # the first with text will do: the job reads them all
        try:
            if read_utf8(file).strip():
                return
        except InputError as err:
            raise InputError(f"config error: {key}: {err} ({TEXT_SOURCE})") from None
    raise InputError(f"config error: {key}: {path} is a folder whose {len(files)} .txt file(s) "
                     f"hold only blank lines ({TEXT_SOURCE})")


# --- datasets --------------------------------------------------------------------------------

def is_local(source: str) -> bool:
    """A local folder (anything that exists, or looks like a path), not a Hub id."""
    return (os.path.exists(os.path.expanduser(source)) or os.path.isabs(source)
            or source.startswith((".", "~")))


def _local_dataset(source: str, split: str | None):
    """The Dataset that a save_to_disk folder holds (a DatasetDict's `split`), and the
    references' prefix: the split, or "rows" for a Dataset without splits."""
    from datasets import DatasetDict, load_from_disk

    folder = os.path.expanduser(source)
    if not os.path.isdir(folder):
        missing = "not a folder" if os.path.exists(folder) else "no such folder"
        raise InputError(f"{source}: {missing} ({DATASET_SOURCE})")
    try:
        loaded = load_from_disk(folder)
    except FileNotFoundError:
        raise InputError(f"{source}: not a folder written by Dataset.save_to_disk or "
                         "DatasetDict.save_to_disk (no state.json or dataset_dict.json)") from None
    if not isinstance(loaded, DatasetDict):
        if split is not None:
            raise InputError(f"{source}: one Dataset, without splits; no split {split!r} "
                             "(leave split unset)")
        return loaded, "rows"
    splits = ", ".join(loaded)
    if split is None:
        raise InputError(f"{source}: a DatasetDict: name one of its splits ({splits})")
    if split not in loaded:
        raise InputError(f"{source}: no split {split!r} (splits: {splits})")
    return loaded[split], split


def _hub_dataset(source: str, revision: str | None, split: str | None):
    """Split `split` (None: train) of Hub dataset `source`, through the datasets cache."""
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    split = split or "train"
    try:
        return datasets.load_dataset(source, revision=revision, split=split), split
    except ConnectionError as err:  # datasets' own, and huggingface_hub's OfflineModeIsEnabled
        raise InputError(
            f"{source}: the Hugging Face Hub is unreachable ({err}); fill the datasets cache "
            "where it is reachable and run with HF_HUB_OFFLINE=1, or give a local folder "
            "written by save_to_disk") from None
    except (DatasetNotFoundError, ValueError) as err:  # no such dataset; 'Unknown split "x". ...'
        raise InputError(f"{source}: {(str(err).splitlines() or [''])[0]}") from None


def _text_column(dataset, column: str, where: str) -> None:
    """Raise InputError unless `dataset` has a string column `column`."""
    from datasets import Value

    feature = dataset.features.get(column)
    if feature is None:
        raise InputError(f"{where}: no column {column!r} (columns: {', '.join(dataset.column_names)})")
    if not (isinstance(feature, Value) and feature.dtype in ("string", "large_string")):
        first = dataset[0][column] if len(dataset) else None
        raise InputError(f"{where}: column {column!r} holds {feature}, not text "
                         f"(row 0: {str(first)[:60]!r})")


def dataset_examples(source: str, revision: str | None, split: str | None, column: str) -> list[dict]:
    """One example per row of string column `column`, rows whose text is blank (or null)
    skipped: of a folder written by Dataset.save_to_disk (`split` None) or by
    DatasetDict.save_to_disk (`split` required), or of split `split` (None: train) of Hub
    dataset `source` at `revision`. Reference `<split, or "rows">:<row index from 0>`."""
    if is_local(source):
        dataset, prefix = _local_dataset(source, split)
    else:
        dataset, prefix = _hub_dataset(source, revision, split)
    _text_column(dataset, column, f"{source} ({prefix})")
    examples = [{"reference": f"{prefix}:{index}", "text": text.strip()}
                for index, text in enumerate(dataset[column]) if text and text.strip()]
    if not examples:
        raise InputError(f"{source} ({prefix}): column {column!r} holds no text")
    return examples


def check_dataset_source(key: str, source: str, split: str | None, column: str) -> None:
    """For the DAG build: a local folder loads with load_from_disk and has the split and the
    string column; anything else must be a well-formed Hub id (not looked up: offline)."""
    if not is_local(source):
        try:
            check_hub_id(source)
        except InputError as err:  # its words name the model sources; keep its reason
            reason = str(err).split(" valid Hub id ", 1)[-1]
            raise InputError(f"config error: {key}: {source!r} is neither an existing local "
                             f"folder nor a valid Hub dataset id {reason}") from None
        return
    try:
        dataset, prefix = _local_dataset(source, split)
        _text_column(dataset, column, f"{source} ({prefix})")
    except InputError as err:
        raise InputError(f"config error: {key}: {err}") from None
