"""The cyclic collector is held off around bulk data and always comes back on."""
from __future__ import annotations

import gc
import os
import weakref

import orjson
import pytest

from doit_conductor import gc_pause, sealed
from doit_conductor.fsio import load_json
from tests.support.doit import run_doit


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


CYCLE_DODO = """\
class Holder:
    def __del__(self):   # a finalizer: runs when the collector frees the cycle
        with self.opener("freed.txt", "w") as handle:
            handle.write("freed\\n")


def leave_a_cycle():
    holder = Holder()
    holder.opener = open
    holder.itself = holder


def task_cycle():
    return {"actions": [leave_a_cycle]}
"""


@pytest.mark.slow
def test_the_exit_freeze_still_finalizes_what_an_action_left_in_a_cycle(tmp_path):
    """A conductor project's run freezes the heap at exit (`freeze_at_exit`);
    a dead cycle an action left behind is still freed, its finalizer run."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.doit]\ndep_file = ".conductor/doit.db"\nbackend = "conductor"\n')
    (tmp_path / "dodo.py").write_text(CYCLE_DODO)
    run_doit(tmp_path, timeout=120, check=True)
    assert (tmp_path / "freed.txt").read_text() == "freed\n"


def test_freeze_at_exit_collects_once_asked_to(monkeypatch):
    registered = []
    monkeypatch.setattr(gc_pause, "_collect_at_exit", None)
    monkeypatch.setattr(gc_pause.atexit, "register", registered.append)
    gc_pause.freeze_at_exit(collect=False)
    gc_pause.freeze_at_exit()
    gc_pause.freeze_at_exit(collect=False)
    assert registered == [gc_pause._freeze_for_exit] and gc_pause._collect_at_exit is True
