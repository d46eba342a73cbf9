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

from .errors import InputError
from .fileio import read_utf8
from .preflight import text_file

DELIMITERS = {".jsonl": None, ".csv": ",", ".tsv": "\t"}  # None: JSON lines
SEPARATOR = "|"  # between alternatives in one string: "Sarah | Sarai"
WHAT = "the questions to ask: a .jsonl, .csv or .tsv file"
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


def _table_rows(path: str, text: str, delimiter: str, needed: list[str]) -> list[tuple[int, dict]]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # spreadsheets' CR-only lines too
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header, rows = None, []
    for fields in reader:
        if not any(field.strip() for field in fields):
            continue
        if header is None:
            header = [field.strip() for field in fields]
            for name in needed:
                if name not in header:
                    raise InputError(f"{path}:{reader.line_num}: no column {name!r} "
                                     f"(columns: {', '.join(header)})")
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
                        alternatives: str | None = None, reference: str | None = None) -> list[dict]:
    """Records `{id, position, question, answer[, alternatives][, reference]}` of a .jsonl,
    .csv or .tsv file (UTF-8, with or without a BOM), in file order; `position` counts from
    1, `id` is the file's `id` (an int where it reads as one) or else the position;
    `reference` (the example the answer comes from, text; "" where a row has none) when that
    column is named.

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
    needed = [question, answer] + [name for name in (alternatives, reference) if name]
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
        first = first or (line, "id" in row)
        if ("id" in row) != first[1]:
            raise InputError(f"{where}: {'no' if first[1] else 'an'} 'id' here, but line {first[0]} "
                             f"has {'one' if first[1] else 'none'} (give every question an id, or none)")
        record["id"] = _id(row["id"], where) if "id" in row else record["position"]
        if record["id"] in seen:
            raise InputError(f"{where}: duplicate id {record['id']} (first on line {seen[record['id']]})")
        seen[record["id"]] = line
        records.append(record)
    for name, what in ((alternatives, "alternatives"), (reference, "reference")):
        if name and delimiter is None and not any(name in row for _, row in rows):
            raise InputError(f"{path}: no line has the key {name!r} (the {what} column)")
    return records


def check_question_file(key: str, path: str, question: str, answer: str,
                        alternatives: str | None, reference: str | None = None) -> list[dict]:
    """For the DAG build: the file exists and reads as a question table (its records);
    else one line `config error: <key>: <what is wrong>`."""
    text_file(key, path, WHAT)
    try:
        return read_question_table(path, question, answer, alternatives, reference)
    except InputError as err:
        raise InputError(f"config error: {key}: {err}") from None
