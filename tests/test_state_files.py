"""The state-file envelope: encoding, and decoding a library-sized document
once per process (state_files.LARGE)."""
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


def large_order(first: str) -> list[str]:
    """An order.json of over `LARGE` bytes, starting with `first`."""
    return [first] + [f"pattern_{i:06d}" for i in range(state_files.LARGE // 12)]


def test_a_large_document_is_decoded_once(state_dir):
    path = ".conductor/state/order.json"
    write_state(path, large_order("a"))
    first = read_state(path)
    assert read_state(path) is first
    assert read_state(".conductor/state/order.json") is first


def test_a_large_document_replaced_on_disk_is_read_afresh(state_dir):
    path = ".conductor/state/order.json"
    write_state(path, large_order("a"))
    assert read_state(path)[0] == "a"
    older = state_files.encode_state(large_order("b"))
    (state_dir / "order.json").write_bytes(older)     # a rolled-back copy
    assert read_state(path)[0] == "b"


def test_a_damaged_large_document_is_refused_though_decoded_before(state_dir):
    path = ".conductor/state/order.json"
    write_state(path, large_order("a"))
    read_state(path)
    raw = (state_dir / "order.json").read_bytes()
    # same envelope digest, different bytes: the digest is checked against them
    (state_dir / "order.json").write_bytes(raw.replace(b'"a"', b'"c"'))
    with pytest.raises(StateError):
        read_state(path)
    assert not os.path.exists(path)


def test_a_large_document_of_the_wrong_shape_is_refused_after_a_good_one(state_dir):
    good = ".conductor/state/order.json"
    write_state(good, large_order("a"))
    read_state(good)
    plan = state_dir / "plan.json"          # same bytes, a file of another shape
    plan.write_bytes((state_dir / "order.json").read_bytes())
    with pytest.raises(StateError):
        read_state(".conductor/state/plan.json")


def test_small_documents_are_decoded_every_time(state_dir):
    path = ".conductor/state/config.json"
    write_state(path, {"x": 1})
    assert read_state(path) is not read_state(path)


def test_the_least_recently_used_documents_go_first_over_the_budget(state_dir, monkeypatch):
    size = len(state_files.encode_state(large_order("a")))
    monkeypatch.setattr(state_files, "BUDGET", 2 * size + size // 2)
    paths = [f".conductor/state/{name}/order.json" for name in ("x", "y", "z")]
    firsts = {}
    for path, first in zip(paths, "abc"):
        (state_dir / path.split("/")[2]).mkdir()
        write_state(path, large_order(first))
        firsts[path] = read_state(path)
        if path == paths[1]:
            assert read_state(paths[0]) is firsts[paths[0]]   # x used again: y is the oldest
    assert read_state(paths[0]) is firsts[paths[0]]
    assert read_state(paths[2]) is firsts[paths[2]]
    assert read_state(paths[1]) is not firsts[paths[1]]        # let go: decoded afresh
    assert read_state(paths[1]) == firsts[paths[1]]
