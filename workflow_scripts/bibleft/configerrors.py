"""A pydantic ValidationError of the config as one line that names the dotted key and what
is allowed there, in the words the workflow has always used (JSON Schema's: "0 is less
than the minimum of 1", "'x' is not one of [...]").

Of several errors the shallowest is the one reported (a folder name before the list that
names it); in a union (train.compile: a mode or a mapping), the branch that got furthest,
or, when no branch took the value at all, what each branch takes.
"""

from __future__ import annotations

import typing

from .sections import (NAME_RULE, SLUG_PATTERN, branches, field_type, is_section, items_words,
                       json_type, kind_of, literal_values, members, words)

_TYPE_ERRORS = ("int_type", "int_parsing", "int_from_float", "float_type", "float_parsing",
                "bool_type", "bool_parsing", "string_type", "dict_type", "model_type",
                "model_attributes_type", "list_type")
_BOUNDS = {"greater_than_equal": ("ge", "is less than the minimum of"),
           "greater_than": ("gt", "is less than or equal to the minimum of"),
           "less_than_equal": ("le", "is greater than the maximum of"),
           "less_than": ("lt", "is greater than or equal to the maximum of")}


def _number(value) -> str:
    return repr(int(value)) if isinstance(value, float) and value.is_integer() else repr(value)


def _tagged(options: list, part) -> typing.Any:
    """The branch of a union that pydantic's error location names with `part`, or None."""
    for option in options:
        base = members(option)[0]
        if is_section(base) and (part == base.__name__ or (
                "kind" in base.model_fields and part == kind_of(base))):
            return option
        if typing.get_origin(base) is typing.Literal and str(part).startswith("literal["):
            return option
    return None


def _walk(root, loc) -> tuple[list[str], list[int], typing.Any, typing.Any]:
    """(the dotted key's parts, where in them a union was entered, the annotation at the
    end, the Section class holding the last key) of an error's location."""
    keys, unions, annotation, holder = [], [], root, None
    for i, part in enumerate(loc):
        if part in ("[key]", "int", "float"):  # a key's own error; a Number's two tries
            continue
        options = [b for b in branches(annotation) if members(b)[0] is not type(None)]
        if len(options) > 1:
            unions.append(len(keys))
            if (branch := _tagged(options, part)) is not None:
                annotation = branch
                continue
        base = members(options[0])[0] if options else None
        if loc[i + 1:i + 2] == ("[key]",):  # a mapping's key itself: its name rule
            annotation = typing.get_args(base)[0]
            continue
        keys.append(str(part))
        if is_section(base):
            holder = base
            annotation = field_type(base.model_fields[part]) if part in base.model_fields else None
        elif typing.get_origin(base) in (dict, list):
            annotation = typing.get_args(base)[-1]
        else:
            annotation = None
    return keys, unions, annotation, holder


def _pick(errors: list[dict], root) -> dict:
    walked = [(e, *_walk(root, e["loc"])) for e in errors]
    error, keys, unions, _, _ = min(walked, key=lambda w: len(w[1]) - (w[0]["type"] == "extra_forbidden"))
    if not unions:
        return error
    inside = [w for w in walked if w[1][:unions[0]] == keys[:unions[0]] and w[2]]
    deepest = max(inside, key=lambda w: len(w[1]))
    if len(deepest[1]) > unions[0]:
        return deepest[0]
    if any(w[0]["type"] not in (*_TYPE_ERRORS, "literal_error") for w in inside):
        return next(w[0] for w in inside if w[0]["type"] not in (*_TYPE_ERRORS, "literal_error"))
    return {**error, "type": "union"}  # no branch took the value


def _branch_words(annotation, leaf: str, value) -> str:
    parts = []
    for branch in branches(annotation):
        base = members(branch)[0]
        if typing.get_origin(base) is list:
            shown = value if isinstance(value, str) and members(typing.get_args(base)[0])[0] is str else "..."
            parts.append(f"a list of {items_words(typing.get_args(base)[0])} (e.g. {leaf}: [{shown}])")
        else:
            parts.append(words(branch))
    return " or ".join(parts)


def describe(err, root) -> str:
    """`err` (a ValidationError of `root`, a Section class) as `<key>: <what is wrong>`."""
    errors = err.errors()
    error = _pick(errors, root)
    keys, unions, annotation, holder = _walk(root, error["loc"])
    if error["type"] == "union":  # what the key takes: the union itself, not a branch
        keys = keys[:unions[0]]
        _, _, annotation, _ = _walk(root, error["loc"][:_loc_length(root, error["loc"], len(keys))])
    key, leaf = ".".join(keys) or "(top level)", keys[-1] if keys else ""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "config":
        return f"{'.'.join(filter(None, [key if keys else '', ctx.get('key')]))}: {ctx['message']}"
    if kind == "extra_forbidden":
        parent = keys[:-1]
        unexpected = [_walk(root, e["loc"])[0][-1] for e in errors if e["type"] == kind
                      and _walk(root, e["loc"])[0][:-1] == parent]
        allowed = sorted(holder.model_fields) if holder else []
        return (f"{'.'.join(parent) or '(top level)'}: Additional properties are not allowed "
                f"({', '.join(map(repr, unexpected))} {'was' if len(unexpected) == 1 else 'were'} "
                f"unexpected); allowed keys: {', '.join(allowed)}")
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
        name, words_ = _BOUNDS[kind]
        return f"{key}: {_number(value)} {words_} {_number(ctx[name])}"
    if kind == "literal_error":
        return f"{key}: {value!r} is not one of {literal_values(annotation)!r}"
    if kind in ("too_short", "string_too_short"):
        return f"{key}: {value!r} should be non-empty"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == SLUG_PATTERN:
            return f"{key}: {value!r} is not a valid name: it becomes a folder, so use {NAME_RULE}"
        return f"{key}: {value!r} does not match {ctx.get('pattern')!r}"
    if kind == "union" or (kind in _TYPE_ERRORS and type(None) in members(annotation)):
        return f"{key}: {value!r} is not valid; expected {_branch_words(annotation, leaf, value)}"
    if kind == "list_type":
        item = typing.get_args(members(annotation)[0])[0]
        return f"{key}: expected a list of {items_words(item)}, e.g. {leaf}: [...]; got {value!r}"
    if kind in _TYPE_ERRORS:
        return f"{key}: {value!r} is not of type {json_type(annotation)!r}"
    return f"{key}: {error['msg']}"


def _loc_length(root, loc: tuple, n_keys: int) -> int:
    """How many parts of `loc` lead to its `n_keys`-th key (tags included before it)."""
    for end in range(len(loc) + 1):
        if len(_walk(root, loc[:end])[0]) == n_keys:
            return end
    return len(loc)
