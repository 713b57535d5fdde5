"""Records to and from JSON: one codec for every `@dataclass` we save.

A record becomes a JSON object of its fields, in declaration order: tuples
become lists, nested records objects, dicts are copied.  Reading it back goes
by the field annotations: lists back to tuples, objects back to nested records,
scalars checked against their type (an int is accepted for a float and made
one; a float must be finite: Python's json writes NaN and Infinity, which no
figure of ours is), unknown keys ignored (a newer writer's extra fields),
missing keys taken from the field defaults.  Anything else is a `RecordError` naming the record.

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
import math
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
VERSION_KEY = "schema_version"
_SCALARS = (bool, int, float, str)


class RecordError(ValueError):
    """A JSON document that is not a valid record of the expected type and version."""


def to_json(record: object, *, version: int | None = None) -> dict:
    """`record`'s fields as a JSON-ready dict (plus `schema_version` if given)."""
    data = {}
    for name, encode in _encoders(type(record)):
        value = getattr(record, name)
        data[name] = value if encode is None or value is None else encode(value)
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
    try:
        for name, scalar, optional, decode in _decoders(cls):
            if name not in data:
                continue
            value = data[name]
            if value is None and optional:
                pass
            elif scalar is not None:
                if type(value) is not scalar:
                    value = _other_scalar(scalar, value)
                if scalar is float and not math.isfinite(value):
                    raise _Mismatch(" must be a finite number")
            elif decode is not None:
                value = decode(value)
            values[name] = value
    except _Mismatch as exc:
        raise RecordError(f"{what}: '{name}'{exc.args[0]}") from None
    try:
        return cls(**values)
    except TypeError as exc:
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in values
                   and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        raise RecordError(f"{what}: missing '{missing[0]}'" if missing
                          else f"{what}: {exc}") from None


class _Mismatch(ValueError):
    """A value of the wrong shape; the message continues "'<field>'"."""


def _other_scalar(kind: type, value: object) -> object:
    if kind is float and type(value) is int:
        return float(value)
    raise _Mismatch(f" must be {kind.__name__}")


Encoder = Callable[[Any], Any] | None
Decoder = tuple[str, type | None, bool, Callable[[Any], Any] | None]


@functools.cache
def _encoders(cls: type) -> tuple[tuple[str, Encoder], ...]:
    return tuple((name, _encoder(kind)) for name, kind in _field_types(cls))


def _encoder(kind: Any) -> Encoder:
    kind = _without_none(kind)
    if typing.get_origin(kind) is tuple:
        item = _encoder(typing.get_args(kind)[0])
        return list if item is None else (lambda value: [item(v) for v in value])
    if dataclasses.is_dataclass(kind):
        return to_json
    return None  # scalars, dicts of plain data: as they are


@functools.cache
def _decoders(cls: type) -> tuple[Decoder, ...]:
    plan = []
    for name, kind in _field_types(cls):
        inner = _without_none(kind)
        optional = inner is not kind
        scalar = inner if inner in _SCALARS else None
        plan.append((name, scalar, optional, None if scalar else _decoder(inner)))
    return tuple(plan)


def _decoder(kind: Any) -> Callable[[Any], Any] | None:
    if kind in _SCALARS:
        def scalar(value: object) -> object:
            return value if type(value) is kind else _other_scalar(kind, value)
        return scalar
    if typing.get_origin(kind) is tuple:
        item = _decoder(typing.get_args(kind)[0])

        def as_tuple(value: object) -> tuple:
            if not isinstance(value, list):
                raise _Mismatch(" must be a list")
            return tuple(value) if item is None else tuple(item(v) for v in value)
        return as_tuple
    if typing.get_origin(kind) is dict or kind is dict:
        def as_dict(value: object) -> dict:
            if not isinstance(value, dict):
                raise _Mismatch(" must be an object")
            return value
        return as_dict
    if dataclasses.is_dataclass(kind):
        def nested(value: object) -> object:
            try:
                return from_json(kind, value, "")
            except RecordError as exc:
                raise _Mismatch(f":{str(exc)[1:]}") from None
        return nested
    return None


def _without_none(kind: Any) -> Any:
    """`X` for `X | None`; other types as they are."""
    if typing.get_origin(kind) in (types.UnionType, typing.Union):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if len(options) == 1:
            return options[0]
    return kind


@functools.cache
def _field_types(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))
