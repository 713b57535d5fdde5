"""The one dataclass <-> JSON codec, on hand-made records."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from doit_conductor.codec import RecordError, from_json, to_json


@dataclass(frozen=True, slots=True)
class Inner:
    path: str
    size: int = 0


@dataclass(frozen=True, slots=True)
class Outer:
    name: str
    parts: tuple[Inner, ...]
    tags: tuple[str, ...] = ()
    ratio: float = 1.0
    note: str | None = None
    extra: dict[str, int] = field(default_factory=dict)


def test_round_trip_restores_tuples_and_nested_records():
    record = Outer("a", (Inner("x", 1), Inner("y")), ("t",), 0.5, None, {"k": 1})
    data = to_json(record)
    assert data == {"name": "a", "parts": [{"path": "x", "size": 1}, {"path": "y", "size": 0}],
                    "tags": ["t"], "ratio": 0.5, "note": None, "extra": {"k": 1}}
    assert from_json(Outer, data, "outer") == record


def test_defaults_fill_missing_keys_and_unknown_keys_are_ignored():
    assert from_json(Outer, {"name": "a", "parts": [], "later": 1}, "outer") == Outer("a", ())


def test_an_int_is_read_as_float_but_a_wrong_type_is_an_error():
    assert from_json(Outer, {"name": "a", "parts": [], "ratio": 2}, "outer").ratio == 2.0
    with pytest.raises(RecordError, match=r"^outer: 'name' must be str$"):
        from_json(Outer, {"name": 3, "parts": []}, "outer")
    with pytest.raises(RecordError, match=r"^outer: 'parts': 'size' must be int$"):
        from_json(Outer, {"name": "a", "parts": [{"path": "x", "size": "big"}]}, "outer")


def test_a_missing_required_field_or_non_object_is_an_error():
    with pytest.raises(RecordError, match="^outer: missing 'parts'$"):
        from_json(Outer, {"name": "a"}, "outer")
    with pytest.raises(RecordError, match="^outer: expected a JSON object$"):
        from_json(Outer, ["a"], "outer")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_float_that_is_not_a_finite_number_is_an_error(value):
    with pytest.raises(RecordError, match=r"^outer: 'ratio' must be a finite number$"):
        from_json(Outer, {"name": "a", "parts": [], "ratio": value}, "outer")


def test_schema_version_is_written_and_checked():
    data = to_json(Inner("x"), version=3)
    assert data["schema_version"] == 3
    assert from_json(Inner, data, "inner", version=3) == Inner("x")
    with pytest.raises(RecordError, match=r"^inner: schema version 3, this doit-conductor reads 4$"):
        from_json(Inner, data, "inner", version=4)
