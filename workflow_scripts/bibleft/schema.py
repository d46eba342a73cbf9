"""The config schema (schemas/config.schema.yaml): the one place every config default is
stated. Code that needs a default outside a validated config (the study's prompt in the
tests and benchmarks, say) reads it here rather than writing it again."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

# The project's root, and the schema the workflow (rules/common.smk) and the benchmarks
# check a config against.
ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "schemas" / "config.schema.yaml"


def load_schema(path=SCHEMA_PATH) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@lru_cache(maxsize=None)
def _shipped() -> dict:
    return load_schema(SCHEMA_PATH)


def schema_default(key: str):
    """The schema's default of a dotted config key, e.g. `answer.max_new_tokens`."""
    node = _shipped()
    for part in key.split("."):
        node = node["properties"][part]
    return node["default"]
