"""Writing outputs so that an interrupted job never leaves a file that looks finished,
and fetching files with retries and checksum checks."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable, Iterator

from .errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_sibling(path: Path) -> Path:
    # Same directory as the target, so the final rename is atomic (same filesystem).
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path; rename it to `path` only if the block succeeds."""
    path = Path(path)
    tmp = _tmp_sibling(path)
    try:
        yield tmp
        # mkstemp creates the file 0600; give the result the permissions of a plain open().
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory; move it to `path` only if the block succeeds.

    Model directories are written in several steps (weights, config, tokenizer, logs);
    a job killed half-way must not leave a directory that a later run takes as done.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates the directory 0700
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise InputError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
    return out


def read_utf8(path: str | os.PathLike) -> str:
    """A text file's content, UTF-8 with or without a BOM; one line naming the file and the
    byte otherwise."""
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(path: str | os.PathLike, expected: str | None, what: str) -> None:
    if expected:
        actual = sha256_of(path)
        if actual != expected.lower():
            raise InputError(
                f"{what}: sha256 mismatch: expected {expected.lower()}, got {actual} "
                "(a changed or corrupted file; fix the source or the configured sha256)"
            )


def download(url: str, dest: str | os.PathLike, sha256: str | None = None,
             retries: int = 4, backoff_s: float = 2.0, timeout_s: float = 60.0) -> None:
    """Fetch `url` to `dest`, retrying with exponential backoff.

    The bytes land under a temporary name and are moved into place only when complete
    and, if `sha256` is given, verified.
    """
    last_err: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            with atomic_path(dest) as tmp:
                with urllib.request.urlopen(url, timeout=timeout_s) as resp, open(tmp, "wb") as fh:
                    shutil.copyfileobj(resp, fh)
                check_sha256(tmp, sha256, url)
            return
        except InputError:
            raise  # a checksum mismatch will not heal by retrying
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            last_err = err
            if attempt < retries:
                time.sleep(backoff_s * 2 ** (attempt - 1))
    raise InputError(f"could not download {url} after {retries} tries: {last_err}")


# --- what the config names outside itself: a text file, an executable ---------------------

def text_file(key: str, path: str, what: str) -> str:
    """`path` (a leading ~ expanded) when it is a file with at least one non-blank line of
    UTF-8 text; else one line naming `key`. `what` says what the file is for."""
    expanded = Path(os.path.expanduser(path))
    if not expanded.exists():
        raise InputError(f"config error: {key}: {path} does not exist ({what})")
    if not expanded.is_file():
        raise InputError(f"config error: {key}: {path} is a folder, not a file ({what})")
    try:
        text = read_utf8(expanded)
    except InputError as err:
        raise InputError(f"config error: {key}: {err} ({what})") from None
    if not text.strip():
        raise InputError(f"config error: {key}: {path} is empty ({what})")
    return str(expanded)


def executable(key: str, command: str, how_to_install: str) -> str:
    """`command` when it runs here: a path to an executable file (relative to the working
    directory) or a command on PATH; else one line naming `key` and how to install it."""
    if os.sep in command or command.startswith("."):
        if Path(command).is_file() and os.access(command, os.X_OK):
            return command
    elif shutil.which(command):
        return command
    raise InputError(f"config error: {key}: no executable {command!r} here; {how_to_install}")
