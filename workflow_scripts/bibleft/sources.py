"""Where a base model comes from, and the checks a source passes before any job runs.

A `models.<slug>.source` is one of three kinds:
- `gguf`: `gguf:<package>` or a path ending in `.gguf`, converted once into models/<slug>/;
- `hub`: a Hugging Face Hub id ("name" or "org/name"), downloaded once into models/<slug>/;
- `local`: a directory that holds the model already (anything that exists, or looks like a
  path: absolute, ./, ../, ~).
"""

from __future__ import annotations

import os

from .errors import InputError
from .gguf import check_gguf_source, is_gguf_source
from .hub import check_hub_id, check_revision
from .modeling import check_model_dir

KINDS = ("gguf", "hub", "local")


def source_kind(source: str) -> str:
    """`gguf`, `hub` or `local` (see the module's docstring)."""
    if is_gguf_source(source):
        return "gguf"
    if os.path.exists(source) or os.path.isabs(source) or source.startswith((".", "~")):
        return "local"
    return "hub"


def model_dir(source: str, prepared_dir: str) -> str:
    """The directory the jobs load the base model from: a local source itself, else
    `prepared_dir` (models/<slug>/), which rule prepare_model fills."""
    return os.path.expanduser(source) if source_kind(source) == "local" else prepared_dir


def check_model_entry(slug: str, source: str, revision: str | None, prepared_dir: str) -> None:
    """Raise InputError naming the key when a model cannot be used: a local directory that
    is missing, has no weights or only pickle weights; a malformed Hub id or revision; a
    GGUF package that is not installed or a .gguf path that is no file. Cheap and offline,
    so the workflow runs it before it schedules any job."""
    try:
        kind = source_kind(source)
        if kind == "local":
            check_model_dir(model_dir(source, prepared_dir))
        elif kind == "hub":
            check_hub_id(source)
        elif not os.path.isdir(prepared_dir):  # converted already: the source is not read again
            check_gguf_source(source)
    except InputError as err:
        raise InputError(f"config error: models.{slug}.source: {err}") from None
    try:
        check_revision(revision)
    except InputError as err:
        raise InputError(f"config error: models.{slug}.revision: {err}") from None


def gguf_file(source: str) -> str | None:
    """A `.gguf` path source (not `gguf:<package>`): a file the workflow can watch."""
    return os.path.expanduser(source) if source.endswith(".gguf") else None
