"""docs/config.md is generated from schemas/config.schema.yaml (bibleft.configdoc) and
stays in step with it."""

from __future__ import annotations

import re

from bibleft import configdoc
from bibleft.configcheck import SCHEMA_PATH, load_schema


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
