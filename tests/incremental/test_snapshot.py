"""The no-op snapshot's pure logic: sweep, compare, racy entries, encoding."""
from __future__ import annotations

import os
import time

from doit_conductor.incremental import racy, snapshot
from doit_conductor.incremental.snapshot import Declined, Listing

KEY = ("dir", "python", "tasks")


def make(tmp_path, **files: str) -> list[str]:
    paths = []
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        paths.append(str(path))
    return paths


def later() -> int:
    """A snapshot start late enough that files written now are not recent."""
    return time.time_ns() + racy.COARSE_NS + 1_000_000_000


def test_nothing_changed_is_no_change(tmp_path):
    paths = make(tmp_path, a="1", b="2")
    taken = snapshot.take(KEY, [*paths, str(tmp_path / "absent")], 2, time.time_ns())
    assert snapshot.first_change(taken, KEY) is None


def test_a_rewrite_with_the_old_mtime_and_size_is_seen(tmp_path):
    [path] = make(tmp_path, a="one")
    before = os.stat(path)
    taken = snapshot.take(KEY, [path], 1, later())
    assert taken.contents == {}   # not recent: the stat is trusted
    time.sleep(0.05)   # past the clock tick of the first write
    with open(path, "w") as handle:
        handle.write("two")    # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))   # mtime put back
    assert snapshot.first_change(taken, KEY) == f"{path} changed since the last run"


def test_new_and_removed_files_are_seen(tmp_path):
    [path] = make(tmp_path, a="1")
    new = str(tmp_path / "new")
    taken = snapshot.take(KEY, [path, new], 1, time.time_ns())
    (tmp_path / "new").write_text("x")
    assert snapshot.first_change(taken, KEY) == f"{new} appeared since the last run"
    os.unlink(new)
    os.unlink(path)
    assert snapshot.first_change(taken, KEY) == f"{path} is gone since the last run"


def test_recent_entries_are_also_checked_by_content(tmp_path):
    # A write within the file system's timestamp granularity leaves the stat as
    # it was: simulated by handing first_change the recorded stats as "current".
    [path] = make(tmp_path, a="one")
    directory = str(tmp_path)
    taken = snapshot.take(KEY, [path, directory], 1, time.time_ns())
    assert set(taken.contents) == {path, directory}
    (tmp_path / "a").write_text("two")
    assert snapshot.first_change(taken, KEY, list(taken.stats)) == \
        f"{path} changed since the last run"
    (tmp_path / "a").write_text("one")
    (tmp_path / "b").write_text("")
    assert snapshot.first_change(taken, KEY, list(taken.stats)) == \
        f"{directory} changed since the last run"


def test_a_listing_directory_changes_only_with_the_entries_that_matter(tmp_path):
    (tmp_path / "out.txt").write_text("target")
    (tmp_path / "tasks.py").write_text("")
    (tmp_path / "pkg").mkdir()
    directory = str(tmp_path)
    taken = snapshot.take(KEY, [], 1, later(),
                          listings={directory: Listing(("out.txt",), modules=True)})
    assert taken.contents == {} and directory in taken.paths
    # a user's file next to the target and the modules: the stat moves, nothing that matters
    (tmp_path / "report.html").write_text("<html>")
    (tmp_path / "notes-2.py").write_text("")   # no module name: never imported
    (tmp_path / "LICENSE").write_text("")      # a file without a suffix is no module
    (tmp_path / "out.txt").write_text("rewritten")   # doit asks only that it exists
    moved: dict = {}
    assert snapshot.first_change(taken, KEY, moved=moved) is None
    assert moved == {directory: snapshot.file_stat(directory)}
    # each entry that matters, and nothing else, is a change
    for change, undo in [
            (lambda: (tmp_path / "out.txt").unlink(),
             lambda: (tmp_path / "out.txt").write_text("")),
            (lambda: (tmp_path / "yaml.py").write_text(""),
             lambda: (tmp_path / "yaml.py").unlink()),
            (lambda: (tmp_path / "jinja2").mkdir(), lambda: (tmp_path / "jinja2").rmdir()),
            (lambda: (tmp_path / "fast.cpython-311-x86_64-linux-gnu.so").write_text(""),
             lambda: (tmp_path / "fast.cpython-311-x86_64-linux-gnu.so").unlink()),
            (lambda: (tmp_path / "pkg").rmdir(), lambda: (tmp_path / "pkg").mkdir())]:
        change()
        assert snapshot.first_change(taken, KEY) == f"{directory} changed since the last run"
        undo()
        assert snapshot.first_change(taken, KEY) is None


def test_a_directory_also_watched_whole_is_not_relaxed(tmp_path):
    directory = str(tmp_path)
    taken = snapshot.take(KEY, [directory], 1, later(), listings={directory: Listing(("x",))})
    assert taken.listings == {}
    (tmp_path / "report.html").write_text("<html>")
    assert snapshot.first_change(taken, KEY) == f"{directory} changed since the last run"


def test_a_recent_listing_directory_is_checked_by_the_entries_that_matter(tmp_path):
    (tmp_path / "out.txt").write_text("target")
    directory = str(tmp_path)
    taken = snapshot.take(KEY, [], 1, time.time_ns(), listings={directory: Listing(("out.txt",))})
    assert set(taken.contents) == {directory}
    (tmp_path / "report.html").write_text("<html>")
    assert snapshot.first_change(taken, KEY, list(taken.stats)) is None
    (tmp_path / "out.txt").unlink()
    assert snapshot.first_change(taken, KEY, list(taken.stats)) == \
        f"{directory} changed since the last run"


def test_another_key_is_a_change(tmp_path):
    taken = snapshot.take(KEY, make(tmp_path, a="1"), 1, time.time_ns())
    assert "command line" in snapshot.first_change(taken, (*KEY, "other"))


def test_encoding_round_trips_and_refuses_damage(tmp_path):
    taken = snapshot.take(KEY, make(tmp_path, a="1"), 1, time.time_ns(),
                          listings={str(tmp_path): Listing(("a",), modules=True)})
    assert taken.listings
    assert snapshot.decode(snapshot.encode(taken)) == taken
    declined = Declined(KEY, "task x uses run_once")
    assert snapshot.decode(snapshot.encode(declined)) == declined
    raw = bytearray(snapshot.encode(taken))
    raw[-3] ^= 0xFF
    assert snapshot.decode(bytes(raw)) is None
    assert snapshot.decode(b"not a snapshot") is None


def test_a_snapshot_with_more_paths_than_stats_is_refused(tmp_path):
    taken = snapshot.take(KEY, make(tmp_path, a="1", b="2"), 1, time.time_ns())
    short = snapshot.Snapshot(KEY, taken.paths, taken.stats[:1], {}, 1, taken.started_ns)
    assert snapshot.decode(snapshot.encode(short)) is None


def test_a_change_anywhere_among_many_paths_is_found(tmp_path):
    count = 2100
    paths = make(tmp_path, **{f"f{i}": "x" for i in range(count)})
    paths[1027] = str(tmp_path / "never-there")
    taken = snapshot.take(KEY, paths, 1, later())
    assert snapshot.first_change(taken, KEY) is None
    assert snapshot.sweep(taken.paths) == list(taken.stats)
    for index in (0, 1023, 1028, 2047, 2048, count - 1):   # chunks of 2,048
        os.utime(paths[index], ns=(0, 0))
        assert snapshot.first_change(taken, KEY) == f"{paths[index]} changed since the last run"
        taken = snapshot.take(KEY, paths, 1, later())
    (tmp_path / "never-there").write_text("now")
    assert snapshot.first_change(taken, KEY) == \
        f"{tmp_path / 'never-there'} appeared since the last run"


def test_a_decoded_snapshot_compares_its_packed_stats(tmp_path):
    count = 2100
    paths = make(tmp_path, **{f"f{i}": "x" for i in range(count)})
    paths[5] = str(tmp_path / "never-there")
    taken = snapshot.take(KEY, paths, 1, later())
    decoded = snapshot.decode(snapshot.encode(taken))
    assert isinstance(decoded.stats, snapshot.PackedStats)
    assert decoded == taken and list(decoded.stats) == list(taken.stats)
    assert decoded.stats[5] is None and decoded.stats[-1] == taken.stats[-1]
    assert snapshot.first_change(decoded, KEY) is None
    os.utime(paths[2050], ns=(0, 0))
    assert snapshot.first_change(decoded, KEY) == f"{paths[2050]} changed since the last run"
    (tmp_path / "never-there").write_text("now")
    assert snapshot.first_change(decoded, KEY) == f"{paths[5]} appeared since the last run"


def test_a_check_that_finds_a_change_stats_each_path_once(tmp_path, monkeypatch):
    # an edit's check stops in the first differing chunk: the stats its packed
    # sweep took are the ones compared path by path, not taken again
    paths = make(tmp_path, **{f"f{i}": "x" for i in range(10)})
    decoded = snapshot.decode(snapshot.encode(snapshot.take(KEY, paths, 1, later())))
    os.utime(paths[7], ns=(0, 0))
    os.unlink(paths[3])
    stat, asked = os.stat, []
    monkeypatch.setattr(os, "stat", lambda path, *a, **k: asked.append(path) or stat(path, *a, **k))
    assert snapshot.first_change(decoded, KEY) == f"{paths[3]} is gone since the last run"
    assert sorted(asked) == sorted(paths)


def test_a_stat_past_2262_keeps_the_snapshot_unpacked(tmp_path):
    [path] = make(tmp_path, a="1")
    far = (10**19, 10**19, 1, 2, 3)   # ns past 2**63
    assert snapshot.pack_stats([far]) is None
    record = snapshot.Snapshot(KEY, (path,), (far,), {}, 1, time.time_ns())
    decoded = snapshot.decode(snapshot.encode(record))
    assert decoded == record and decoded.stats == (far,)
    assert snapshot.first_change(decoded, KEY) == f"{path} changed since the last run"


def test_racy_window_is_short_only_on_devices_known_to_stamp_finely(tmp_path):
    [path] = make(tmp_path, a="one")
    device = os.stat(path).st_dev
    half_a_second_later = time.time_ns() + 500_000_000
    # coarse (FAT, network, unknown): a write 0.5 s ago is still racy
    assert path in snapshot.take(KEY, [path], 1, half_a_second_later).contents
    # a local Linux file system: 0.5 s is ten windows past it, the stat is trusted
    assert snapshot.take(KEY, [path], 1, half_a_second_later, frozenset({device})).contents == {}
    # ... but a write just now is racy there too
    assert path in snapshot.take(KEY, [path], 1, time.time_ns(), frozenset({device})).contents


def test_fine_grained_devices_come_from_mountinfo():
    from doit_conductor.incremental import racy
    mountinfo = "\n".join([
        "25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683652k",
        "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard",
        "30 27 0:40 / /mnt/nfs rw,relatime - nfs4 server:/export rw,vers=4.2",
        "31 27 8:17 / /media/usb\\040stick rw - vfat /dev/sdb1 rw",
        "garbage line",
    ])
    assert racy.fine_devices_in(mountinfo) == {os.makedev(0, 23), os.makedev(254, 0)}
    assert racy.window_ns(os.makedev(0, 40), racy.fine_devices_in(mountinfo)) == racy.COARSE_NS


def test_a_target_directory_that_is_a_link_or_below_one_is_never_listed(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "out.txt").write_text("x")
    project = tmp_path / "project"
    project.mkdir()
    (project / "out").symlink_to(outside)       # the target directory is a link
    (project / "lnk").symlink_to(outside)       # lnk/sub: below a link
    (project / "real").mkdir()
    (project / "real" / "out.txt").write_text("x")
    monkeypatch.chdir(project)
    listed: list[str] = []
    real_listdir, real_scandir = os.listdir, os.scandir

    def noting(real):
        def call(path="."):
            if not isinstance(path, int):
                listed.append(os.fspath(path))
            return real(path)
        return call
    monkeypatch.setattr(os, "listdir", noting(real_listdir))
    monkeypatch.setattr(os, "scandir", noting(real_scandir))
    targets = Listing(("out.txt",))
    assert snapshot.listing_digest("out", targets) == snapshot.REFUSED
    assert snapshot.listing_digest("lnk/sub", targets) == snapshot.REFUSED
    assert snapshot.listing_digest("real", targets).startswith("entries:")
    assert listed == []   # listed by descriptor only, never through a link
    taken = snapshot.take(KEY, [], 1, later(), listings={"out": targets, "real": targets})
    assert snapshot.refused_listing(taken) == "out"
    assert snapshot.refused_listing(snapshot.take(KEY, [], 1, later(),
                                                  listings={"real": targets})) is None


def test_the_check_hands_the_recording_every_stat_once_something_changed(tmp_path):
    paths = make(tmp_path, a="1", b="2", c="3")
    taken = snapshot.take(KEY, paths, 3, later())
    (tmp_path / "a").write_text("changed")
    now: list = []
    assert snapshot.first_change(taken, KEY, into=now) == f"{paths[0]} changed since the last run"
    assert now == snapshot.sweep(tuple(paths))   # past the first change too
    nothing: list = []
    taken = snapshot.take(KEY, paths, 3, later())
    assert snapshot.first_change(taken, KEY, into=nothing) is None and nothing == []


def test_the_recording_sweeps_again_only_where_the_run_wrote(tmp_path):
    """A path the run did not declare writing keeps the check's stat; if the run
    wrote it all the same, the next check sees that stat gone: never missed."""
    declared, undeclared, new = make(tmp_path, d="1", u="2", n="3")
    earlier = snapshot.Sweep(dict(zip([declared, undeclared], snapshot.sweep((declared,
                                                                               undeclared)))),
                             later())   # nothing was racy when the check swept
    time.sleep(0.05)   # past the clock tick of the first writes
    (tmp_path / "d").write_text("written, declared")
    (tmp_path / "u").write_text("written, undeclared")
    written = snapshot.Written(frozenset({declared}))
    taken = snapshot.take(KEY, [declared, undeclared, new], 3, time.time_ns(),
                          earlier=earlier, written=written)
    assert list(taken.stats) == [snapshot.file_stat(declared), earlier.stats[undeclared],
                                 snapshot.file_stat(new)]   # a path the check had not swept
    assert snapshot.first_change(taken, KEY) == f"{undeclared} changed since the last run"


def test_the_recording_sweeps_again_directories_and_what_was_racy(tmp_path):
    (tmp_path / "d").mkdir()
    inner, racy_file = str(tmp_path / "d" / "x"), str(tmp_path / "r")
    (tmp_path / "d" / "x").write_text("1")
    (tmp_path / "r").write_text("1")
    directory = str(tmp_path / "d")
    paths = (directory, inner, racy_file)
    stats = snapshot.sweep(paths)
    # `r` was written just before the check: racy then, swept again
    earlier = snapshot.Sweep({directory: stats[0], inner: stats[1], racy_file: stats[2]},
                             time.time_ns())
    time.sleep(0.05)
    (tmp_path / "d" / "y").write_text("a file nobody declared")
    (tmp_path / "r").write_text("2")
    again = snapshot.swept_again(paths, earlier, snapshot.Written(frozenset()),
                                 racy.fine_devices())
    assert again[0] == snapshot.file_stat(directory) != stats[0]   # holds `inner`
    assert again[2] == snapshot.file_stat(racy_file)


def test_the_checks_sweep_is_kept_for_its_run_and_directory_only(tmp_path, monkeypatch):
    [path] = make(tmp_path, a="1")
    monkeypatch.chdir(tmp_path)
    swept = snapshot.Sweep({"a": snapshot.file_stat("a")}, time.time_ns())
    snapshot.starting(swept)
    try:
        assert snapshot.start_stat("a") == swept.stats["a"] == snapshot.file_stat(path)
        assert snapshot.start_stat("b") is snapshot.NOT_SWEPT
        monkeypatch.chdir(tmp_path.parent)
        assert snapshot.start_stat("a") is snapshot.NOT_SWEPT   # another project's "a"
    finally:
        snapshot.starting(None)
    monkeypatch.chdir(tmp_path)
    assert snapshot.start_stat("a") is snapshot.NOT_SWEPT
