"""Parameter schemas of the pattern kinds, and a small validator for them.

Kept as data so a new kind is a new entry here plus its templates.  Validation
returns normalised parameters (defaults filled in) so templates never need to
guess.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

IDENT = r"^[a-z][a-z0-9_]{0,62}$"
FIELD_TYPES = ("int", "str", "float", "bool", "date")


class SchemaError(ValueError):
    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = path
        self.message = message

    @property
    def where(self) -> str:
        return ".".join(str(p) for p in self.path) or "(params)"


@dataclass(frozen=True)
class Field:
    type: object            # a Python type, a tuple of allowed values, or a nested schema
    required: bool = False
    default: object = None
    pattern: str | None = None
    item: object = None      # schema of list items
    max_items: int = 1000


FIELD = {
    "name": Field(str, required=True, pattern=IDENT),
    "type": Field(FIELD_TYPES, required=True),
    "required": Field(bool, default=True),
    "max_length": Field(int, default=None),
    "references": Field(str, default=None, pattern=IDENT),
    "doc": Field(str, default=""),
}

KINDS: dict[str, dict[str, Field]] = {
    "entity": {
        "fields": Field(list, required=True, item=FIELD, max_items=200),
        "primary_key": Field(str, required=True, pattern=IDENT),
        "unique": Field(list, default=[], item=Field(str, pattern=IDENT)),
    },
    "enum": {
        "values": Field(list, required=True, item=Field(str, pattern=r"^[A-Z][A-Z0-9_]{0,62}$"),
                        max_items=500),
        "default": Field(str, default=None),
    },
    "endpoint": {
        "method": Field(("GET", "POST", "PUT", "DELETE"), required=True),
        "path": Field(str, required=True, pattern=r"^(/[a-z0-9_{}]+)+$"),
        "entity": Field(str, required=True, pattern=IDENT),
        "request": Field(list, default=[], item=FIELD, max_items=100),
    },
}


def validate_params(kind: str, params: dict, depends_on: list[str]) -> dict:
    result = _mapping(KINDS[kind], params, ())
    _cross_checks(kind, result, depends_on)
    return result


def _mapping(spec: dict[str, Field], value: object, path: tuple) -> dict:
    if not isinstance(value, dict):
        raise SchemaError(path, "must be a mapping")
    for key in value:
        if key not in spec:
            raise SchemaError(path + (key,), f"unknown key (allowed: {', '.join(sorted(spec))})")
    out = {}
    for key, field in spec.items():
        if key not in value:
            if field.required:
                raise SchemaError(path, f"missing required key '{key}'")
            out[key] = field.default
            continue
        out[key] = _value(field, value[key], path + (key,))
    return out


def _value(field: Field, value: object, path: tuple) -> object:
    expected = field.type
    if isinstance(expected, tuple):
        if value not in expected:
            raise SchemaError(path, f"must be one of {', '.join(expected)}, got {value!r}")
        return value
    if value is None and not field.required:
        return None
    if type(value) is not expected:
        raise SchemaError(path, f"must be {expected.__name__}, got {type(value).__name__}")
    if field.pattern and not re.match(field.pattern, value):
        raise SchemaError(path, f"{value!r} does not match {field.pattern}")
    if expected is list:
        if len(value) > field.max_items:
            raise SchemaError(path, f"has {len(value)} items, at most {field.max_items}")
        if isinstance(field.item, dict):
            return [_mapping(field.item, item, path + (i,)) for i, item in enumerate(value)]
        return [_value(field.item, item, path + (i,)) for i, item in enumerate(value)]
    return value


def _cross_checks(kind: str, params: dict, depends_on: list[str]) -> None:
    if kind in ("entity", "endpoint"):
        key = "fields" if kind == "entity" else "request"
        names = [f["name"] for f in params[key]]
        for index, name in enumerate(names):
            if names.index(name) != index:
                raise SchemaError((key, index, "name"), f"field '{name}' is defined twice")
        for index, field in enumerate(params[key]):
            ref = field["references"]
            if ref is not None and ref not in depends_on:
                raise SchemaError((key, index, "references"),
                                  f"references '{ref}', which is not in depends_on")
    if kind == "entity":
        names = [f["name"] for f in params["fields"]]
        if params["primary_key"] not in names:
            raise SchemaError(("primary_key",), f"'{params['primary_key']}' is not a field")
        for index, name in enumerate(params["unique"]):
            if name not in names:
                raise SchemaError(("unique", index), f"'{name}' is not a field")
    if kind == "enum":
        values = params["values"]
        if len(set(values)) != len(values):
            raise SchemaError(("values",), "lists a value twice")
        if params["default"] is not None and params["default"] not in values:
            raise SchemaError(("default",), f"'{params['default']}' is not one of the values")
    if kind == "endpoint" and params["entity"] not in depends_on:
        raise SchemaError(("entity",), f"entity '{params['entity']}' must be in depends_on")
