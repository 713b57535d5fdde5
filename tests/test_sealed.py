"""The checksummed marshal format of the DB, the snapshot and template cache entries."""
from __future__ import annotations

import pytest

from doit_conductor.sealed import Unsealed, seal, unseal

MAGIC = b"test-kind 1 "


def test_round_trip_and_every_damaged_byte_is_refused():
    value = {"tasks": {"a": {"x": 1}}, "paths": ("p", "q"), "n": 3.5}
    data = seal(MAGIC, value)
    assert unseal(MAGIC, data) == value
    for index in range(len(data)):
        damaged = bytearray(data)
        damaged[index] ^= 0x01
        with pytest.raises(Unsealed):
            unseal(MAGIC, bytes(damaged))
    for cut in (0, len(MAGIC), len(data) - 1):
        with pytest.raises(Unsealed):
            unseal(MAGIC, data[:cut])


def test_another_kind_or_version_is_refused():
    with pytest.raises(Unsealed, match="not written by this version"):
        unseal(b"test-kind 2 ", seal(MAGIC, [1]))
