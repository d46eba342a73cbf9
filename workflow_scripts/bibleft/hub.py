"""Base models from the Hugging Face Hub, pinned and recorded, and where every base model
came from.

A Hub id is downloaded through the user's Hugging Face cache (so `HF_HUB_OFFLINE=1` with a
filled cache works, and a second project reuses the bytes), then linked into models/<slug>/
with a `provenance.json` naming the commit the requested revision resolved to: "main" today
and "main" next year are different weights.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
from pathlib import Path

from .errors import InputError
from .fileio import atomic_dir, write_json
from .modeling import check_model_dir

# Weights as safetensors only; pickle files (*.bin, *.pt) can run code when loaded.
ALLOW = ["*.json", "*.safetensors", "*.txt", "*.model", "merges.txt", "vocab.*", "tokenizer*"]
PROVENANCE = "provenance.json"
GGUF_RECORD = "gguf_source.json"  # written by gguf.convert_gguf

COMMIT = re.compile(r"^[0-9a-f]{40}$")
# A conservative subset of git's ref names (git check-ref-format): a commit hash, a branch
# or a tag such as v1.0 or refs/pr/1. The revision also becomes a file path under the
# cache's refs/, so "..", a leading "/" and shell characters are kept out.
REVISION = re.compile(r"^(?!.*(\.\.|//|@\{))[A-Za-z0-9_][A-Za-z0-9._/+-]{0,254}$")


def check_hub_id(source: str) -> None:
    """Raise InputError unless `source` (not a local path, not GGUF) is a valid Hub id."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(source)
    except HFValidationError as err:
        why = str(err).replace(f": '{source}'", "").replace(" Use `repo_type` argument if needed.", "")
        raise InputError(f"{source!r} is neither an existing local path, a .gguf file nor a valid "
                         f"Hub id ({why.rstrip('.')})") from None


def check_revision(revision: str | None) -> None:
    if revision is not None and not REVISION.match(str(revision)):
        raise InputError(f"{revision!r} is not a Hub revision: expected a commit hash, branch or tag "
                         "(letters, digits and . _ - + /), or null for the newest (main)")


def _link_or_copy(src: Path, dest: Path) -> None:
    # A hard link costs no space (GPT-2 Large is 3 GB); across file systems, or where the
    # cache belongs to someone else, copy. The cache holds symlinks into blobs/: resolve.
    try:
        os.link(src.resolve(), dest)
    except OSError:
        shutil.copy2(src, dest)


def _unreachable_errors() -> tuple[type[Exception], ...]:
    import httpx2
    from huggingface_hub.errors import (EntryNotFoundError, HfHubHTTPError, HFValidationError,
                                        OfflineModeIsEnabled)

    return (EntryNotFoundError, HfHubHTTPError, HFValidationError, OfflineModeIsEnabled, httpx2.HTTPError)


def _gist(err: Exception, revision: str) -> str:
    """What went wrong, in one line (the library's messages run to several)."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import (GatedRepoError, LocalEntryNotFoundError, OfflineModeIsEnabled,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    cause = err.__cause__
    if isinstance(err, LocalEntryNotFoundError) and (isinstance(cause, OfflineModeIsEnabled)
                                                      or constants.is_offline_mode()):
        return (f"offline (HF_HUB_OFFLINE is set) and the Hugging Face cache {constants.HF_HUB_CACHE} "
                "holds no complete copy")
    if isinstance(err, GatedRepoError):
        return "the repository is gated: accept its terms on the Hub and log in (`hf auth login`)"
    if isinstance(err, RepositoryNotFoundError):
        return "no such repository on the Hub (or it is private: log in with `hf auth login`)"
    if isinstance(err, RevisionNotFoundError):
        return f"the repository has no revision {revision!r}"
    if isinstance(err, LocalEntryNotFoundError) and cause is not None:
        err = cause  # "Got: ConnectError: ..." and three lines of advice: keep the cause
    first = (str(err).strip().splitlines() or [""])[0][:200]
    if isinstance(err, httpx2.TransportError):  # refused, timed out, no route, DNS, proxy
        return f"{constants.ENDPOINT} cannot be reached ({type(err).__name__}: {first})"
    return f"{type(err).__name__}: {first}"


def download_model(source: str, revision: str | None, out_dir: str | os.PathLike) -> dict:
    """Fetch Hub model `source` at `revision` (None: main) into `out_dir` (models/<slug>)
    with a provenance.json; return that record. Atomic: a failure leaves no `out_dir`."""
    import huggingface_hub

    slug = Path(out_dir).name  # the rule's output is models/<slug>
    wanted = revision or "main"
    try:
        # No local_dir: the cache keeps refs/<revision> -> commit, which is what lets a
        # branch or tag resolve offline, and names the snapshot folder by its commit.
        snapshot = Path(huggingface_hub.snapshot_download(repo_id=source, revision=revision,
                                                          allow_patterns=ALLOW))
    except _unreachable_errors() as err:
        raise InputError(
            f"model {slug}: cannot fetch {source} at revision {wanted} from the Hugging Face Hub: "
            f"{_gist(err, wanted)}; set models.{slug}.source to a local model directory, or fill the "
            "cache where the Hub is reachable and run with HF_HUB_OFFLINE=1") from None
    commit = snapshot.name
    if not COMMIT.match(commit):
        raise RuntimeError(f"huggingface_hub returned {snapshot}, not a snapshots/<commit> folder")
    record = {
        "kind": "hub", "source": source, "revision": revision, "commit": commit,
        "downloaded_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "huggingface_hub": huggingface_hub.__version__,
    }
    with atomic_dir(out_dir) as tmp:
        for path in sorted(snapshot.rglob("*")):
            if path.is_file():  # follows the cache's symlinks
                dest = tmp / path.relative_to(snapshot)
                dest.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(path, dest)
        write_json(tmp / PROVENANCE, record)
        check_model_dir(tmp)
    return record


def model_provenance(model_dir: str | os.PathLike) -> dict:
    """Where the base model in `model_dir` came from, as far as is known: the Hub record
    (kind, source, revision, commit, ...), the GGUF record (kind, source = the .gguf file,
    sha256, ...), for a full fine-tune's checkpoint {"kind": "fine-tune", "source": <its
    path>, "base_model": <its base model's record>}, or for a plain local directory
    {"kind": "local", "source": <its path>}."""
    model_dir = Path(model_dir)
    summary = model_dir / "train_summary.json"  # written by finetune.py beside the weights
    if summary.is_file():
        base = json.loads(summary.read_text(encoding="utf-8")).get("base_model")
        if base is not None:
            return {"kind": "fine-tune", "source": str(model_dir.expanduser().resolve()),
                    "base_model": base}
    if (model_dir / PROVENANCE).is_file():
        return json.loads((model_dir / PROVENANCE).read_text(encoding="utf-8"))
    if (model_dir / GGUF_RECORD).is_file():
        record = json.loads((model_dir / GGUF_RECORD).read_text(encoding="utf-8"))
        return {"kind": "gguf", "source": record.get("file"), **record}
    return {"kind": "local", "source": str(model_dir.expanduser().resolve())}
