"""Values of files' bytes remembered by their stat: read again only on a change."""
from __future__ import annotations

import hashlib
import os
import time

import pytest

from doit_conductor.errors import UserError
from doit_conductor.incremental import racy
from tasks.steps.stat_memo import StatMemo


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def settled(memo: StatMemo) -> StatMemo:
    """As if the run started well after the files were written: none is recent."""
    memo.started_ns = time.time_ns() + racy.COARSE_NS + 1_000_000_000
    return memo


def test_a_file_is_read_again_only_when_its_stat_changed(tmp_path):
    memo_path, a, b = str(tmp_path / "memo.json"), tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    first = settled(StatMemo(memo_path, "sha256"))
    assert [first.value(str(p), sha) for p in (a, b)] == [sha(b"one"), sha(b"two")]
    assert first.read == 2
    first.save()
    again = settled(StatMemo(memo_path, "sha256"))
    assert [again.value(str(p), sha) for p in (a, b)] == [sha(b"one"), sha(b"two")]
    assert again.read == 0
    before = os.stat(a)
    a.write_bytes(b"ONE")                                       # same size,
    os.utime(a, ns=(before.st_atime_ns, before.st_mtime_ns))    # mtime put back: ctime moved
    again.save()
    third = settled(StatMemo(memo_path, "sha256"))
    assert third.value(str(a), sha) == sha(b"ONE") and third.read == 1


def test_a_recent_file_is_not_remembered(tmp_path):
    memo_path, a = str(tmp_path / "memo.json"), tmp_path / "a"
    a.write_bytes(b"just written")
    memo = StatMemo(memo_path, "sha256")   # started now: the file is recent
    memo.value(str(a), sha)
    memo.save()
    later = settled(StatMemo(memo_path, "sha256"))
    later.value(str(a), sha)
    assert later.read == 1


def test_another_kind_or_a_damaged_memo_reads_everything(tmp_path):
    memo_path, a = str(tmp_path / "memo.json"), tmp_path / "a"
    a.write_bytes(b"x")
    memo = settled(StatMemo(memo_path, "sha256"))
    memo.value(str(a), sha)
    memo.save()
    other = settled(StatMemo(memo_path, "line counts"))
    other.value(str(a), len)
    assert other.read == 1
    (tmp_path / "memo.json").write_text("garbage")
    damaged = settled(StatMemo(memo_path, "sha256"))
    assert damaged.value(str(a), sha) == sha(b"x") and damaged.read == 1


def test_a_link_is_refused_not_followed(tmp_path):
    (tmp_path / "outside").write_bytes(b"secret")
    (tmp_path / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(UserError):
        StatMemo(str(tmp_path / "memo.json"), "sha256").value(str(tmp_path / "link"), sha)
