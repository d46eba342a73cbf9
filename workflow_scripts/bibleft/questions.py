"""Question sets other than BibleQA: a local table of questions and their short answers.

A `.jsonl` file (one JSON object per line), or a `.csv` (comma) or `.tsv` (tab) file with a
header row, holds a question column and an answer column, and optionally a column of other
right answers: in JSONL a list of strings or one string, in CSV one string; a string holds
the alternatives separated by " | ". An `id` column, when there is one, numbers the
questions; else their position does. Records are BibleQA's without the verse reference:
`{id, position, question, answer}`, and `alternatives` (a list) when that column is named.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from .errors import InputError
from .fileio import read_utf8, text_file
from .sections import (NonEmpty, NonNegInt, Number, Section, Sha256, Slug, config_error,
                       kind_union)

DELIMITERS = {".jsonl": None, ".csv": ",", ".tsv": "\t"}  # None: JSON lines
SEPARATOR = "|"  # between alternatives in one string: "Sarah | Sarai"
WHAT = "the questions to ask: a .jsonl, .csv or .tsv file"
# BibleQA's published file (Zhao et al. 2018), pinned to a commit, and its checksum.
BIBLEQA_URL = ("https://raw.githubusercontent.com/helen-jiahe-zhao/BibleQA/"
               "fd031b365a2b8e3d5a7cd15a797d2f5c58500d19/data/bible_qa/1001.csv")
BIBLEQA_SHA256 = "31d7ca257240c7bc19e7fc313cca685fb4020e5fe8ee1b7cabef00c74318f1bb"
_INT = re.compile(r"^(0|-?[1-9][0-9]*)$")  # "12" is the id 12; "012" and "q12" stay text


def _jsonl_rows(path: str, text: str) -> list[tuple[int, dict]]:
    rows = []
    for line, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{line}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise InputError(f"{path}:{line}: a JSON {type(row).__name__}, not an object "
                             '{"question": ..., "answer": ...}')
        rows.append((line, row))
    return rows


class MissingColumn(InputError):
    """A column the config names that the whole table lacks: the error names the key of
    that column (questions.<name>.reference), not the file's."""

    def __init__(self, message: str, column: str):
        super().__init__(message)
        self.column = column


def _table_rows(path: str, text: str, delimiter: str, needed: dict[str, str]) -> list[tuple[int, dict]]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # spreadsheets' CR-only lines too
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header, rows = None, []
    for fields in reader:
        if not any(field.strip() for field in fields):
            continue
        if header is None:
            header = [field.strip() for field in fields]
            for column, name in needed.items():
                if name not in header:
                    raise MissingColumn(f"{path}:{reader.line_num}: no column {name!r} "
                                        f"(columns: {', '.join(header)})", column)
            continue
        extra = fields[len(header):]
        if len(fields) < len(header) or any(field.strip() for field in extra):
            raise InputError(f"{path}:{reader.line_num}: {len(fields)} fields, the header has "
                             f"{len(header)} (a field holding {delimiter!r} must be in double quotes)")
        rows.append((reader.line_num, dict(zip(header, fields))))
    if not rows:
        raise InputError(f"{path}: a header row and no questions")
    return rows


def _text(value, where: str, name: str) -> str:
    """A cell as text: a string stripped, a number written out, null empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise InputError(f"{where}: {name!r} is a JSON {type(value).__name__}, not text")


def _alternatives(value, where: str, name: str) -> list[str]:
    """A list of strings, or one string with the alternatives between "|"; null or "" none."""
    if value is None or isinstance(value, str):
        value = (value or "").split(SEPARATOR)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise InputError(f"{where}: {name!r} must be a list of strings or one string with ' | ' "
                     f"between alternatives, got {json.dumps(value)[:60]}")


def _id(value, where: str) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise InputError(f"{where}: the id must be a number or text, got {json.dumps(value)}")
    if not value.strip():
        raise InputError(f"{where}: empty id")
    return int(value) if _INT.match(value.strip()) else value.strip()


def read_question_table(path: str, question: str = "question", answer: str = "answer",
                        alternatives: str | None = None, reference: str | None = None,
                        group: str | None = None) -> list[dict]:
    """Records `{id, position, question, answer[, alternatives][, reference][, group]}` of a
    .jsonl, .csv or .tsv file (UTF-8, with or without a BOM), in file order; `position`
    counts from 1, `id` is the file's `id` (an int where it reads as one) or else the
    position; `reference` (the example the answer comes from, text; "" where a row has none)
    and `group` (what a split keeps together, text) when those columns are named.

    Raises InputError naming the file and line: not JSON, not an object, a missing column,
    an empty question or answer, an id on some lines only, a duplicate id, alternatives that
    are not strings, a file without questions, or a suffix other than those three."""
    file = Path(os.path.expanduser(path))
    suffix = file.suffix.lower()
    if suffix not in DELIMITERS:
        raise InputError(f"{path}: a {suffix or 'suffix-less'} file; question tables are read "
                         f"from {', '.join(DELIMITERS)} files")
    if not file.is_file():
        raise InputError(f"{path}: no such file")
    text = read_utf8(file)
    if not text.strip():
        raise InputError(f"{path}: empty file (expected questions with {question!r} and {answer!r})")
    needed = {column: name for column, name in (("question", question), ("answer", answer),
                                                ("alternatives", alternatives),
                                                ("reference", reference), ("split.by", group))
              if name}
    delimiter = DELIMITERS[suffix]
    rows = _jsonl_rows(path, text) if delimiter is None else _table_rows(path, text, delimiter, needed)

    records, seen, first = [], {}, None
    for line, row in rows:
        where = f"{path}:{line}"
        for name in (question, answer):
            if name not in row:
                raise InputError(f"{where}: no key {name!r} (keys: {', '.join(row) or 'none'})")
        record = {"id": None, "position": len(records) + 1}
        for name, field in ((question, "question"), (answer, "answer")):
            record[field] = _text(row[name], where, name)
            if not record[field]:
                raise InputError(f"{where}: empty {field} ({name!r})")
        if alternatives:
            record["alternatives"] = _alternatives(row.get(alternatives), where, alternatives)
        if reference:
            record["reference"] = _text(row.get(reference), where, reference)
        if group:
            record["group"] = _text(row.get(group), where, group)
        first = first or (line, "id" in row)
        if ("id" in row) != first[1]:
            raise InputError(f"{where}: {'no' if first[1] else 'an'} 'id' here, but line {first[0]} "
                             f"has {'one' if first[1] else 'none'} (give every question an id, or none)")
        record["id"] = _id(row["id"], where) if "id" in row else record["position"]
        if record["id"] in seen:
            raise InputError(f"{where}: duplicate id {record['id']} (first on line {seen[record['id']]})")
        seen[record["id"]] = line
        records.append(record)
    for name, what in ((alternatives, "alternatives"), (reference, "reference"), (group, "split.by")):
        if name and delimiter is None and not any(name in row for _, row in rows):
            raise MissingColumn(f"{path}: no line has the key {name!r} (the {what} column)", what)
    return records


def check_question_file(entry: str, path: str, question: str, answer: str,
                        alternatives: str | None, reference: str | None = None,
                        group: str | None = None) -> list[dict]:
    """For the DAG build: the file exists and reads as a question table (its records);
    else one line `config error: <key>: <what is wrong>`, the key being `entry`'s (e.g.
    questions.quiz) `.path`, or the key of a column the whole table lacks (`.reference`)."""
    text_file(f"{entry}.path", path, WHAT)
    try:
        return read_question_table(path, question, answer, alternatives, reference, group)
    except MissingColumn as err:
        raise InputError(f"config error: {entry}.{err.column}: {err}") from None
    except InputError as err:
        raise InputError(f"config error: {entry}.path: {err}") from None


# --- a held-out split ---------------------------------------------------------------------

class Split(Section):
    """A held-out split of a question set: a share of its groups (a question, a facts
    person, a table's row or value of a column) is held out, never trained on, and every
    table reports it as the headline, the trained part beside it."""

    held_out: Annotated[Number, Field(gt=0, lt=1)]
    """the share of the groups held out, drawn at random with `seed`"""
    seed: NonNegInt = 0
    """the draw's seed: the same seed, share and questions give the same split"""
    by: str | None = None
    """table: the column whose value groups questions (a group's questions all on one side);
    null = by row. BibleQA splits by question, facts by person"""


HELD_OUT, TRAINED = "held_out", "trained"
PARTS = (HELD_OUT, TRAINED)  # the headline first


def split_groups(groups: list, held_out: float, seed: int) -> set:
    """The groups held out: a `held_out` share of the distinct `groups` (at least one, and
    one left to train on), drawn by a random.Random(seed) shuffle of them in first-seen
    order."""
    import random

    distinct = list(dict.fromkeys(groups))
    if len(distinct) < 2:
        raise InputError(f"a split needs two groups of questions or more; there are {len(distinct)}")
    random.Random(seed).shuffle(distinct)
    return set(distinct[:min(len(distinct) - 1, max(1, round(held_out * len(distinct))))])


def split_file(records: list[dict], group_of, split: Split) -> dict:
    """What data/questions/<name>.split.json holds: the split's settings, and each part's
    groups and question ids, in file order."""
    groups = [group_of(r) for r in records]
    held = split_groups(groups, split.held_out, split.seed)

    def part_of(group) -> str:
        return HELD_OUT if group in held else TRAINED

    return {**split.as_dict(),
            "groups": {part: list(dict.fromkeys(g for g in groups if part_of(g) == part))
                       for part in PARTS},
            "ids": {part: [r["id"] for r, g in zip(records, groups) if part_of(g) == part]
                    for part in PARTS}}


# --- the kinds of question set: each its keys, its inputs, its records and its checks ------

class _QuestionSet(Section):
    """What every kind of question set answers, the DAG and the jobs alike. Its `split`
    (None: none) holds some of its questions out of training; `group` says how they group."""

    split: Split | None = None
    """a held-out split (held_out, seed, by); null = none: every output as without one, and
    no recipe may train on these questions"""

    def group(self, record: dict):
        """The group a record's question is split with: the question itself."""
        return record["id"]

    @model_validator(mode="after")
    def _groups_by_what_it_has(self):
        if self.split is not None and self.split.by is not None and self.kind != "table":
            raise config_error(f"a {self.kind} question set is split by "
                               f"{'person' if self.kind == 'facts' else 'question'}; `by` names a "
                               "table's column", "split.by")
        return self

    def record_inputs(self, raw_file: str) -> dict:
        """What its records job reads (`raw_file`: where rule bibleqa_raw puts a download)."""
        return {}

    def records_options(self, corpora: dict) -> dict:
        """Its records job's params: the entry without its split, which the records do not
        depend on (`corpora`: the registry, for a set generated from a corpus's keys, so that
        their change regenerates it)."""
        return {"questions": self.model_dump(exclude={"split"})}

    def read_records(self, inputs, options: dict) -> list[dict]:
        """Its records, `{id, position, question, answer, ...}` each, from its job's inputs
        (record_inputs) and params (records_options)."""
        raise NotImplementedError

    def preflight(self, key: str) -> None:
        """Before any job: what the entry names outside the config is there."""

    def references(self, key: str) -> list[str] | None:
        """The values of its reference column (None: it has none to check against a book)."""
        return None


class BibleQAQuestions(_QuestionSet):
    """BibleQA's published 1001.csv, downloaded at a pinned commit and checked, or a local copy."""

    kind: Literal["bibleqa"]
    url: str = BIBLEQA_URL
    """bibleqa: where to download it (unless path is set): the published file, pinned to a commit"""
    sha256: Sha256 | None = BIBLEQA_SHA256
    """bibleqa: the download's checksum; null = not checked"""
    path: str | None = None
    """bibleqa: a local copy of 1001.csv, read instead of the download; null downloads it"""

    def record_inputs(self, raw_file: str) -> dict:
        return {"raw": raw_file}

    def preflight(self, key: str) -> None:
        if self.path:
            text_file(f"{key}.path", self.path, "a local copy of BibleQA's 1001.csv, read instead "
                                                "of the download; null downloads it")

    def read_records(self, inputs, options: dict) -> list[dict]:
        from .bibleqa import parse_bibleqa

        return parse_bibleqa(inputs.raw)


class TableQuestions(_QuestionSet):
    """A local .jsonl, .csv or .tsv file with question and answer columns."""

    kind: Literal["table"]
    path: NonEmpty
    """table: the file"""
    question: NonEmpty = "question"
    """table: the question column"""
    answer: NonEmpty = "answer"
    """table: the short answer column"""
    alternatives: str | None = None
    """table: a column of other right answers (a list, or texts separated by ' | '); null = none"""
    reference: str | None = None
    """table: a column naming the corpus example each answer comes from (its reference: `Genesis
    17:15` or `Gen 17:15` for a Bible, `<file>:<line>` for a text), for open book's retrieval
    recall; null = none"""

    REQUIRED: ClassVar[dict[str, str]] = {"path": "a table question set needs one"}

    def record_inputs(self, raw_file: str) -> dict:
        return {"table": os.path.expanduser(self.path)}

    def _records(self, key: str) -> list[dict]:
        return check_question_file(key, self.path, self.question, self.answer,
                                   self.alternatives, self.reference, self._by())

    def _by(self) -> str | None:
        return self.split.by if self.split else None

    def group(self, record: dict):
        """By row, or by the value of the split's `by` column."""
        return record["group"] if self._by() else record["id"]

    def records_options(self, corpora: dict) -> dict:
        options = super().records_options(corpora)
        return {**options, "group": self._by()} if self._by() else options

    def preflight(self, key: str) -> None:
        self._records(key)

    def references(self, key: str) -> list[str] | None:
        if not self.reference:
            return None
        values = [r["reference"] for r in self._records(key) if r.get("reference")]
        if not values:
            raise InputError(f"config error: {key}.reference: column {self.reference!r} is "
                             f"empty in every row of {self.path}: it names no example")
        return values

    def read_records(self, inputs, options: dict) -> list[dict]:
        return read_question_table(inputs.table, self.question, self.answer, self.alternatives,
                                   self.reference, options.get("group"))


class FactsQuestions(_QuestionSet):
    """The questions about a facts corpus, generated with it: one per fact."""

    kind: Literal["facts"]
    corpus: Slug
    """facts: the facts corpus (an entry of `corpora` of kind facts) whose people the questions ask
    about: one question per fact, from the same seed and count"""

    REQUIRED: ClassVar[dict[str, str]] = {
        "corpus": "a facts question set names the facts corpus it asks about"}

    def records_options(self, corpora: dict) -> dict:
        return {**super().records_options(corpora), "facts": corpora[self.corpus].source_options()}

    def group(self, record: dict):
        """By person: all of a person's questions on one side, so a held-out person's facts
        reach a fine-tune only through the text."""
        return record["reference"]

    def read_records(self, inputs, options: dict) -> list[dict]:
        from . import facts

        return facts.questions(options["facts"]["seed"], options["facts"]["count"])


KINDS = (BibleQAQuestions, TableQuestions, FactsQuestions)
QuestionSet = kind_union(*KINDS)


def question_set_of(options: dict):
    """A question set entry from its mapping (a job's params), typed again."""
    from pydantic import TypeAdapter

    return TypeAdapter(QuestionSet).validate_python(options)
