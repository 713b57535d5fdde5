"""The one declarative way we validate user input: a mapping of `Field`s.

Used for `[tool.conductor]` (config.py), the top level of a pattern file
(codegen/patterns.py) and each kind's parameters (codegen/schema.py).  A spec
says what each key holds; `check_mapping` returns the value normalised
(defaults filled in) or raises `SchemaError` with the key path, and the caller
turns that into a `UserError` with its file and line (a TOML or YAML line).
Checks that involve several keys stay code, next to the spec they refine.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

OMIT = object()  # default of a key that stays absent from the result when absent from the input


class SchemaError(ValueError):
    """A value that does not fit its spec; `path` is the key path to it and
    `message` says what is wrong relative to it ("must be int, got str")."""

    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = path
        self.message = message

    @property
    def where(self) -> str:
        return ".".join(str(p) for p in self.path) or "(params)"

    def describe(self) -> str:
        """The message with the key in it: `'lock.wait' must be bool, got str`."""
        return f"'{self.where}' {self.message}" if self.path else self.message


class UnknownKey(SchemaError):
    def __init__(self, path: tuple, allowed: list[str]):
        super().__init__(path, f"unknown key (allowed: {', '.join(allowed)})")
        self.allowed = allowed

    def describe(self) -> str:
        return f"unknown key '{self.where}' (allowed: {', '.join(self.allowed)})"


@dataclass(frozen=True)
class Field:
    type: object            # a Python type, or a tuple of allowed values
    required: bool = False
    default: object = None   # OMIT: leave the key out of the result
    pattern: str | None = None
    item: object = None      # list items / dict values: a Field, or a spec (dict of Fields)
    max_items: int = 1000
    minimum: float | None = None
    maximum: float | None = None
    unique: bool = False     # a list that may not repeat an entry
    what: str | None = None  # how the type is named in messages ("a table")


def check_mapping(spec: dict[str, Field], value: object, path: tuple = (),
                  what: str = "a mapping") -> dict:
    """`value` checked against `spec`, with the defaults of absent keys filled in."""
    if not isinstance(value, dict):
        raise SchemaError(path, f"must be {what}")
    for key in value:
        if key not in spec:
            raise UnknownKey(path + (key,), sorted(spec))
    out = {}
    for key, field in spec.items():
        if key not in value:
            if field.required:
                raise SchemaError(path, f"missing required key '{key}'")
            if field.default is not OMIT:
                out[key] = field.default
            continue
        out[key] = check_value(field, value[key], path + (key,))
    return out


def check_value(field: Field, value: object, path: tuple) -> object:
    """One value checked against its field (nested lists and mappings included)."""
    expected = field.type
    if isinstance(expected, tuple):
        if value not in expected:
            raise SchemaError(path, f"must be one of {', '.join(expected)}, got {value!r}")
        return value
    if value is None and not field.required:
        return None
    if expected is float and type(value) is int:
        value = float(value)
    if type(value) is not expected:
        raise SchemaError(path, f"must be {field.what or expected.__name__}, "
                                f"got {type(value).__name__}")
    if field.pattern and not re.fullmatch(field.pattern, value):
        raise SchemaError(path, f"must match {field.pattern}, got {value!r}")
    if field.minimum is not None and value < field.minimum:
        raise SchemaError(path, f"must be at least {field.minimum:g}")
    if field.maximum is not None and value > field.maximum:
        raise SchemaError(path, f"must be at most {field.maximum:,}")
    if expected is list:
        return _list(field, value, path)
    if expected is dict and field.item is not None:
        if isinstance(field.item, dict):
            return check_mapping(field.item, value, path, field.what or "a mapping")
        if not all(isinstance(key, str) for key in value):
            raise SchemaError(path, "must have text keys")
        return {key: check_value(field.item, item, path + (key,)) for key, item in value.items()}
    return value


def _list(field: Field, value: list, path: tuple) -> list:
    if len(value) > field.max_items:
        raise SchemaError(path, f"has {len(value)} items, at most {field.max_items}")
    if isinstance(field.item, dict):
        items = [check_mapping(field.item, item, path + (i,)) for i, item in enumerate(value)]
    elif field.item is not None:
        items = [check_value(field.item, item, path + (i,)) for i, item in enumerate(value)]
    else:
        items = list(value)
    if field.unique and len(set(map(repr, items))) != len(items):
        raise SchemaError(path, "lists an entry twice")
    return items
