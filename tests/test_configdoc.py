"""docs/config.md and schemas/config.schema.json are generated from the typed config
(bibleft.config, by bibleft.configdoc) and stay in step with it."""

from __future__ import annotations

import re
import typing
from typing import Literal

import yaml
from pydantic import Field

from bibleft import config, configdoc
from bibleft.config import OVERLAID, Experiment
from bibleft.sections import PosInt, Section, branches, field_type, is_section, members, read_yaml12


def test_config_guide_is_in_step_with_the_classes():
    expected = configdoc.guide()
    current = configdoc.GUIDE_PATH.read_text(encoding="utf-8") if configdoc.GUIDE_PATH.is_file() else ""
    assert current == expected, (f"docs/config.md differs from bibleft/config.py: "
                                 f"regenerate it with `{configdoc.COMMAND}`")


def test_config_schema_is_in_step_with_the_classes():
    current = configdoc.SCHEMA_PATH.read_text(encoding="utf-8") if configdoc.SCHEMA_PATH.is_file() else ""
    assert current == configdoc.schema_text(), (f"schemas/config.schema.json differs from "
                                                f"bibleft/config.py: regenerate it with `{configdoc.COMMAND}`")


def _entry_classes(annotation) -> list:
    """The classes of a registry's entries (one per kind), or [] for a section."""
    base = members(annotation)[0]
    if typing.get_origin(base) is not dict:
        return []
    return [members(b)[0] for b in branches(typing.get_args(base)[1])]


def _keys(cls, path: str):
    """Every dotted key of a section class (a nested section's keys below it)."""
    for name, field in cls.model_fields.items():
        annotation = field_type(field)
        if is_section(members(annotation)[0]) and len(branches(annotation)) == 1:
            yield from _keys(members(annotation)[0], f"{path}.{name}")
        else:
            yield f"{path}.{name}"


def test_every_key_of_the_classes_is_in_the_guide():
    text = configdoc.guide()
    keys = 0
    for section, field in Experiment.model_fields.items():
        assert f"\n## {section}\n" in text
        if section == "settings":  # an overlay of the sections' keys: named in its prose
            for overlaid in OVERLAID:
                assert f"`{overlaid}`" in text.split("\n## settings\n")[1].split("\n## ")[0]
            for key in OVERLAID["data"]:
                assert f"`{key}`" in text.split("\n## settings\n")[1].split("\n## ")[0]
            continue
        entries = _entry_classes(field.annotation)
        placeholder = "<slug>" if section == "models" else "<name>"
        for cls in entries or [field.annotation]:
            for key in _keys(cls, f"{section}.{placeholder}" if entries else section):
                assert f"| `{key}` |" in text, key
                keys += 1
    # ... and the guide's tables hold those keys alone, one row each.
    assert keys == sum(line.startswith("| `") for line in text.splitlines())
    # What a key takes, in the words of the config's own errors (sections.words).
    assert "| `models.<slug>.source` | a non-empty text | required |" in text
    assert "| `train.precision` | one of ['auto', 'fp32', 'bf16', 'fp16'] | `auto` |" in text
    assert "| `corpora.<name>.paraphrases` | an integer ≥ 1 and ≤ 5 | `1` |" in text
    # Markdown would swallow <model> as an HTML tag outside code: written as entities.
    assert "results/&lt;model&gt;/" in text
    for line in text.splitlines():
        if line.startswith("| "):
            outside_code = line.split("`")[::2]
            assert not any(re.search(r"<[A-Za-z/!]", part) for part in outside_code), line


class _Tiny(Section):
    """A section of two keys: one without a description, one with."""

    n: PosInt = 3
    s: Literal["x", "y"] = Field(description="pick <one> | two")


def test_guide_marks_a_missing_description_with_nothing():
    text = "\n".join(configdoc._table(configdoc._rows(_Tiny, "a")))
    assert "| `a.n` | a positive integer | `3` |  |" in text
    assert "| `a.s` | one of ['x', 'y'] | required | pick &lt;one&gt; \\| two |" in text


def _stale_files(tmp_path, monkeypatch):
    guide, schema = tmp_path / "config.md", tmp_path / "config.schema.json"
    monkeypatch.setattr(configdoc, "GUIDE_PATH", guide)
    monkeypatch.setattr(configdoc, "SCHEMA_PATH", schema)
    return guide, schema


def test_check_mode_reports_a_stale_guide(tmp_path, monkeypatch, capsys):
    guide, schema = _stale_files(tmp_path, monkeypatch)
    guide.write_text("old\n")
    schema.write_text("{}\n")
    assert configdoc.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert configdoc.COMMAND in err and str(guide) in err and str(schema) in err
    assert guide.read_text() == "old\n"  # --check only compares
    assert configdoc.main([]) == 0
    assert guide.read_text(encoding="utf-8") == configdoc.guide()
    assert schema.read_text(encoding="utf-8") == configdoc.schema_text()
    assert configdoc.main(["--check"]) == 0
    # One stale file is enough, and it alone is named.
    capsys.readouterr()
    schema.write_text("{}\n")
    assert configdoc.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert str(schema) in err and str(guide) not in err
    # A missing file is stale too.
    schema.unlink()
    assert configdoc.main(["--check"]) == 1


def _guide_defaults(text: str) -> dict:
    """{dotted key: default} as docs/config.md's tables state them (the default column)."""
    defaults = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(" | ")]
        if len(cells) >= 4 and cells[0].startswith("| `") and cells[2].startswith("`"):
            # As the config reads a text: YAML 1.2 numbers (the guide writes 5e-05)
            defaults[cells[0][3:].split("`")[0]] = read_yaml12(cells[2][1:-1])
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


def _field(path: tuple):
    """The model field at a dotted path of config.yaml's sections (train.epochs)."""
    cls, field = Experiment, None
    for part in path:
        assert is_section(cls), path  # config.yaml has no key below a leaf
        field = cls.model_fields[part]  # config.yaml has no key the classes lack
        cls = members(field.annotation)[0]
    return field


def test_config_yaml_the_defaults_and_the_guide_agree_on_every_value_they_all_state():
    """The classes are the one source of a default. config.yaml states a value again only
    to say why (the study's, or a knob users are expected to turn), and then it must be the
    default; the guide (docs/config.md) states the default too."""
    raw = yaml.safe_load((configdoc.ROOT / "config.yaml").read_text(encoding="utf-8"))
    guide = _guide_defaults(configdoc.GUIDE_PATH.read_text(encoding="utf-8"))
    stated = [(path, value) for path, value in _stated_values(raw) if path[0] not in REGISTRIES]
    disagree, defaulted = [], 0
    for path, value in stated:
        field = _field(path)
        key = ".".join(path)
        if field.is_required():
            continue  # a value the config must give (run.models): nothing to disagree with
        defaulted += 1
        default = field.default.model_dump() if hasattr(field.default, "model_dump") else field.default
        states = {"config.yaml": value, "default": default,
                  "docs/config.md": guide.get(key, "(none)")}
        if len({repr(v) for v in states.values()}) > 1:
            disagree.append(f"{key}: {states}")
    assert defaulted >= 20  # the study's values and the knobs config.yaml explains
    assert not disagree, "\n".join(disagree)


def test_the_agreement_check_sees_a_disagreement():
    """The guide's parser reads a row's default, so a guide that says otherwise is caught."""
    row = "| `train.tf32` | true or false | `false` | TensorFloat-32 ... |"
    assert _guide_defaults(row) == {"train.tf32": False}
    assert _guide_defaults(row.replace("`false`", "`true`")) != {"train.tf32": False}


def test_the_code_s_own_lists_of_a_choice_are_the_schema_s():
    """Where code needs the values a key takes (a wildcard's pattern, the verse writer), it
    imports them from one module; that module and the config's Literal say the same."""
    from bibleft.corpus import VERSE_FORMATS

    annotation = config.DataOptions.model_fields["verse_format"].annotation
    assert typing.get_origin(annotation) is Literal
    assert typing.get_args(annotation) == VERSE_FORMATS
