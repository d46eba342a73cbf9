"""What every typed part of the config is built on: a frozen pydantic model that takes
exactly its keys, reads a text the way a config file would have given the value, and says
in words what a key takes (`words`: the one rendering, for errors and docs/config.md).

Snakemake hands nested `--config` values over as text (`--config "train={epochs: 2}"` gives
train.epochs '2'), and PyYAML, which reads the config files, follows YAML 1.1 (`1e-4`
without a dot is text to it). So a text where the key takes no free text is read as YAML
1.2 reads it: `2` an integer, `1e-4` a number, `true`/`false` booleans, `null` null, `[1, 2]`
a list; `yes`, `no`, `on` and `off` stay text (YAML 1.2 has no such booleans), so a quoted
"no" is refused for a boolean key. A whole float where an integer is wanted is that integer
(a seed of 2.0 would make a folder seed2.0).
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any, ClassVar, Literal, Union

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's core schema for booleans and floats."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                                    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$"), list("-+.0123456789"))


def read_yaml12(text: str):
    return yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


# --- what an annotation admits ---------------------------------------------------------------

def members(annotation) -> list:
    """The types an annotation admits, through Annotated, unions and Optional."""
    if typing.get_origin(annotation) is Annotated:
        return members(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in members(arg)]
    return [annotation]


def branches(annotation) -> list:
    """The branches of a union, each Annotated one whole (a Number is one), or the annotation."""
    inner = typing.get_args(annotation)[0] if typing.get_origin(annotation) is Annotated else annotation
    if is_number(annotation) or typing.get_origin(inner) not in (Union, types.UnionType):
        return [annotation]
    return [b for arg in typing.get_args(inner) for b in branches(arg)]


def constraints(annotation) -> dict:
    """The bounds, pattern and length an Annotated type states: {ge: 1}, {pattern: ...}."""
    found = {}
    if typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        found.update(constraints(base))
        for item in [x for extra in extras for x in (extra, *getattr(extra, "metadata", []))]:
            found.update({name: getattr(item, name) for name in ("ge", "gt", "le", "lt", "pattern",
                                                                 "min_length")
                          if getattr(item, name, None) is not None})
    return found


def field_type(field):
    """A model field's annotation with the constraints pydantic moved off it (an
    `epochs: PosInt` field holds `int`, its `ge` in `field.metadata`)."""
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def is_section(annotation) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def is_number(annotation) -> bool:
    """A Number: an integer or a float, each kept as given (a config's `alpha: 8` stays 8)."""
    return set(members(annotation)) == {int, float}


def literal_values(annotation) -> list:
    return [v for m in members(annotation) if typing.get_origin(m) is Literal
            for v in typing.get_args(m)]


def read_value(value, annotation):
    """`value` as the key would have had it from a config file (the module's docstring)."""
    admitted = members(annotation)
    if isinstance(value, str):
        if value.strip() in ("null", "~") and type(None) in admitted:
            return None
        if any(m is str or m is Any for m in admitted):
            return value
        try:
            read = read_yaml12(value)
        except yaml.YAMLError:
            return value  # not YAML either: its own error says what is wrong
        if read is None or isinstance(read, str):
            return value  # an empty text is not a null; a word stays the word it was
        value = read
    if isinstance(value, float) and value.is_integer() and int in admitted and float not in admitted:
        return int(value)
    lists = [m for m in admitted if typing.get_origin(m) is list]
    if isinstance(value, list) and lists:
        return [read_value(item, typing.get_args(lists[0])[0]) for item in value]
    return value


# --- a key's type in words: errors and docs/config.md --------------------------------------

# What a name that becomes a folder may be (results/<model>/, .../<setting>/,
# data/tokenized/<tokenizer>/), so never '.' or '..'.
SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit"
_WORDS = {int: ("an integer", "integers"), float: ("a number", "numbers"), str: ("a text", "texts"),
          bool: ("true or false", "booleans"), type(None): ("null", "nulls")}
_SIGNS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}


def words(annotation, example: tuple[str, Any] | None = None) -> str:
    """What a key takes, in words: "a positive integer or null", "one of [...]", "an integer
    ≥ 0"; a list as "a list of texts", with `example` (the key's name and the value given) as
    "a list of texts (e.g. books: [Ruth])"."""
    parts = []
    for branch in branches(annotation):
        rules, base = constraints(branch), members(branch)[0]
        bounds = " and ".join(f"{_SIGNS[k]} {rules[k]:g}" for k in _SIGNS if k in rules)
        if typing.get_origin(base) is Literal:
            text = f"one of {list(typing.get_args(base))}"
        elif is_section(base):
            text = f"a mapping with keys {', '.join(base.model_fields)}"
        elif typing.get_origin(base) in (list, dict):
            *key, item = typing.get_args(base)
            text = (f"a list of {items_words(item)}" if not key else
                    f"a mapping of {items_words(key[0])} to {items_words(item)}")
            if example and not key:
                shown = example[1] if isinstance(example[1], str) and str in members(item) else "..."
                text += f" (e.g. {example[0]}: [{shown}])"
        elif rules.get("pattern") == SLUG_PATTERN:
            text = f"a name ({NAME_RULE})"
        elif base is str and rules.get("min_length") == 1 and "pattern" not in rules:
            text = "a non-empty text"
        elif bounds in ("≥ 1", "> 0"):
            text = "a positive integer" if base is int and not is_number(branch) else "a positive number"
        else:
            text = ("a number" if is_number(branch) else _WORDS.get(base, ("a value",))[0]) + \
                (f" {bounds}" if bounds else "") + (f" matching `{rules['pattern']}`" if "pattern" in rules else "")
        if text not in parts:
            parts.append(text)
    return " or ".join(parts)


def items_words(annotation) -> str:
    """What a list's items must be: "integers", "names (...)", "values from [...]"."""
    if literal_values(annotation):
        return f"values from {literal_values(annotation)}"
    if constraints(annotation).get("pattern") == SLUG_PATTERN:
        return f"names ({NAME_RULE})"
    return _WORDS.get(members(annotation)[0], (None, "values"))[1]


# --- the sections ----------------------------------------------------------------------------

class Section(BaseModel):
    """A config section or registry entry: exactly its keys (an unknown one is an error
    naming it), each of its type (strict: no conversion but read_value's), frozen once
    built. A field's docstring is its description; REQUIRED says in words why a required
    key is wanted, for its error."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)
    REQUIRED: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _read_texts(cls, values):
        if not isinstance(values, dict):
            return values
        return {key: read_value(value, cls.model_fields[key].annotation)
                if key in cls.model_fields else value for key, value in values.items()}

    @classmethod
    def from_dict(cls, values: dict):
        """`as_dict`'s mapping (a rule's params, a JSON file) typed again."""
        return cls.model_validate(values)

    def as_dict(self) -> dict:
        return self.model_dump()


def config_error(message: str, key: str | None = None) -> PydanticCustomError:
    """An error of a validator, as its one line: at the validated value's key, or at its
    `key` below it."""
    return PydanticCustomError("config", "{message}", {"message": message, "key": key})


def kind_of(cls) -> str:
    return typing.get_args(cls.model_fields["kind"].annotation)[0]


def kind_union(*classes):
    """The entry of a registry of kinds (corpora, questions): one class per kind, told apart
    by `kind:`. A key that only another kind reads is refused in one line, unless it holds
    that kind's default (what merging an overlay over an entry of another kind leaves)."""
    by_kind = {kind_of(cls): cls for cls in classes}
    defaults = {key: None if field.is_required() else field.default
                for cls in classes for key, field in cls.model_fields.items() if key != "kind"}

    def own_keys(entry):
        if not isinstance(entry, dict) or entry.get("kind") not in by_kind:
            return entry  # the union says what is wrong
        kind, reads = entry["kind"], by_kind[entry["kind"]].model_fields
        stray = sorted(k for k in entry if k not in reads and k in defaults and entry[k] != defaults[k])
        if stray:
            raise config_error(f"{', '.join(stray)} do(es) not apply to kind {kind} (it reads "
                               f"{', '.join(sorted(k for k in reads if k != 'kind'))})")
        return {k: v for k, v in entry.items() if k in reads or k not in defaults}

    return Annotated[Union[classes], Field(discriminator="kind"), BeforeValidator(own_keys)]


PosInt = Annotated[int, Field(ge=1)]
# A number as the config gives it: an integer stays an integer (it is written back so into
# settings.json and adapter_config.json), a float a float.
Number = Annotated[Union[int, float], WithJsonSchema({"type": "number"})]
PosNum = Annotated[Number, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
NonEmpty = Annotated[str, Field(min_length=1)]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
