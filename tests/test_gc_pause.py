"""The cyclic collector is held off around bulk data and always comes back on."""
from __future__ import annotations

import gc
import os
import weakref

import orjson
import pytest

from doit_conductor import gc_pause, sealed
from doit_conductor.fsio import load_json


@pytest.fixture(autouse=True)
def _collector_restored():
    was = gc.isenabled()
    yield
    gc.unfreeze()
    (gc.enable if was else gc.disable)()


def test_paused_turns_the_collector_off_inside_and_back_on_after():
    gc.enable()
    with gc_pause.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_paused_comes_back_on_after_an_exception():
    gc.enable()
    with pytest.raises(RuntimeError), gc_pause.paused():
        raise RuntimeError("inside")
    assert gc.isenabled()


def test_a_collector_the_program_turned_off_stays_off():
    gc.disable()
    with gc_pause.paused(freeze=True):
        pass
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


@pytest.fixture
def keeper(monkeypatch):
    monkeypatch.setattr(gc_pause, "_KEEPER", None)
    gc_pause.keep_decoded_here()


def test_a_bulk_document_is_frozen_after_decoding_a_small_one_is_not(keeper):
    gc.enable()
    gc.unfreeze()
    small = orjson.dumps({"a": [1, 2]})
    assert load_json(small) == {"a": [1, 2]}
    assert gc.get_freeze_count() == 0
    document = {f"pattern_{i:05}": {"fields": [i, str(i)]} for i in range(20_000)}
    raw = orjson.dumps(document)
    assert len(raw) >= gc_pause.BULK_BYTES
    assert load_json(raw) == document
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_another_process_decodes_bulk_paused_but_keeps_nothing_frozen(monkeypatch):
    # a forked -n worker (another pid) drops its batch plan after the batch
    monkeypatch.setattr(gc_pause, "_KEEPER", os.getpid() + 1)
    gc.enable()
    gc.unfreeze()
    document = {f"pattern_{i:05}": [i, str(i)] for i in range(30_000)}
    assert load_json(orjson.dumps(document)) == document
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_bulk_sealed_document_decodes_the_same(keeper):
    gc.enable()
    gc.unfreeze()
    value = tuple((i, i * 2, f"path/{i}") for i in range(30_000))
    raw = sealed.seal(b"TEST1", value)
    assert sealed.unseal(b"TEST1", raw) == value
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


class _Node:
    pass


def test_a_cycle_that_died_before_a_bulk_decode_is_freed_not_frozen(keeper):
    raw = orjson.dumps({f"k{i}": [i] for i in range(30_000)})
    gc.enable()
    gc.unfreeze()
    gc.collect()
    node = _Node()
    node.itself = node
    alive = weakref.ref(node)
    del node
    load_json(raw)
    assert gc.get_freeze_count() > 0
    assert alive() is None
