"""A pydantic ValidationError of the config as one line that names the dotted key and what
is allowed there, in the words the workflow has always used (JSON Schema's: "0 is less
than the minimum of 1", "'x' is not one of [...]").

Of several errors the shallowest is reported (a folder name before the list that names
it); in a union (train.compile: a mode or a mapping), the branch that got furthest, or,
when no branch took the value, what each branch takes (sections.words).
"""

from __future__ import annotations

import typing

from .sections import (NAME_RULE, SLUG_PATTERN, branches, field_type, is_number, is_section,
                       items_words, kind_of, literal_values, members, words)

_TYPES = ("int_type", "int_parsing", "int_from_float", "float_type", "float_parsing", "bool_type",
          "bool_parsing", "string_type", "dict_type", "model_type", "model_attributes_type",
          "list_type", "literal_error")
_BOUNDS = {"greater_than_equal": ("ge", "is less than the minimum of"),
           "greater_than": ("gt", "is less than or equal to the minimum of"),
           "less_than_equal": ("le", "is greater than the maximum of"),
           "less_than": ("lt", "is greater than or equal to the maximum of")}


def _tagged(options: list, part):
    """The branch of a union that pydantic's error location names with `part` (a model's
    name or kind, or a description of another type: "literal[...]", "function-after[...]"),
    or None where `part` is a key."""
    for option in options:
        base = members(option)[0]
        if is_section(base) and part in (base.__name__, "kind" in base.model_fields and kind_of(base)):
            return option
        if typing.get_origin(base) is typing.Literal and str(part).startswith("literal["):
            return option
    if isinstance(part, str) and "[" in part:  # a branch of another type, named by pydantic
        return next((o for o in options if not is_section(members(o)[0])), None)
    return None


def _walk(root, loc) -> tuple[list[str], list[int], typing.Any, typing.Any]:
    """(the dotted key's parts, where in them a union was entered, the annotation at the
    end, the Section class holding the last key) of an error's location."""
    keys, unions, annotation, holder = [], [], root, None
    for i, part in enumerate(loc):
        if part in ("[key]", "int", "float"):  # a mapping key's own error; a Number's two tries
            continue
        options = [b for b in branches(annotation) if members(b)[0] is not type(None)]
        if len(options) > 1:
            unions.append(len(keys))
            if (branch := _tagged(options, part)) is not None:
                annotation = branch
                continue
        base = members(options[0])[0] if options else None
        if loc[i + 1:i + 2] == ("[key]",):  # the key of a mapping: its name rule
            annotation = typing.get_args(base)[0]
            continue
        keys.append(str(part))
        holder = base if is_section(base) else holder
        annotation = (field_type(base.model_fields[part]) if is_section(base) and part in base.model_fields
                      else typing.get_args(base)[-1] if typing.get_origin(base) in (dict, list) else None)
    return keys, unions, annotation, holder


def _pick(errors: list[dict], root) -> tuple[dict, int | None]:
    """The error to report, and the number of keys to its union where no branch took it."""
    walked = [(e, *_walk(root, e["loc"])) for e in errors]
    error, keys, unions, _, _ = min(walked, key=lambda w: len(w[1]) - (w[0]["type"] == "extra_forbidden"))
    if not unions:
        return error, None
    inside = [w for w in walked if w[1][:unions[0]] == keys[:unions[0]] and w[2]]
    deepest = max(inside, key=lambda w: len(w[1]))
    if len(deepest[1]) > unions[0]:
        return deepest[0], None
    took = [w[0] for w in inside if w[0]["type"] not in _TYPES]  # a branch took its type
    return (took[0], None) if took else (error, unions[0])


def describe(err, root) -> str:
    """`err` (a ValidationError of `root`, a Section class) as `<key>: <what is wrong>`."""
    error, union = _pick(err.errors(), root)
    loc = error["loc"]
    if union is not None:  # what the key takes: the union itself, not one of its branches
        loc = next(loc[:end] for end in range(len(loc) + 1) if len(_walk(root, loc[:end])[0]) == union)
    keys, _, annotation, holder = _walk(root, loc)
    key, leaf = ".".join(keys) or "(top level)", keys[-1] if keys else ""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "config":
        return f"{'.'.join(filter(None, ['.'.join(keys), ctx.get('key')]))}: {ctx['message']}"
    if kind == "extra_forbidden":
        unexpected = [_walk(root, e["loc"])[0][-1] for e in err.errors()
                      if e["type"] == kind and _walk(root, e["loc"])[0][:-1] == keys[:-1]]
        return (f"{'.'.join(keys[:-1]) or '(top level)'}: Additional properties are not allowed "
                f"({', '.join(map(repr, unexpected))} {'was' if len(unexpected) == 1 else 'were'} "
                f"unexpected); allowed keys: {', '.join(sorted(holder.model_fields) if holder else [])}")
    if kind == "missing":
        if holder is not None and leaf in holder.REQUIRED:
            return f"{key}: {holder.REQUIRED[leaf]}"
        return f"{'.'.join(keys[:-1]) or '(top level)'}: {leaf!r} is a required property"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = [kind_of(members(b)[0]) for b in branches(annotation)]
        if kind == "union_tag_not_found":
            return f"{key}: 'kind' is a required property (one of {tags})"
        return f"{key}.kind: {ctx['tag']!r} is not one of {tags}"
    if kind in _BOUNDS:
        bound = ctx[_BOUNDS[kind][0]]
        bound = int(bound) if isinstance(bound, float) and bound.is_integer() else bound
        return f"{key}: {value!r} {_BOUNDS[kind][1]} {bound!r}"
    if kind in ("too_short", "string_too_short"):
        return f"{key}: {value!r} should be non-empty"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == SLUG_PATTERN:
            return f"{key}: {value!r} is not a valid name: it becomes a folder, so use {NAME_RULE}"
        return f"{key}: {value!r} does not match {ctx.get('pattern')!r}"
    if kind == "literal_error" and union is None:
        return f"{key}: {value!r} is not one of {literal_values(annotation)!r}"
    if union is not None or (kind in _TYPES and type(None) in members(annotation)):
        return f"{key}: {value!r} is not valid; expected {words(annotation, (leaf, value))}"
    if kind == "list_type":
        item = typing.get_args(members(annotation)[0])[0]
        return f"{key}: expected a list of {items_words(item)}, e.g. {leaf}: [...]; got {value!r}"
    if kind in _TYPES:
        base = members(annotation)[0]
        name = "number" if is_number(annotation) else {int: "integer", float: "number", bool: "boolean",
                                                        str: "string"}.get(base, "object")
        return f"{key}: {value!r} is not of type {name!r}"
    return f"{key}: {error['msg']}"
