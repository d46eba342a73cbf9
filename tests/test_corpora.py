"""Corpora that are not a Bible: text files and folders, `datasets` folders and Hub ids,
read into examples, and checked before the DAG is built."""

from __future__ import annotations

import datasets
import pytest
from datasets import Dataset, DatasetDict

from bibleft.corpora import (check_dataset_source, check_text_source, dataset_examples,
                             text_examples)
from bibleft.errors import InputError

TEXT_SOURCE = "(a UTF-8 text file, or a folder of .txt files, to fine-tune on)"


def error(call, *args) -> str:
    with pytest.raises(InputError) as err:
        call(*args)
    message = str(err.value)
    assert "\n" not in message
    return message


# --- text files ------------------------------------------------------------------------------

def test_lines_of_a_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes("\ufeff  In the beginning  \n\nwas the Word.\r\n   \n\tAmen\n".encode())
    assert text_examples(str(path), "line") == [
        {"reference": "notes.txt:1", "text": "In the beginning"},
        {"reference": "notes.txt:3", "text": "was the Word."},
        {"reference": "notes.txt:5", "text": "Amen"},
    ]


def test_paragraphs_of_a_file(tmp_path):
    path = tmp_path / "essay.txt"
    path.write_text("\n\nFirst paragraph,  \n  its second line.\n\n \n\nSecond one.\nEnd", encoding="utf-8")
    assert text_examples(str(path), "paragraph") == [
        {"reference": "essay.txt:3", "text": "First paragraph,\n  its second line."},
        {"reference": "essay.txt:8", "text": "Second one.\nEnd"},
    ]


def test_a_folder_is_read_in_the_order_of_relative_paths(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "deep").mkdir()
    (tmp_path / "b.txt").write_text("bee\n", encoding="utf-8")
    (tmp_path / "a" / "z.txt").write_text("zed\n\nzed again\n", encoding="utf-8")
    (tmp_path / "a" / "deep" / "x.txt").write_text("\nex\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("ay\n", encoding="utf-8")
    (tmp_path / "readme.md").write_text("not read\n", encoding="utf-8")
    assert text_examples(str(tmp_path), "line") == [
        {"reference": "a.txt:1", "text": "ay"},
        {"reference": "a/deep/x.txt:2", "text": "ex"},
        {"reference": "a/z.txt:1", "text": "zed"},
        {"reference": "a/z.txt:3", "text": "zed again"},
        {"reference": "b.txt:1", "text": "bee"},
    ]


def test_bad_text_sources(tmp_path):
    bad = tmp_path / "corpus" / "latin1.txt"
    bad.parent.mkdir()
    bad.write_bytes("fine\nnaïve\n".encode("latin-1"))
    assert error(text_examples, str(bad.parent), "line") == f"{bad}: not UTF-8 text (byte 7)"
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\t\n", encoding="utf-8")
    assert error(text_examples, str(blank), "paragraph") == f"{blank}: no text to train on (only blank lines)"
    (tmp_path / "empty").mkdir()
    assert error(text_examples, str(tmp_path / "empty"), "line") == \
        f"{tmp_path / 'empty'}: no .txt file in this folder or below it"
    assert error(text_examples, str(tmp_path / "nowhere.txt"), "line") == \
        f"{tmp_path / 'nowhere.txt'}: no such file or folder"
    with pytest.raises(ValueError, match="unknown unit 'verse' \\(one of line, paragraph\\)"):
        text_examples(str(blank), "verse")


def test_check_text_source(tmp_path):
    key = "corpora.notes.path"
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "blank.txt").write_text("\n", encoding="utf-8")
    (tmp_path / "good" / "words.txt").write_text("words\n", encoding="utf-8")
    check_text_source(key, str(tmp_path / "good"))
    check_text_source(key, str(tmp_path / "good" / "words.txt"))

    assert error(check_text_source, key, str(tmp_path / "missing")) == \
        f"config error: {key}: {tmp_path / 'missing'} does not exist {TEXT_SOURCE}"
    assert error(check_text_source, key, str(tmp_path / "good" / "blank.txt")) == \
        f"config error: {key}: {tmp_path / 'good' / 'blank.txt'} is empty {TEXT_SOURCE}"
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "notes.md").write_text("words\n", encoding="utf-8")
    assert error(check_text_source, key, str(tmp_path / "none")) == \
        f"config error: {key}: {tmp_path / 'none'} is a folder with no .txt file in it or below it {TEXT_SOURCE}"
    (tmp_path / "blanks" / "sub").mkdir(parents=True)
    (tmp_path / "blanks" / "a.txt").write_text("", encoding="utf-8")
    (tmp_path / "blanks" / "sub" / "b.txt").write_text(" \n\n", encoding="utf-8")
    assert error(check_text_source, key, str(tmp_path / "blanks")) == \
        f"config error: {key}: {tmp_path / 'blanks'} is a folder whose 2 .txt file(s) hold only blank lines {TEXT_SOURCE}"
    (tmp_path / "blanks" / "a.txt").write_bytes(b"\xff\xfe")
    assert error(check_text_source, key, str(tmp_path / "blanks")) == \
        f"config error: {key}: {tmp_path / 'blanks' / 'a.txt'}: not UTF-8 text (byte 0) {TEXT_SOURCE}"


# --- datasets --------------------------------------------------------------------------------

ROWS = {"text": ["In the beginning", "   ", " was the Word ", None, ""], "n": [1, 2, 3, 4, 5]}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A Dataset folder and a DatasetDict folder (splits train, test), as save_to_disk writes them."""
    root = tmp_path_factory.mktemp("datasets")
    Dataset.from_dict(ROWS).save_to_disk(str(root / "plain"))
    DatasetDict({"train": Dataset.from_dict(ROWS),
                 "test": Dataset.from_dict({"text": ["Amen"], "n": [9]})}).save_to_disk(str(root / "splits"))
    return {"plain": str(root / "plain"), "splits": str(root / "splits"), "root": root}


def test_rows_of_a_saved_dataset(saved):
    assert dataset_examples(saved["plain"], None, None, "text") == [
        {"reference": "rows:0", "text": "In the beginning"},
        {"reference": "rows:2", "text": "was the Word"},
    ]
    assert dataset_examples(saved["splits"], None, "test", "text") == [{"reference": "test:0", "text": "Amen"}]
    assert dataset_examples(saved["splits"], None, "train", "text")[1] == {"reference": "train:2",
                                                                           "text": "was the Word"}


def test_bad_saved_datasets(saved):
    plain, splits = saved["plain"], saved["splits"]
    assert error(dataset_examples, splits, None, None, "text") == \
        f"{splits}: a DatasetDict: name one of its splits (train, test)"
    assert error(dataset_examples, splits, None, "validation", "text") == \
        f"{splits}: no split 'validation' (splits: train, test)"
    assert error(dataset_examples, plain, None, "train", "text") == \
        f"{plain}: one Dataset, without splits; no split 'train' (leave split unset)"
    assert error(dataset_examples, plain, None, None, "body") == f"{plain} (rows): no column 'body' (columns: text, n)"
    assert error(dataset_examples, splits, None, "test", "n") == \
        f"{splits} (test): column 'n' holds Value('int64'), not text (row 0: '9')"
    Dataset.from_dict({"text": [" ", None]}).save_to_disk(str(saved["root"] / "blank"))
    assert error(dataset_examples, str(saved["root"] / "blank"), None, None, "text") == \
        f"{saved['root'] / 'blank'} (rows): column 'text' holds no text"
    (saved["root"] / "not-a-dataset").mkdir()
    assert error(dataset_examples, str(saved["root"] / "not-a-dataset"), None, None, "text") == (
        f"{saved['root'] / 'not-a-dataset'}: not a folder written by Dataset.save_to_disk or "
        "DatasetDict.save_to_disk (no state.json or dataset_dict.json)")


def test_a_hub_dataset_is_loaded_with_its_revision_and_split(monkeypatch):
    calls = []

    def load_dataset(path, revision=None, split=None):
        calls.append((path, revision, split))
        return Dataset.from_dict({"content": ["one", "", "two"]})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    assert dataset_examples("someone/sermons", "v1.0", None, "content") == [
        {"reference": "train:0", "text": "one"}, {"reference": "train:2", "text": "two"}]
    assert dataset_examples("someone/sermons", None, "test", "content")[0]["reference"] == "test:0"
    assert calls == [("someone/sermons", "v1.0", "train"), ("someone/sermons", None, "test")]


@pytest.mark.parametrize("raised", [
    ConnectionError("Couldn't reach 'someone/sermons' on the Hub (LocalEntryNotFoundError)"),
    "offline",
])
def test_an_unreachable_hub_gives_one_line(monkeypatch, raised):
    from huggingface_hub.errors import OfflineModeIsEnabled

    if raised == "offline":
        raised = OfflineModeIsEnabled("Couldn't reach 'someone/sermons' on the Hub (LocalEntryNotFoundError)")

    def load_dataset(*args, **kwargs):
        raise raised

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    assert error(dataset_examples, "someone/sermons", None, None, "text") == (
        "someone/sermons: the Hugging Face Hub is unreachable (Couldn't reach 'someone/sermons' on "
        "the Hub (LocalEntryNotFoundError)); fill the datasets cache where it is reachable and run "
        "with HF_HUB_OFFLINE=1, or give a local folder written by save_to_disk")


def test_hub_errors_that_are_not_the_network(monkeypatch):
    from datasets.exceptions import DatasetNotFoundError

    def missing(*args, **kwargs):
        raise DatasetNotFoundError("Dataset 'someone/nothing' doesn't exist on the Hub or cannot be accessed.")

    monkeypatch.setattr(datasets, "load_dataset", missing)
    assert error(dataset_examples, "someone/nothing", None, None, "text") == \
        "someone/nothing: Dataset 'someone/nothing' doesn't exist on the Hub or cannot be accessed."

    def no_split(*args, **kwargs):
        raise ValueError("Unknown split \"dev\". Should be one of ['train', 'test'].")

    monkeypatch.setattr(datasets, "load_dataset", no_split)
    assert error(dataset_examples, "someone/sermons", None, "dev", "text") == \
        "someone/sermons: Unknown split \"dev\". Should be one of ['train', 'test']."


def test_check_dataset_source(saved, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the check must not load a Hub dataset")

    monkeypatch.setattr(datasets, "load_dataset", no_network)
    key = "corpora.mine"
    check_dataset_source(key, saved["plain"], None, "text")
    check_dataset_source(key, saved["splits"], "test", "text")
    check_dataset_source(key, "someone/sermons", None, "text")  # a Hub id: its form only

    assert error(check_dataset_source, key, saved["splits"], None, "text") == \
        f"config error: {key}: {saved['splits']}: a DatasetDict: name one of its splits (train, test)"
    assert error(check_dataset_source, key, saved["plain"], None, "body") == \
        f"config error: {key}: {saved['plain']} (rows): no column 'body' (columns: text, n)"
    assert error(check_dataset_source, key, "./missing", None, "text") == (
        f"config error: {key}: ./missing: no such folder (a folder written by save_to_disk, "
        "or a Hugging Face Hub dataset id)")
    assert error(check_dataset_source, key, "a/b/c", None, "text") == (
        f"config error: {key}: 'a/b/c' is neither an existing local folder nor a valid Hub dataset id "
        "(Repo id must be in the form 'repo_name' or 'namespace/repo_name')")
