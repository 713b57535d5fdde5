"""The state-file envelope: encoding, and the in-process sharing of the
library-sized files several tasks of one run read (state_files.SHARED)."""
from __future__ import annotations

import os

import pytest

from doit_conductor import state_files
from doit_conductor.fsio import dump_json, load_json
from doit_conductor.state_files import StateError, read_state, write_state


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    directory = tmp_path / ".conductor" / "state"
    directory.mkdir(parents=True)
    return directory


def test_canonical_json_is_sorted_compact_utf8():
    assert dump_json({"b": [1, "é"], "a": {"z": None, "y": True}}) == \
        '{"a":{"y":true,"z":null},"b":[1,"é"]}\n'.encode()


def test_what_orjson_refuses_still_round_trips():
    big = 2 ** 70
    assert load_json(dump_json({"n": big})) == {"n": big}
    assert dump_json({1: "x"}) == b'{"1":"x"}\n'
    assert load_json(b'{"n": NaN}')["n"] != load_json(b'{"n": NaN}')["n"]  # NaN read as NaN


def test_a_shared_file_read_twice_is_decoded_once(state_dir):
    path = ".conductor/state/patterns.json"
    write_state(path, {"kinds_digest": "k", "patterns": {}})
    first = read_state(path)
    assert read_state(path) is first


def test_a_shared_file_replaced_on_disk_is_read_afresh(state_dir):
    path = ".conductor/state/order.json"
    write_state(path, ["a", "b"])
    assert read_state(path) == ["a", "b"]
    older = state_files.encode_state(["b", "a"])
    (state_dir / "order.json").write_bytes(older)     # a rolled-back copy
    assert read_state(path) == ["b", "a"]


def test_a_damaged_shared_file_is_refused_even_when_remembered(state_dir):
    path = ".conductor/state/order.json"
    write_state(path, ["a", "b"])
    raw = (state_dir / "order.json").read_bytes()
    # same envelope digest, different bytes: the digest is checked against them
    (state_dir / "order.json").write_bytes(raw.replace(b'"a"', b'"c"'))
    with pytest.raises(StateError):
        read_state(path)
    assert not os.path.exists(path)


def test_files_outside_the_shared_set_are_decoded_every_time(state_dir):
    path = ".conductor/state/config.json"
    write_state(path, {"x": 1})
    assert read_state(path) is not read_state(path)
