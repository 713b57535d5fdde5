"""Records to and from JSON: one codec for every `@dataclass` we save.

A record becomes a JSON object of its fields, in declaration order: tuples
become lists, nested records objects, dicts are copied.  Reading it back goes
by the field annotations: lists back to tuples, objects back to nested records,
scalars checked against their type (an int is accepted for a float and made
one), unknown keys ignored (a newer writer's extra fields), missing keys taken
from the field defaults.  Anything else is a `RecordError` naming the record.

The one versioning rule: a document that is read on its own carries
`schema_version` (`to_json(record, version=N)`), and `from_json(..., version=N)`
refuses any other version instead of misreading it.  Records nested in a
larger document (patterns and plan entries in `.conductor/state/`, file
entries in a manifest) are versioned by that document: the workflow's state
by `layout.STATE_VERSION`, the manifest by its `version`.

Plain stdlib on purpose: msgspec or cattrs would do the same for these few
small records, at the price of a dependency (and, for msgspec, a compiled one),
upstream wording in our error messages and an import on the no-op path.
"""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")
VERSION_KEY = "schema_version"
_SCALARS = (bool, int, float, str)


class RecordError(ValueError):
    """A JSON document that is not a valid record of the expected type and version."""


def to_json(record: object, *, version: int | None = None) -> dict:
    """`record`'s fields as a JSON-ready dict (plus `schema_version` if given)."""
    data = {name: _encode(getattr(record, name)) for name in _field_names(type(record))}
    if version is not None:
        data[VERSION_KEY] = version
    return data


def from_json(cls: type[T], data: object, what: str, *, version: int | None = None) -> T:
    """A `cls` record from its JSON object; `what` names it in a RecordError."""
    if not isinstance(data, dict):
        raise RecordError(f"{what}: expected a JSON object")
    if version is not None and data.get(VERSION_KEY) != version:
        raise RecordError(f"{what}: schema version {data.get(VERSION_KEY)!r}, "
                          f"this doit-conductor reads {version}")
    values = {}
    for name, kind in _field_types(cls):
        if name in data:
            values[name] = _decode(kind, data[name], f"{what}: '{name}'")
    try:
        return cls(**values)
    except TypeError as exc:
        raise RecordError(f"{what}: {exc}") from None


def _encode(value: object) -> object:
    if isinstance(value, (tuple, list)):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        return dict(value)
    if dataclasses.is_dataclass(value):
        return to_json(value)
    return value


def _decode(kind: Any, value: object, where: str) -> object:
    if kind in _SCALARS:
        return _scalar(kind, value, where)
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in typing.get_args(kind):
            return None
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        return _decode(options[0], value, where) if len(options) == 1 else value
    if origin is tuple:
        if not isinstance(value, list):
            raise RecordError(f"{where} must be a list")
        item = typing.get_args(kind)[0]
        return tuple(_decode(item, v, where) for v in value)
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{where} must be an object")
        return dict(value)
    if dataclasses.is_dataclass(kind):
        return from_json(kind, value, where)
    return value


def _scalar(kind: type, value: object, where: str) -> object:
    if kind is float and type(value) is int:
        return float(value)
    if type(value) is not kind:
        raise RecordError(f"{where} must be {kind.__name__}")
    return value


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@functools.cache
def _field_types(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))
