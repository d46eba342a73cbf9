"""docs/config.md, the configuration guide, and schemas/config.schema.json, the config's
JSON Schema (for editors and other tools), both generated from the typed config
(bibleft.config): every key with what it takes (in the words of the config's errors,
sections.words), its default and its description.

The classes are the one source: tests/test_configdoc.py fails when a generated file
differs from what they say. Regenerate after changing them:

    PYTHONPATH=workflow_scripts .venv/bin/python -m bibleft.configdoc

(`--check` only compares, exit status 1 when a file is stale). A key without a description
gets an empty description cell: the guide invents nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import typing

from .config import ROOT, Experiment
from .sections import branches, field_type, is_section, kind_of, members, words

GUIDE_PATH = ROOT / "docs" / "config.md"
SCHEMA_PATH = ROOT / "schemas" / "config.schema.json"
COMMAND = "PYTHONPATH=workflow_scripts .venv/bin/python -m bibleft.configdoc"


def _literal(value) -> str:
    """A value as YAML would show it in a config file, flow style."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        plain = re.fullmatch(r"[A-Za-z0-9_./][A-Za-z0-9_./ -]*", value) and value not in (
            "null", "true", "false") and not value.endswith(" ")
        return value if plain else json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _code(text: str) -> str:
    """`text` as inline code in a table cell (GFM: a pipe is escaped even in code)."""
    text = text.replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _prose(text: str) -> str:
    """A description as one table cell: one line, `<` and `>` outside code spans written as
    entities (Markdown would take `<model>` for an HTML tag), `*` and pipes escaped."""
    parts = " ".join(str(text).split()).split("`")
    for i in range(0, len(parts), 2):  # even parts are outside code spans
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")
    return "`".join(parts).replace("|", "\\|")


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.default
    return _code(_literal(value.model_dump() if hasattr(value, "model_dump") else value))


def _rows(cls, path: str) -> list[dict]:
    """One row per key of a section, its sections' keys after it."""
    rows = []
    for name, field in cls.model_fields.items():
        key, annotation = f"{path}.{name}", field_type(field)
        if is_section(members(annotation)[0]) and len(branches(annotation)) == 1:
            rows += _rows(members(annotation)[0], key)
            continue
        rows.append({"key": key, "takes": words(annotation), "default": _default(field),
                     "description": field.description or ""})
    return rows


def _table(rows: list[dict]) -> list[str]:
    lines = ["| key | takes | default | description |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {_code(row['key'])} | {_prose(row['takes'])} | {row['default']} | "
                     f"{_prose(row['description'])} |")
    return lines + [""]


def _doc(cls) -> str:
    return " ".join((cls.__doc__ or "").split())


def _section(name: str, field) -> list[str]:
    """The guide's section of one top-level key: a section's table, or a registry's entry
    table (per kind, for a registry of kinds)."""
    lines = [f"## {name}", ""]
    annotation = field.annotation
    if name == "settings":  # an overlay: its keys are those of the sections it lays over
        return lines + [_prose(field.description or ""), "", f"Default: {_default(field)}.", "",
                        "An entry's keys: `train` and `lora` (any of their keys, below) and "
                        "`data` (`verse_format`, `corpus`, `questions`); a setting named "
                        "`base` is refused (results/&lt;model&gt;/base/ holds the base model's "
                        "answers).", ""]
    if typing.get_origin(members(annotation)[0]) is dict:
        lines += [_prose(field.description or ""), "",
                  f"Default: {_default(field)}." if not field.is_required() else "Required.", ""]
        entry = typing.get_args(members(annotation)[0])[1]
        placeholder = "<slug>" if name == "models" else "<name>"
        kinds = [members(b)[0] for b in branches(entry)]
        for kind in kinds:
            if len(kinds) > 1:
                lines += [f"### {name} of kind `{kind_of(kind)}`", "", _prose(_doc(kind)), ""]
            lines += _table(_rows(kind, f"{name}.{placeholder}"))
        return lines
    section = members(annotation)[0]
    if _doc(section):
        lines += [_prose(_doc(section)), ""]
    return lines + _table(_rows(section, name))


def guide() -> str:
    """The text of docs/config.md."""
    lines = ["# Configuration guide", "",
             "<!-- Generated from workflow_scripts/bibleft/config.py by bibleft/configdoc.py: "
             "do not edit by hand. -->", "",
             f"Generated from the typed config ([`config.py`](../workflow_scripts/bibleft/config.py), "
             "and the kinds of corpus and question set in `corpora.py` and `questions.py`) by "
             f"`{COMMAND}`, with the JSON Schema [`schemas/config.schema.json`]"
             "(../schemas/config.schema.json). Those classes are the one place a key, its type "
             "and its default are stated: [`config.yaml`](../config.yaml) repeats only the "
             "study's values and the knobs users turn, each with its reason, and a test keeps "
             "it and this page in agreement. An overlay (`--configfile`) or `--config` changes "
             "any key, and the whole config is checked, defaults filled in, before any job "
             "starts.", "",
             "Required at the top: `run` (`run.models`) and `models`. Every other key may be "
             "left out and then takes its default. Keys are written as dotted paths: "
             "`train.learning_rate` is `learning_rate` under `train:`; a name in angle brackets "
             "(`models.<slug>.source`) is one you choose.", "",
             "Values are read as a config file gives them. A text where a key takes no free "
             "text (what `--config` hands over) is read as YAML 1.2 reads it: `2` an integer, "
             "`1e-4` a number, `true` and `false` booleans, `null` null; a quoted `\"yes\"` or "
             "`\"no\"` stays text and is refused for a boolean key. In a config file, though, "
             "Snakemake's YAML reader (PyYAML, YAML 1.1) reads the bare words `yes`, `no`, "
             "`on` and `off` as booleans before the workflow sees them.", ""]
    fields = Experiment.model_fields
    lines += ["Sections: " + " · ".join(f"[`{name}`](#{name})" for name in fields), ""]
    for name, field in fields.items():
        lines += _section(name, field)
    return "\n".join(lines)


def schema_text() -> str:
    """The text of schemas/config.schema.json."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              **Experiment.model_json_schema()}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare: exit status 1 when a generated file is stale")
    args = parser.parse_args(argv)
    stale = 0
    for path, text in ((GUIDE_PATH, guide()), (SCHEMA_PATH, schema_text())):
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                print(f"{path} is stale: regenerate it with `{COMMAND}`", file=sys.stderr)
                stale = 1
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return stale


if __name__ == "__main__":
    sys.exit(main())
