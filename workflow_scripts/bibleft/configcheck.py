"""Validating the merged config against the JSON schema, with short errors.

Snakemake's own `validate` prints the whole schema on failure; a user editing a YAML
file wants one line naming the key and what is allowed there.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match

from .errors import InputError

SLUG = re.compile(r"^[A-Za-z0-9._-]+$")
# The schema the workflow (rules/common.smk) and the benchmarks check a config against.
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(Draft202012Validator)


def _allowed_keys(schema: dict, path: list) -> list[str]:
    node = schema
    for part in path:
        props = node.get("properties", {})
        if part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return []
    for branch in node.get("anyOf", []):  # a value that may be a mapping (train.compile)
        if "properties" in branch:
            return sorted(branch["properties"])
    return sorted(node.get("properties", {}))


def _branch_words(schema: dict, branch: dict) -> str:
    if "$ref" in branch:
        branch = schema["$defs"][branch["$ref"].rsplit("/", 1)[-1]]
    if "enum" in branch:
        return f"one of {branch['enum']}"
    if "properties" in branch:
        return f"a mapping with keys {', '.join(branch['properties'])}"
    return str(branch.get("type", "a value"))


def _describe(error, schema: dict) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = _allowed_keys(schema, list(error.absolute_path))
        return f"{key}: {error.message}; allowed keys: {', '.join(allowed)}"
    if error.validator == "propertyNames" or (error.validator == "pattern" and "A-Za-z0-9" in str(error.validator_value)):
        return f"{key}: {error.instance!r} is not a valid slug (use letters, digits, '.', '_' and '-')"
    if error.validator == "anyOf":
        return (f"{key}: {error.instance!r} is not valid; expected "
                + " or ".join(_branch_words(schema, b) for b in error.validator_value))
    if error.validator == "not":  # a reserved name: `base` is the base model's folder
        return f"{key}: {error.instance!r} is reserved, choose another name"
    if error.validator == "oneOf":
        # oneOf [posint, null]: report the useful branch.
        return f"{key}: {error.instance!r} is not valid; expected a positive integer or null"
    return f"{key}: {error.message}"


def load_schema(path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_config(path, schema_path=SCHEMA_PATH) -> dict:
    """A config file (config.yaml, say) as the workflow sees it: checked, defaults filled
    in. For code that runs outside Snakemake, such as the benchmarks."""
    with open(path, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    return validate_config(config, load_schema(schema_path))


# A value's type errors that reading a text as YAML may cure: the schema wants a number, a
# boolean, a list or null (or one of several such), and got text.
_TYPE_VALIDATORS = ("type", "oneOf", "anyOf")


def _type_command_line_values(config: dict, validator) -> None:
    """Read as YAML each text the schema rejects for its type, in place.

    Snakemake hands nested `--config` values over as text: `--config "train={epochs: 2}"`
    gives train.epochs '2', `"run={seeds: [1, 2]}"` a list of texts. A config file would have
    given 43 and [1, 2]; so wherever the schema wants something other than text and gets
    text, that text is read as YAML, as the file's would be. A value the schema accepts as
    text is never touched, and a text that is still wrong after reading keeps its error.
    """
    for _ in range(1000):  # one pass per value fixed (a list fixes item by item); bounded
        for error in validator.iter_errors(config):
            if error.validator not in _TYPE_VALIDATORS or not isinstance(error.instance, str):
                continue
            try:
                value = yaml.safe_load(error.instance)
            except yaml.YAMLError:
                continue  # not YAML either: its own error says what is wrong
            if value is None and error.instance.strip() not in ("null", "~"):
                continue  # an empty text is not a null
            if isinstance(value, str) or not error.absolute_path:
                continue
            *parents, leaf = error.absolute_path
            node = config
            for key in parents:
                node = node[key]
            node[leaf] = value
            break  # the errors were computed on the old value: look again
        else:
            return


# The sections a named setting may overlay (schema: settings.<name>).
OVERLAID_SECTIONS = ("train", "lora", "data")
SEEDS_HINT = 'seeds are listed in run.seeds, e.g. --config "run={seeds: [42, 43, 44]}"'


def _deep_merge(base: dict, overlay: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolved_setting(config: dict, name: str) -> dict:
    """{"train": ..., "lora": ..., "data": ...} of the validated config with setting `name`
    laid over them: what that setting's fine-tunes see."""
    overlay = config["settings"][name] or {}
    return {section: _deep_merge(config[section], overlay.get(section, {}))
            for section in OVERLAID_SECTIONS}


def _copy_typed(overlay: dict, resolved: dict) -> None:
    """Put the values `_type_command_line_values` read as YAML back into the overlay."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(resolved.get(key), dict):
            _copy_typed(value, resolved[key])
        else:
            overlay[key] = resolved[key]


def _check_no_seed(train: dict, where: str) -> None:
    """train.seed is gone: a config (or a setting's overlay) that still sets it is told where
    seeds are listed now."""
    if "seed" in train:
        raise InputError(f"config error: {where}train.seed: {SEEDS_HINT}")


def _check_train(train: dict, where: str) -> None:
    """What the schema cannot say of a validated train block (every key present)."""
    modes = train["compile"]
    modes = modes.values() if isinstance(modes, dict) else [modes]
    if train["gradient_checkpointing"] and any(modes):
        raise InputError(f"config error: {where}train.gradient_checkpointing: true cannot be combined with "
                         "train.compile (torch.compile fails on or mis-trains transformers' "
                         "checkpointed blocks); turn one of them off")


def _check_settings(config: dict, validator, schema: dict) -> None:
    """Each named setting, laid over the config, must pass the same schema; an error names
    the key as settings.<name>.<section>.<key>."""
    for name in config["run"]["settings"]:
        if name not in config["settings"]:
            raise InputError(f"config error: run.settings: {name!r} is not in settings "
                             f"(known: {', '.join(sorted(config['settings']))})")
    for name in config["settings"]:
        overlay = config["settings"][name] = config["settings"][name] or {}
        _check_no_seed(overlay.get("train") or {}, f"settings.{name}.")
        candidate = {**config, **resolved_setting(config, name)}
        _type_command_line_values(candidate, validator)
        error = best_match(validator.iter_errors(candidate))
        if error is not None:
            raise InputError(f"config error: settings.{name}.{_describe(error, schema)}")
        _copy_typed(overlay, candidate)
        _check_train(candidate["train"], f"settings.{name}.")


def validate_config(config: dict, schema: dict) -> dict:
    """Fill defaults into `config` in place and check it; raise InputError on the first problem.

    Texts where the schema wants a number, boolean, list or null are read as YAML first
    (`_type_command_line_values`): that is how Snakemake passes nested `--config` values.
    """
    if isinstance(config.get("train"), dict):
        _check_no_seed(config["train"], "")
    validator = _Validator(schema)
    _type_command_line_values(config, validator)
    error = best_match(validator.iter_errors(config))
    if error is not None:
        raise InputError(f"config error: {_describe(error, schema)}")
    for slug in config["run"]["models"]:
        if slug not in config["models"]:
            raise InputError(f"config error: run.models: {slug!r} is not in models "
                             f"(known: {', '.join(sorted(config['models']))})")
    _check_train(config["train"], "")
    _check_settings(config, validator, schema)
    for slug, entry in config["models"].items():
        entry.setdefault("tokenizer", slug)
    return config
