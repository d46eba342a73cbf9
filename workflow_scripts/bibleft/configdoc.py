"""docs/config.md, the configuration guide, generated from schemas/config.schema.yaml: every
key with its type, allowed values, default and description, one section per top-level key.

The schema is the one source: tests/test_configdoc.py fails when the guide and the schema
differ. Regenerate after changing the schema:

    PYTHONPATH=workflow_scripts .venv/bin/python -m bibleft.configdoc

(`--check` only compares, exit status 1 when the guide is stale). A key without a
`description` in the schema gets an empty description cell: the guide invents nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from .configcheck import ROOT, SCHEMA_PATH, load_schema

GUIDE_PATH = ROOT / "docs" / "config.md"
COMMAND = "PYTHONPATH=workflow_scripts .venv/bin/python -m bibleft.configdoc"

# A name in the schema's $defs, as a placeholder for a key that the user names
# (`models.<slug>.source`); any other map's keys are `<name>`.
_TYPE_WORDS = {"integer": "integer", "number": "number", "string": "string", "boolean": "boolean",
               "array": "list", "object": "mapping", "null": "null"}


def _resolve(schema: dict, node: dict) -> tuple[dict, str | None]:
    """`node` with a `$ref` to `#/$defs/<name>` laid under its own keys, and that name."""
    ref = node.get("$ref")
    if not ref:
        return node, None
    name = ref.rsplit("/", 1)[-1]
    target, _ = _resolve(schema, schema["$defs"][name])
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}, name


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


def _types(schema: dict, node: dict) -> str:
    node, _ = _resolve(schema, node)
    if "enum" in node:
        kinds = []
        for value in node["enum"]:
            kind = ("null" if value is None else "boolean" if isinstance(value, bool)
                    else "integer" if isinstance(value, int) else "number" if isinstance(value, float)
                    else "string")
            if kind not in kinds:
                kinds.append(kind)
        return " or ".join(kinds)
    if "const" in node:
        return "constant"
    branches = node.get("oneOf") or node.get("anyOf")
    if branches:
        words = []
        for branch in branches:
            for word in _types(schema, branch).split(" or "):
                if word not in words:
                    words.append(word)
        return " or ".join(words)
    kinds = node.get("type")
    if kinds is None:
        return "mapping" if "properties" in node else "any"
    kinds = kinds if isinstance(kinds, list) else [kinds]
    words = []
    for kind in kinds:
        word = _TYPE_WORDS.get(kind, kind)
        if kind == "array" and "items" in node:
            item = _types(schema, node["items"])
            word = f"list of {item}" if " or " not in item else f"list of ({item})"
        words.append(word)
    return " or ".join(words)


def _allowed(schema: dict, node: dict) -> str:
    """What the schema allows beyond the type: values, bounds, patterns, list rules."""
    node, _ = _resolve(schema, node)
    rules = []
    if "enum" in node:
        rules.append(", ".join(_code(_literal(v)) for v in node["enum"]))
    if "const" in node:
        rules.append(_code(_literal(node["const"])))
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                      ("exclusiveMaximum", "<")):
        if key in node:
            rules.append(f"{sign} {_literal(node[key])}")
    if "pattern" in node:
        rules.append(f"matches {_code(node['pattern'])}")
    if node.get("minLength") == 1:
        rules.append("not empty")
    elif "minLength" in node:
        rules.append(f"at least {node['minLength']} characters")
    if "minItems" in node:
        rules.append("at least one item" if node["minItems"] == 1 else f"at least {node['minItems']} items")
    if node.get("uniqueItems"):
        rules.append("no repeats")
    if "minProperties" in node:
        rules.append("at least one entry" if node["minProperties"] == 1
                     else f"at least {node['minProperties']} entries")
    not_ = node.get("not")
    if isinstance(not_, dict):
        excluded = not_.get("enum") or ([not_["const"]] if "const" in not_ else [])
        if excluded:
            rules.append("not " + ", ".join(_code(_literal(v)) for v in excluded))
    if "propertyNames" in node:
        names = _allowed(schema, node["propertyNames"])
        if names:
            rules.append(f"keys: {names}")
    items = node.get("items")
    if isinstance(items, dict):
        each = _allowed(schema, items)
        if each:
            rules.append(f"each item: {each}")
    if isinstance(node.get("additionalProperties"), dict) and "properties" not in node["additionalProperties"]:
        each = _allowed(schema, node["additionalProperties"])
        if each:
            rules.append(f"each value: {each}")
    if node.get("properties") and node.get("additionalProperties") is False:
        rules.append("a mapping with keys " + ", ".join(_code(k) for k in node["properties"]))
    for branch_key in ("oneOf", "anyOf"):
        branches = [b for b in (_allowed(schema, b) for b in node.get(branch_key, [])) if b]
        if branches:
            rules.append(" or ".join(branches))
    return "; ".join(rules)


def _placeholder(schema: dict, node: dict) -> str:
    names = node.get("propertyNames")
    if isinstance(names, dict) and "$ref" in names:
        return f"<{names['$ref'].rsplit('/', 1)[-1]}>"
    return "<name>"


def _rows(schema: dict, node: dict, path: str, required: bool) -> list[dict]:
    """One row per key under `path`, depth first in the schema's order. An object that only
    groups keys (no description, nothing allowed beyond its keys) gets no row of its own."""
    node, _ = _resolve(schema, node)
    rows = []
    properties = node.get("properties")
    entries = node.get("additionalProperties")
    groups_only = properties is not None and "description" not in node
    if not groups_only:
        rows.append({"key": path, "type": _types(schema, node), "allowed": _allowed(schema, node),
                     "default": ("required" if required else
                                 _literal(node["default"]) if "default" in node else ""),
                     "description": node.get("description", "")})
    for name, child in (properties or {}).items():
        rows += _rows(schema, child, f"{path}.{name}", name in node.get("required", []))
    if isinstance(entries, dict) and ("properties" in entries or "additionalProperties" in entries
                                      and isinstance(entries["additionalProperties"], dict)
                                      and "properties" in entries["additionalProperties"]):
        entries, _ = _resolve(schema, entries)
        inner = f"{path}.{_placeholder(schema, node)}"
        for name, child in (entries.get("properties") or {}).items():
            rows += _rows(schema, child, f"{inner}.{name}", name in entries.get("required", []))
    return rows


def _table(rows: list[dict]) -> list[str]:
    lines = ["| key | type | allowed | default | description |", "|---|---|---|---|---|"]
    for row in rows:
        default = row["default"]
        default = default if default in ("", "required") else _code(default)
        lines.append(f"| {_code(row['key'])} | {row['type']} | {row['allowed']} | {default} | "
                     f"{_prose(row['description'])} |")
    return lines


def guide(schema: dict) -> str:
    """The text of docs/config.md for `schema` (the loaded config schema)."""
    source = SCHEMA_PATH.relative_to(ROOT).as_posix()
    lines = ["# Configuration guide", "",
             f"<!-- Generated from {source} by bibleft/configdoc.py: do not edit by hand. -->", "",
             f"Generated from [`{source}`](../{source}) by `{COMMAND}`. The schema is the one "
             "place a default is stated: [`config.yaml`](../config.yaml) repeats only the "
             "study's values and the knobs users turn, each with its reason, and a test keeps "
             "it, the schema and this page in agreement. An overlay (`--configfile`) or "
             "`--config` changes any key, and the whole config is checked against the schema, "
             "defaults filled in, before any job starts.", ""]
    if schema.get("description"):
        lines += [" ".join(schema["description"].split()), ""]
    top_required = schema.get("required", [])
    lines += ["Required at the top: " + ", ".join(f"`{k}`" for k in top_required) + ". "
              "Every other key may be left out and then takes its default (none where that "
              "column is empty). Keys are "
              "written as dotted paths: `train.learning_rate` is `learning_rate` under `train:`; "
              "a name in angle brackets (`models.<slug>.source`) is one you choose.", ""]
    lines += ["Sections: " + " · ".join(f"[`{name}`](#{name})"
                                         for name in schema["properties"]), ""]
    for name, node in schema["properties"].items():
        node, _ = _resolve(schema, node)
        lines += [f"## {name}", ""]
        if node.get("description"):
            lines += [_prose(node["description"]), ""]
        rows = _rows(schema, {k: v for k, v in node.items() if k != "description"}, name,
                     name in top_required)
        lines += _table(rows) + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare: exit status 1 when the guide differs from the schema")
    parser.add_argument("--out", type=Path, default=GUIDE_PATH, help="where to write (docs/config.md)")
    args = parser.parse_args(argv)
    text = guide(load_schema(SCHEMA_PATH))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
        if current != text:
            print(f"{args.out} is stale: regenerate it with `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
