"""docs/config.md is generated from schemas/config.schema.yaml (bibleft.configdoc) and
stays in step with it."""

from __future__ import annotations

import re

import yaml

from bibleft import configdoc
from bibleft.configcheck import SCHEMA_PATH, _read_yaml_value, load_schema


def test_config_guide_is_in_step_with_the_schema():
    expected = configdoc.guide(load_schema(SCHEMA_PATH))
    current = configdoc.GUIDE_PATH.read_text(encoding="utf-8") if configdoc.GUIDE_PATH.is_file() else ""
    assert current == expected, (f"docs/config.md differs from schemas/config.schema.yaml: "
                                 f"regenerate it with `{configdoc.COMMAND}`")


def test_every_schema_key_is_in_the_guide():
    schema = load_schema(SCHEMA_PATH)
    text = configdoc.guide(schema)
    for section, node in schema["properties"].items():
        assert f"\n## {section}\n" in text
        for key in node.get("properties", {}):
            assert f"`{section}.{key}" in text, f"{section}.{key}"
    assert "| `models.<slug>.source` | string | not empty | required |" in text
    assert "| `train.precision` | string | `auto`, `fp32`, `bf16`, `fp16` | `auto` |" in text
    # Markdown would swallow <model> as an HTML tag outside code: written as entities.
    assert "results/&lt;model&gt;/" in text
    for line in text.splitlines():
        if line.startswith("| "):
            outside_code = line.split("`")[::2]
            assert not any(re.search(r"<[A-Za-z/!]", part) for part in outside_code), line


def test_guide_marks_a_missing_description_with_nothing():
    schema = {"type": "object", "required": ["a"], "properties": {"a": {
        "type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "default": 3},
                                         "s": {"enum": ["x", "y"], "description": "pick <one> | two"}}}}}
    text = configdoc.guide(schema)
    assert "| `a.n` | integer | ≥ 1 | `3` |  |" in text
    assert "| `a.s` | string | `x`, `y` |  | pick &lt;one&gt; \\| two |" in text


def test_check_mode_reports_a_stale_guide(tmp_path, capsys):
    stale = tmp_path / "config.md"
    stale.write_text("old\n")
    assert configdoc.main(["--check", "--out", str(stale)]) == 1
    assert configdoc.COMMAND in capsys.readouterr().err
    assert configdoc.main(["--out", str(stale)]) == 0
    assert configdoc.main(["--check", "--out", str(stale)]) == 0



def _guide_defaults(text: str) -> dict:
    """{dotted key: default} as docs/config.md's tables state them (the default column)."""
    defaults = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(" | ")]
        if len(cells) >= 4 and cells[0].startswith("| `") and cells[3].startswith("`"):
            # As configcheck reads a value: YAML 1.2 numbers (the guide writes 5e-05)
            defaults[cells[0][3:].split("`")[0]] = _read_yaml_value(cells[3][1:-1])
    return defaults


def _stated_values(value, path=()):
    """(path, value) of every leaf a config file states."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _stated_values(item, (*path, key))
    else:
        yield path, value


# Registries: an entry's values are its own (models.gpt2.params_millions), not defaults.
REGISTRIES = ("models", "corpora", "questions", "settings")


def test_config_yaml_the_schema_and_the_guide_agree_on_every_value_they_all_state():
    """The schema is the one source of a default. config.yaml states a value again only to
    say why (the study's, or a knob users are expected to turn), and then it must be the
    schema's; the guide (docs/config.md) states the schema's too."""
    schema = load_schema(SCHEMA_PATH)
    config = yaml.safe_load((configdoc.ROOT / "config.yaml").read_text(encoding="utf-8"))
    guide = _guide_defaults(configdoc.GUIDE_PATH.read_text(encoding="utf-8"))
    stated = [(path, value) for path, value in _stated_values(config) if path[0] not in REGISTRIES]
    disagree = []
    for path, value in stated:
        node = _node(schema, path)  # config.yaml has no key the schema lacks
        key = ".".join(path)
        if "default" not in node:
            continue  # a value the config must give (run.models): nothing to disagree with
        states = {"config.yaml": value, "schema": node.get("default", "(none)"),
                  "docs/config.md": guide.get(key, "(none)")}
        if len({repr(v) for v in states.values()}) > 1:
            disagree.append(f"{key}: {states}")
    assert sum("default" in _node(schema, path) for path, _ in stated) >= 20  # the study's values and the knobs config.yaml explains
    assert not disagree, "\n".join(disagree)


def _node(schema: dict, path: tuple) -> dict:
    for part in path:
        schema = schema["properties"][part]
    return schema


def test_the_agreement_check_sees_a_disagreement():
    """The guide's parser reads a row's default, so a guide that says otherwise is caught."""
    row = "| `train.tf32` | boolean |  | `false` | TensorFloat-32 ... |"
    assert _guide_defaults(row) == {"train.tf32": False}
    assert _guide_defaults(row.replace("`false`", "`true`")) != {"train.tf32": False}


def test_the_code_s_own_lists_of_a_choice_are_the_schema_s():
    """Where code needs the values a key takes (a wildcard's pattern, the verse writer), it
    imports them from one module; that module and the schema's enum say the same."""
    from bibleft.corpus import VERSE_FORMATS

    schema = load_schema(SCHEMA_PATH)
    assert tuple(schema["properties"]["data"]["properties"]["verse_format"]["enum"]) == VERSE_FORMATS
