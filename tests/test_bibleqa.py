"""Parsing the BibleQA file in its published format."""

import json
from pathlib import Path

import pytest

from bibleft.bibleqa import parse_bibleqa, split_answer
from fixtures import BIBLEQA_LINES, write_bibleqa

PUBLISHED = Path(__file__).resolve().parents[2] / "shared" / "data" / "bibleqa" / "1001.csv"


@pytest.mark.parametrize("field, answer, reference", [
    ("Sarah (Gen 17:15)", "Sarah", "Gen 17:15"),
    ("Abraham (Abram) (Gen 12:1)", "Abraham (Abram)", "Gen 12:1"),
    ("Threatened to divide the child (with a sword) (1 Ki 3:25)",
     "Threatened to divide the child (with a sword)", "1 Ki 3:25"),
    ("Harp / Lyre (1 Sam 16:23)", "Harp / Lyre", "1 Sam 16:23"),
    ("Mt. Sinai (Exo 34:32) ", "Mt. Sinai", "Exo 34:32"),
])
def test_split_answer(field, answer, reference):
    assert split_answer(field) == (answer, reference)


def test_parse_published_format(tmp_path):
    records = parse_bibleqa(write_bibleqa(tmp_path / "qa.csv"))
    assert len(records) == len(BIBLEQA_LINES) - 1
    by_id = {r["id"]: r for r in records}
    assert by_id[66] == {"id": 66, "position": 7, "question": "What was the name of Abraham's first wife?",
                         "answer": "Sarah", "reference": "Gen 17:15"}
    assert [r["position"] for r in records] == list(range(1, len(records) + 1))
    assert by_id[155]["answer"] == "Abraham (Abram)"
    assert by_id[56]["question"] == 'Who did Jesus say was the "father of lies"?'
    assert by_id[73]["answer"] == "Mt. Sinai"  # trailing space in the file
    assert [r["id"] for r in records] == [int(line.split(".")[0].strip('"')) for line in BIBLEQA_LINES[1:]]


@pytest.mark.parametrize("newline", ["\r", "\n", "\r\n"])
def test_line_endings_do_not_matter(tmp_path, newline):
    records = parse_bibleqa(write_bibleqa(tmp_path / "qa.csv", newline=newline))
    assert len(records) == len(BIBLEQA_LINES) - 1


@pytest.mark.skipif(not PUBLISHED.is_file(), reason=f"published file not at {PUBLISHED}")
def test_published_file_gives_886_records():
    records = parse_bibleqa(PUBLISHED)
    assert len(records) == 886
    by_id = {r["id"]: r for r in records}
    assert by_id[66]["answer"] == "Sarah"
    assert by_id[177]["answer"] == "Mount Sinai"
    assert records[154]["answer"] == "Mount Sinai"  # the study's question 155, 1-based
    by_position = {r["position"]: r for r in records}
    assert by_position[155]["id"] == 177
    # The study's five false positives, by its numbering: ids that differ from positions.
    assert [by_position[p]["id"] for p in (37, 63, 100, 652, 711)] != [37, 63, 100, 652, 711]
    assert by_id[56]["question"] == 'Who did Jesus say was the "father of lies"?'
    assert all(r["reference"] for r in records)
    assert len({r["id"] for r in records}) == 886
    json.dumps(records)  # serialisable as the jsonl records
