"""Question sets that are not BibleQA: JSONL, CSV and TSV tables of questions and answers,
read into records, and checked before the DAG is built."""

from __future__ import annotations

import pytest

from bibleft.errors import InputError
from bibleft.questions import check_question_file, read_question_table

WHAT = "(the questions to ask: a .jsonl, .csv or .tsv file)"


def write(tmp_path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def error(tmp_path, name: str, text: str, **columns) -> str:
    path = write(tmp_path, name, text)
    with pytest.raises(InputError) as err:
        read_question_table(path, **columns)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}")
    return message[len(path):]


def test_jsonl(tmp_path):
    path = write(tmp_path, "qa.jsonl",
                 '{"question": " Who was Abraham\'s wife? ", "answer": "Sarah", "alternatives": ["Sarai"]}\n'
                 "\n"
                 '{"question": "How many tribes?", "answer": 12, "alternatives": "twelve | XII"}\n'
                 '{"question": "Where was the law given?", "answer": "Mount Sinai"}\n')
    assert read_question_table(path, alternatives="alternatives") == [
        {"id": 1, "position": 1, "question": "Who was Abraham's wife?", "answer": "Sarah",
         "alternatives": ["Sarai"]},
        {"id": 2, "position": 2, "question": "How many tribes?", "answer": "12",
         "alternatives": ["twelve", "XII"]},
        {"id": 3, "position": 3, "question": "Where was the law given?", "answer": "Mount Sinai",
         "alternatives": []},
    ]
    assert read_question_table(path)[0] == {"id": 1, "position": 1, "question": "Who was Abraham's wife?",
                                            "answer": "Sarah"}


def test_csv_with_ids_and_named_columns(tmp_path):
    path = write(tmp_path, "qa.csv",
                 "\ufeffid,Q,A,other\r\n"
                 '7,"Who built the ark?",Noah,\r\n'
                 'q2,"Who was Abraham\'s wife, first?",Sarah,Sarai | Princess\r\n'
                 '012,"Who slew Goliath?",David,\r\n')
    assert read_question_table(path, question="Q", answer="A", alternatives="other") == [
        {"id": 7, "position": 1, "question": "Who built the ark?", "answer": "Noah", "alternatives": []},
        {"id": "q2", "position": 2, "question": "Who was Abraham's wife, first?", "answer": "Sarah",
         "alternatives": ["Sarai", "Princess"]},
        {"id": "012", "position": 3, "question": "Who slew Goliath?", "answer": "David", "alternatives": []},
    ]


def test_tsv(tmp_path):
    path = write(tmp_path, "qa.TSV", "question\tanswer\nWho built the ark?\tNoah\n\nWho was first?\tAdam\n")
    assert read_question_table(path) == [
        {"id": 1, "position": 1, "question": "Who built the ark?", "answer": "Noah"},
        {"id": 2, "position": 2, "question": "Who was first?", "answer": "Adam"},
    ]


def test_jsonl_ids(tmp_path):
    path = write(tmp_path, "qa.jsonl", '{"id": 5, "question": "a?", "answer": "b"}\n'
                                       '{"id": "10", "question": "c?", "answer": "d"}\n'
                                       '{"id": "x-1", "question": "e?", "answer": "f"}\n')
    assert [r["id"] for r in read_question_table(path)] == [5, 10, "x-1"]


@pytest.mark.parametrize("text, message", [
    ('{"question": "a?", "answer": "b"}\n{"question": "c?", "answer": }\n', ":2: not valid JSON (Expecting value)"),
    ('["a?", "b"]\n', ':1: a JSON list, not an object {"question": ..., "answer": ...}'),
    ('{"question": "a?", "answer": "b"}\n{"q": "c?", "answer": "d"}\n', ":2: no key 'question' (keys: q, answer)"),
    ('{"question": "a?", "answer": "  "}\n', ":1: empty answer ('answer')"),
    ('{"question": null, "answer": "b"}\n', ":1: empty question ('question')"),
    ('{"question": ["a?"], "answer": "b"}\n', ":1: 'question' is a JSON list, not text"),
    ('{"id": 1, "question": "a?", "answer": "b"}\n{"id": "1", "question": "c?", "answer": "d"}\n',
     ":2: duplicate id 1 (first on line 1)"),
    ('{"id": 1, "question": "a?", "answer": "b"}\n{"question": "c?", "answer": "d"}\n',
     ":2: no 'id' here, but line 1 has one (give every question an id, or none)"),
    ('{"question": "a?", "answer": "b"}\n{"id": 2, "question": "c?", "answer": "d"}\n',
     ":2: an 'id' here, but line 1 has none (give every question an id, or none)"),
    ('{"id": " ", "question": "a?", "answer": "b"}\n', ":1: empty id"),
    ('{"id": 1.5, "question": "a?", "answer": "b"}\n', ":1: the id must be a number or text, got 1.5"),
    ("\n \n", ": empty file (expected questions with 'question' and 'answer')"),
])
def test_bad_jsonl(tmp_path, text, message):
    assert error(tmp_path, "qa.jsonl", text) == message


@pytest.mark.parametrize("text, message", [
    ('{"question": "a?", "answer": "b", "alts": [1, 2]}\n',
     ":1: 'alts' must be a list of strings or one string with ' | ' between alternatives, got [1, 2]"),
    ('{"question": "a?", "answer": "b", "alts": {"x": "y"}}\n',
     ":1: 'alts' must be a list of strings or one string with ' | ' between alternatives, got {\"x\": \"y\"}"),
    ('{"question": "a?", "answer": "b", "alternatives": ["c"]}\n', ": no line has the key 'alts' (the alternatives column)"),
])
def test_bad_jsonl_alternatives(tmp_path, text, message):
    assert error(tmp_path, "qa.jsonl", text, alternatives="alts") == message


@pytest.mark.parametrize("text, columns, message", [
    ("id,question,reply\n1,a?,b\n", {}, ":1: no column 'answer' (columns: id, question, reply)"),
    ("question,answer\n", {}, ": a header row and no questions"),
    ("\nquestion,answer\n\na?,b\nWho was it?,Sarah, the princess\n", {},
     ":5: 3 fields, the header has 2 (a field holding ',' must be in double quotes)"),
    ("question,answer,alts\na?,b\n", {}, ":2: 2 fields, the header has 3 (a field holding ',' must be in double quotes)"),
    ("question,answer\na?,\n", {}, ":2: empty answer ('answer')"),
    ("id,question,answer\n1,a?,b\n01,c?,d\n1,e?,f\n", {}, ":4: duplicate id 1 (first on line 2)"),
    ("id,question,answer\n1,a?,b\n,c?,d\n", {}, ":3: empty id"),
    ("question,answer\na?,b\n", {"alternatives": "alts"}, ":1: no column 'alts' (columns: question, answer)"),
])
def test_bad_csv(tmp_path, text, columns, message):
    assert error(tmp_path, "qa.csv", text, **columns) == message


def test_trailing_empty_fields_are_no_extra_columns(tmp_path):
    path = write(tmp_path, "qa.csv", "question,answer\na?,b,,\n")
    assert read_question_table(path) == [{"id": 1, "position": 1, "question": "a?", "answer": "b"}]


def test_other_files(tmp_path):
    assert error(tmp_path, "qa.json", '[{"question": "a?", "answer": "b"}]') == \
        ": a .json file; question tables are read from .jsonl, .csv, .tsv files"
    assert error(tmp_path, "questions", "question,answer\n") == \
        ": a suffix-less file; question tables are read from .jsonl, .csv, .tsv files"
    latin = write(tmp_path, "latin.csv", "question,answer\nna\u00efve?,yes\n", encoding="latin-1")
    with pytest.raises(InputError, match=r"latin\.csv: not UTF-8 text \(byte 18\)$"):
        read_question_table(latin)
    with pytest.raises(InputError, match=r"missing\.csv: no such file$"):
        read_question_table(str(tmp_path / "missing.csv"))


def test_check_question_file(tmp_path):
    entry = "questions.mine"
    key = f"{entry}.path"
    good = write(tmp_path, "qa.csv", "question,answer\na?,b\n")
    check_question_file(entry, good, "question", "answer", None)

    # A column the whole table lacks is named by that column's key.
    with pytest.raises(InputError) as err:
        check_question_file(entry, good, "question", "reply", None)
    assert str(err.value) == f"config error: {entry}.answer: {good}:1: no column 'reply' (columns: question, answer)"
    with pytest.raises(InputError) as err:
        check_question_file(entry, good, "question", "answer", None, reference="verse")
    assert str(err.value) == f"config error: {entry}.reference: {good}:1: no column 'verse' (columns: question, answer)"
    table = write(tmp_path, "qa.jsonl", '{"question": "a?", "answer": "b"}\n')
    with pytest.raises(InputError) as err:
        check_question_file(entry, table, "question", "answer", None, reference="verse")
    assert str(err.value) == f"config error: {entry}.reference: {table}: no line has the key 'verse' (the reference column)"
    # File problems are named by the entry's path key.
    with pytest.raises(InputError) as err:
        check_question_file(entry, str(tmp_path / "none.csv"), "question", "answer", None)
    assert str(err.value) == f"config error: {key}: {tmp_path / 'none.csv'} does not exist {WHAT}"
    with pytest.raises(InputError) as err:
        check_question_file(entry, str(tmp_path), "question", "answer", None)
    assert str(err.value) == f"config error: {key}: {tmp_path} is a folder, not a file {WHAT}"
    empty = write(tmp_path, "empty.jsonl", "\n")
    with pytest.raises(InputError) as err:
        check_question_file(entry, empty, "question", "answer", None)
    assert str(err.value) == f"config error: {key}: {empty} is empty {WHAT}"
