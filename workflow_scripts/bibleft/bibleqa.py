"""The BibleQA question set (Zhao et al. 2018), in its published odd format.

The file is tab-delimited CSV with quoting, a UTF-8 byte-order mark and CR-only line
ends (see shared/data/bibleqa/SOURCE.md). Each data line reads
`<n>. <question><TAB><n>. <answer> (<reference>)`.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from .errors import InputError

_NUMBERED = re.compile(r"^(?P<n>\d+)\.\s*(?P<text>.*)$", re.S)
# The verse reference is the last parenthesised group; it always holds a digit
# ("Gen 17:15", "1 Ki 3:25"). Earlier groups belong to the answer: "Abraham (Abram)".
_TRAILING_REFERENCE = re.compile(r"^(?P<answer>.*?)\s*\((?P<ref>[^()]*\d[^()]*)\)$", re.S)


def split_answer(answer_field: str) -> tuple[str, str]:
    """`Abraham (Abram) (Gen 12:1)` -> (`Abraham (Abram)`, `Gen 12:1`).

    The number prefix must already be removed. An answer without a reference is
    returned whole, with an empty reference.
    """
    text = answer_field.strip()
    match = _TRAILING_REFERENCE.match(text)
    if match is None:
        return text, ""
    return match["answer"].strip(), match["ref"].strip()


def _decode(raw: bytes, path) -> str:
    # UTF-16 with a BOM is a readable variant (a spreadsheet's "Unicode text" export).
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as err:
            raise InputError(f"{path}: broken UTF-16 text at byte {err.start}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 text (undecodable byte at offset {err.start})") from None


def parse_bibleqa(path: str | Path) -> list[dict]:
    """Records `{id, position, question, answer, reference}` in file order.

    `id` is the number the file prints (1..1001, with gaps); `position` counts the
    questions from 1 in file order, which is how the study numbers them: its "question
    155" is position 155 (id 177, Mount Sinai).

    Raises InputError naming the file and line for anything that is not the published
    format: no header, a missing column, mismatched question numbers, duplicate ids.
    """
    raw = Path(path).read_bytes()
    if not raw.strip():
        raise InputError(f"{path}: empty file (expected a 'Questions<TAB>ANSWERS' header and questions)")
    text = _decode(raw, path)
    # CR-only (old Mac) line ends: normalise before the csv module sees them.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    reader = csv.reader(io.StringIO(text), delimiter="\t")
    records: list[dict] = []
    seen: dict[int, int] = {}
    header_seen = False
    for row in reader:
        lineno = reader.line_num
        if not any(field.strip() for field in row):
            continue
        if not header_seen:
            if [f.strip().lower() for f in row[:2]] != ["questions", "answers"]:
                raise InputError(f"{path}:{lineno}: expected the header 'Questions<TAB>ANSWERS', "
                                 f"got {row[:2]!r} (is it tab-delimited?)")
            header_seen = True
            continue
        if len(row) < 2 or not row[1].strip():
            raise InputError(f"{path}:{lineno}: missing the answer column "
                             f"(expected '<n>. question<TAB><n>. answer (reference)')")
        if len(row) > 2 and any(f.strip() for f in row[2:]):
            raise InputError(f"{path}:{lineno}: {len(row)} tab-separated fields, expected 2")
        q_match = _NUMBERED.match(row[0].strip())
        a_match = _NUMBERED.match(row[1].strip())
        if q_match is None or a_match is None:
            raise InputError(f"{path}:{lineno}: both columns must start with the question number "
                             f"('<n>. ...'), got {row[0][:30]!r} / {row[1][:30]!r}")
        qid, aid = int(q_match["n"]), int(a_match["n"])
        if qid != aid:
            raise InputError(f"{path}:{lineno}: question number {qid} but answer number {aid}")
        if qid in seen:
            raise InputError(f"{path}:{lineno}: duplicate question id {qid} (first on line {seen[qid]})")
        seen[qid] = lineno
        answer, reference = split_answer(a_match["text"])
        if not answer:
            raise InputError(f"{path}:{lineno}: empty answer for question {qid}")
        if not reference:
            # Every published answer ends in its verse reference; a line without one is
            # most often a file cut off mid-line.
            raise InputError(f"{path}:{lineno}: answer of question {qid} has no trailing verse "
                             f"reference '(Book chapter:verse)'; is the file truncated?")
        records.append({"id": qid, "position": len(records) + 1, "question": q_match["text"].strip(),
                        "answer": answer, "reference": reference})
    if not header_seen:
        raise InputError(f"{path}: no header line 'Questions<TAB>ANSWERS'")
    if not records:
        raise InputError(f"{path}: header only, no questions")
    return records
