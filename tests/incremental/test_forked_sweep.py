"""Half of a long comparison sweep in a forked child: the answers of one sweep."""
from __future__ import annotations

import os
import time

import pytest

from doit_conductor import forked
from doit_conductor.incremental import forked_sweep, racy, snapshot

KEY = ("dir", "python", "tasks")
CHUNK = 4

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


@pytest.fixture
def files(tmp_path) -> list[str]:
    paths = []
    for number in range(40):
        path = tmp_path / f"f{number:02}"
        path.write_text(str(number))
        paths.append(str(path))
    return paths


def recorded(paths: list[str]):
    packed = snapshot.pack_stats(snapshot.sweep(paths))
    size = len(packed) // len(paths)
    return lambda start, end: packed[start * size:end * size]


def packed_sweep(paths) -> bytes | None:
    return snapshot.pack_stats(snapshot.sweep(paths))


def rewrite(path: str) -> None:
    os.utime(path, ns=(1, 1))   # a stat that cannot be the one recorded


def test_nothing_changed(files):
    assert forked_sweep.first_differing_chunk(files, recorded(files), packed_sweep, CHUNK) is None


@pytest.mark.parametrize("changed, chunk_start", [(5, 4), (19, 16), (21, 20), (39, 36)])
def test_the_first_changed_chunk_in_either_half(files, changed, chunk_start):
    before = recorded(files)
    rewrite(files[changed])
    assert forked_sweep.first_differing_chunk(files, before, packed_sweep, CHUNK) == chunk_start


def test_the_earlier_change_wins(files):
    before = recorded(files)
    rewrite(files[30])
    rewrite(files[9])
    assert forked_sweep.first_differing_chunk(files, before, packed_sweep, CHUNK) == 8


def dying_in_a_child(sweep):
    """`sweep`, except that a forked child calling it dies before answering."""
    parent = os.getpid()

    def dying(paths):
        if os.getpid() != parent:
            os._exit(3)
        return sweep(paths)

    return dying


def test_a_child_that_dies_before_answering_leaves_its_half_to_the_parent(files):
    dying_sweep = dying_in_a_child(packed_sweep)
    before = recorded(files)
    assert forked_sweep.first_differing_chunk(files, before, dying_sweep, CHUNK) is None
    rewrite(files[33])
    assert forked_sweep.first_differing_chunk(files, before, dying_sweep, CHUNK) == 32


@pytest.fixture
def taken(files, monkeypatch):
    """A decoded snapshot of `files` whose checks split every sweep, in chunks of CHUNK."""
    if not forked.available():
        pytest.skip("needs two CPUs")
    started = time.time_ns() + racy.COARSE_NS + 1_000_000_000   # nothing recent
    monkeypatch.setattr(forked_sweep, "MIN_PATHS", 1)
    monkeypatch.setattr(snapshot, "CHUNK", CHUNK)
    return snapshot.decode(snapshot.encode(snapshot.take(KEY, files, 1, started)))


def test_the_no_op_check_splits_a_long_sweep_and_answers_the_same(files, taken, monkeypatch):
    forks = []
    real_fork = os.fork

    def counted_fork():
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(os, "fork", counted_fork)
    assert snapshot.first_change(taken, KEY) is None
    rewrite(files[37])
    assert snapshot.first_change(taken, KEY) == f"{files[37]} changed since the last run"
    assert len(forks) == 2


def test_a_split_sweep_is_the_sweep(files, tmp_path):
    absent = str(tmp_path / "absent")
    paths = [*files, absent]
    split = forked_sweep.split_sweep(paths, snapshot.sweep, packed_sweep, unpacked)
    assert split == snapshot.sweep(paths)
    assert split[-1] is None


def test_a_split_sweep_whose_child_dies_is_finished_here(files):
    dying = dying_in_a_child(packed_sweep)
    assert forked_sweep.split_sweep(files, snapshot.sweep, dying, unpacked) == \
        snapshot.sweep(files)


def unpacked(data: bytes) -> list:
    size = len(snapshot.pack_stats([(0, 0, 0, 0, 0)]))
    return [snapshot.PackedStats(data[i:i + size])[0] for i in range(0, len(data), size)]


def test_a_packed_sweep_on_two_cores_is_the_sweep(files, tmp_path):
    paths = [*files, str(tmp_path / "absent")]
    assert forked_sweep.packed_sweep(paths, packed_sweep) == packed_sweep(paths)
    dying = dying_in_a_child(packed_sweep)
    assert forked_sweep.packed_sweep(paths, dying) == packed_sweep(paths)


def test_a_check_that_wants_every_stat_sweeps_each_path_once(files, taken, monkeypatch):
    """With `into`, the check's one split sweep is compared, then handed over."""
    swept = []
    real_stat = os.stat

    def counted_stat(path, *args, **kwargs):
        swept.append(path)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counted_stat)
    now: list = []
    assert snapshot.first_change(taken, KEY, into=now) is None and now == []
    rewrite(files[2])
    swept.clear()
    assert snapshot.first_change(taken, KEY, into=now) == f"{files[2]} changed since the last run"
    # the parent's half, once (the child's stats are its own process's)
    assert sorted(swept) == sorted(files[:len(files) // 2])
    assert now == snapshot.sweep(files)
