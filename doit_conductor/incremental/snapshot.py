"""The no-op snapshot: what one sweep of file stats must find for a run to be a no-op.

At the end of a successful run whose every selected task was then up to date,
`take` records the stats of every file and directory that run's up-to-date
verdicts rest on (see `fast_noop` for which).  The next run with the same key
sweeps the same paths; if every stat is as recorded (`first_change` is None),
nothing those verdicts rest on changed, so every task is still up to date and
there is nothing to generate, dispatch or check.

A stat is (mtime_ns, ctime_ns, size, inode, device), or None for a path that
did not exist.  ctime cannot be set by tools that restore mtimes (tar, rsync -t, touch
-d), and a replaced file gets a new inode, so this is stricter than doit's own
checkers, which trust an unchanged mtime.  A stat can still miss a write made
within the file system's timestamp granularity after it was taken ("racy" in
git's terms), so entries whose mtime or ctime fall within their device's racy
window before the snapshot was started (`racy`: 50 ms on local Linux file
systems, else 2.5 s) are also recorded by content (xxh3 of a file, of a
directory's sorted listing) and checked by content too.

Some directories matter only for some of their entries (`Listing`): the
directory of a target (doit asks only that the target exists) and a directory
Python imports from (an entry that could shadow a module).  Their stat is swept
like any other, but a changed stat counts only when the entries that matter
changed, so a file the user writes next to them (`report.html` in the project
root) does not count as a change.

Pure apart from `os.stat` (a sweep of 16,384+ paths split with a forked
child: `forked_sweep`), reading the files it hashes and the encoding: no doit.
"""
from __future__ import annotations

import contextlib
import importlib.machinery
import os
import stat
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import xxhash

from doit_conductor import safe_fs
from doit_conductor.errors import UserError
from doit_conductor.fsio import read_bytes
from doit_conductor.incremental import forked_sweep, racy
from doit_conductor.sealed import seal, unseal

SCHEMA_VERSION = 4   # 4: stats packed (`PackedStats`); 3: `Listing`
MAGIC = b"conductor-noop-snapshot 1 "

Stat = tuple[int, int, int, int, int]   # mtime_ns, ctime_ns, size, inode, device
# What an entry's name ends with for Python to import it (source, bytecode,
# extension modules), and the start-up files `site` reads.
_IMPORTABLE_SUFFIXES = (*importlib.machinery.all_suffixes(), ".pth")


@dataclass(frozen=True, slots=True)
class Listing:
    """The entries of a directory that a run's verdicts rest on: `names` (the
    targets in it, whose existence doit checks; sorted) and, with `modules`, every
    entry Python could import from it (the directory is on the import path)."""

    names: tuple[str, ...] = ()
    modules: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The stats one sweep must find again for the recorded run to be a no-op."""

    key: tuple[str, ...]                # what was run: directory, selection, interpreter, ...
    paths: tuple[str, ...]
    stats: Sequence[Stat | None]        # per path; None: did not exist (decoded: PackedStats)
    contents: dict[str, str]            # racy path -> digest of its content
    tasks: int                          # how many tasks the verdict covers
    started_ns: int                     # wall clock before the sweep
    # directory -> (which entries matter, digest of those entries); its stat is
    # in `paths` too, and a changed stat is a change only if the digest is
    listings: dict[str, tuple[Listing, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Declined:
    """Why the last run left no snapshot (said by the next run at `-v 2`)."""

    key: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Sweep:
    """Every path of the last snapshot as the check at the start of a run found
    it (`first_change(..., into=)`), the start of the same run's recording."""

    stats: dict[str, Stat | None]       # by path
    started_ns: int                     # wall clock before the check's sweep


@dataclass(frozen=True, slots=True)
class Written:
    """Where a run may have written: `paths` exactly, and everything below each
    directory of `under` (each ending with "/")."""

    paths: frozenset[str]
    under: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Listed:
    """A directory as a run listed it: its stat just before, and its names
    (None: it could not be listed)."""

    stat: "Stat | None"
    names: frozenset[str] | None


def listed_now(path: str) -> Listed:
    """`path`'s stat, then its names (an entry added in between shows in the
    names only: the stat is the older)."""
    stat_before = file_stat(path)
    return Listed(stat_before, _names(path))


def _names(path: str) -> frozenset[str] | None:
    try:
        return frozenset(safe_fs.unnoted_names(path)[0])
    except (OSError, UserError):
        return None


def file_stat(path: str) -> Stat | None:
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino, info.st_dev)


# A stat packed as 40 bytes, so a decoded snapshot holds one bytes object for
# its stats instead of five ints per path (at 10,000 patterns marshal built
# 238,000 ints in 13 ms of every check, the ns times as multi-digit longs), and
# a sweep is compared chunk by chunk as bytes.  A time past 2262 does not fit:
# such a sweep keeps the tuples (`pack_stats` answers None).
_ROW = struct.Struct("<qqQQQ")
_ABSENT = b"\xff" * _ROW.size   # no real stat: its size would be 2**64 - 1
_ABSENT_ROW = _ROW.unpack(_ABSENT)


class PackedStats(Sequence):
    """The stats of a decoded snapshot, per path, packed; reads as a tuple of
    `Stat | None` (a slice as a tuple)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        if len(data) % _ROW.size:
            raise ValueError("packed stats of a partial row")
        self.data = data

    def __len__(self) -> int:
        return len(self.data) // _ROW.size

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(map(self._row, range(*index.indices(len(self)))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._row(index)

    def __iter__(self) -> Iterator[Stat | None]:
        for row in _ROW.iter_unpack(self.data):
            yield None if row == _ABSENT_ROW else row

    def _row(self, index: int) -> Stat | None:
        start = index * _ROW.size
        row = self.data[start:start + _ROW.size]
        return None if row == _ABSENT else _ROW.unpack(row)

    def chunk(self, start: int, end: int) -> bytes:
        return self.data[start * _ROW.size:end * _ROW.size]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedStats):
            return self.data == other.data
        return isinstance(other, (tuple, list)) and tuple(self) == tuple(other)

    __hash__ = None


def pack_stats(stats: Iterable[Stat | None]) -> bytes | None:
    """The stats packed, or None if one does not fit (a time past 2262)."""
    try:
        return b"".join([_ABSENT if row is None else _ROW.pack(*row) for row in stats])
    except struct.error:
        return None


def _packed_stat(path: str) -> bytes:
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return _ABSENT
    return _ROW.pack(info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino, info.st_dev)


def _packed_sweep(paths: Sequence[str]) -> bytes | None:
    """`sweep`, packed (no tuple per path), or None if a stat does not fit."""
    try:
        return b"".join(map(_packed_stat, paths))
    except struct.error:
        return None


def is_recent(stat: Stat, started_ns: int, fine: frozenset[int]) -> bool:
    """Whether a write after `started_ns` could leave `stat` as it is: its mtime
    or ctime falls within its device's racy window before it (see `racy`)."""
    return max(stat[0], stat[1]) >= started_ns - racy.window_ns(stat[4], fine)


def sweep(paths: tuple[str, ...]) -> list[Stat | None]:
    """The stat of every path, in order (a long sweep on two cores)."""
    if forked_sweep.usable(len(paths)):
        return forked_sweep.split_sweep(paths, _sweep_here, _packed_sweep, _unpacked)
    return _sweep_here(paths)


def _sweep_here(paths: Sequence[str]) -> list[Stat | None]:
    return [file_stat(path) for path in paths]


def _unpacked(data: bytes) -> list[Stat | None]:
    return [None if row == _ABSENT_ROW else row for row in _ROW.iter_unpack(data)]


def content_digest(path: str) -> str | None:
    """xxh3 of a file's bytes or of a directory's sorted listing; None if absent.
    Anything else (a link, a FIFO: never read) digests as its type, so that it
    differs from any content."""
    try:
        # Raw reads: racy entries are every file just written, thousands a run.
        return xxhash.xxh3_64_hexdigest(read_bytes(path))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except UserError:
        info = safe_fs.lstat(path)
    if info is None:
        return None
    if stat.S_ISDIR(info.st_mode):
        return "dir:" + xxhash.xxh3_64_hexdigest("\0".join(
            e.name for e in safe_fs.entries(path)).encode("utf-8", "surrogateescape"))
    return f"special:{stat.S_IFMT(info.st_mode):o}"


def importable(entry: os.DirEntry) -> bool:
    """Whether Python could import something from this directory entry (a
    module, a package or namespace directory, an extension) or `site` reads it."""
    name = entry.name
    if name.endswith(".pth"):
        return True
    if not name.split(".", 1)[0].isidentifier():
        return False
    if "." not in name:
        try:
            return entry.is_dir()
        except OSError:
            return True
    return name.endswith(_IMPORTABLE_SUFFIXES)


# The digest of a target directory that is a link, or is reached through one: it
# is never listed, and the recording declines (`refused_listing`), so no
# snapshot rests on it and no later listing equals it.
REFUSED = "refused"


def listing_digest(path: str, listing: Listing) -> str:
    """xxh3 of the sorted entries of directory `path` that `listing` says matter
    ("" if it is missing; REFUSED for a target directory that is a link or
    below one).  A directory Python imports from is listed as the import
    system reads it, links followed (a venv's site-packages may be one)."""
    return _scan(path, listing)[0]


def _scan(path: str, listing: Listing) -> tuple[str, list[str]]:
    """(`listing_digest`, the targets in it that are symbolic links).  A link
    counts as another entry than a file of its name: doit asks whether a
    target exists through it (a dangling one does not), so `take` watches
    such a target by its stat too."""
    try:
        if listing.modules:
            wanted = set(listing.names)
            with os.scandir(path) as entries:
                kept = sorted((entry.name, entry.name in wanted and entry.is_symlink())
                              for entry in entries if entry.name in wanted or importable(entry))
        else:
            # names alone, and no sort: `listing.names` is sorted (a target
            # directory of 10,000 entries: 5 ms instead of 8)
            names, links = safe_fs.unnoted_names(path)
            present = set(names)
            kept = [(name, name in links) for name in listing.names if name in present]
    except (FileNotFoundError, NotADirectoryError):
        return "", []
    except UserError:
        return REFUSED, []
    # "/" cannot be part of a name: a link's entry differs from any file's
    digest = "entries:" + xxhash.xxh3_64_hexdigest("\0".join(
        "/" + name if link else name for name, link in kept).encode("utf-8", "surrogateescape"))
    return digest, [name for name, link in kept if link]


def take(key: tuple[str, ...], paths: list[str], tasks: int, started_ns: int,
         fine: frozenset[int] = frozenset(),
         listings: Mapping[str, Listing] | None = None,
         earlier: Sweep | None = None, written: Written | None = None,
         listed: Mapping[str, Listed] | None = None) -> Snapshot:
    """Sweep `paths` and the directories of `listings` now; `started_ns` (the
    wall clock read before this call and before the verdicts it records were
    reached) decides which entries are racy, with the window of each one's
    device (`fine`: the fine-grained devices).  A directory that is also in
    `paths` is watched whole: its listing entry is dropped.  A target found to
    be a symbolic link joins the paths swept.  With `earlier` (the run's check)
    and `written` (where the run may have written), only those paths, the ones
    `earlier` did not sweep and those racy then are swept again
    (`swept_again`).  `listed`: directories of `paths` as the run listed
    them; one whose names differ now is recorded with its stat from before
    that listing (`as_listed`)."""
    whole = set(paths)
    listings = {path: listing for path, listing in (listings or {}).items()
                if path not in whole}
    ordered = tuple(dict.fromkeys([*paths, *sorted(listings)]))
    if earlier is None or written is None:
        stats = tuple(sweep(ordered))
    else:   # a listing directory's entries are scanned now: its stat is taken now too
        stats = tuple(swept_again(ordered, earlier,
                                  Written(written.paths | listings.keys(), written.under), fine))
    # listed after their stat was taken: an entry added in between moves the
    # stat the next check compares
    scans = {path: _scan(path, listing) for path, listing in listings.items()}
    digests = {path: (listings[path], digest) for path, (digest, _) in scans.items()}
    # a target that is a link is also watched by its stat, which follows it: the
    # file it points to gone is a change, as it is to doit
    linked = tuple(dict.fromkeys(
        target for directory, (_, names) in scans.items() for name in names
        if (target := name if directory == "." else os.path.join(directory, name))
        not in whole and target not in listings))
    if linked:
        ordered, stats = ordered + linked, stats + tuple(sweep(linked))
    # nothing older than the widest racy window can be recent: most entries
    # are settled by one comparison
    earliest = started_ns - racy.COARSE_NS
    as_listed = _as_listed(ordered, listed or {})
    if as_listed:
        stats = tuple(as_listed.get(path, stat) for path, stat in zip(ordered, stats))
    contents = {path: _digest_now(path, digests) or "" for path, stat in zip(ordered, stats)
                if stat is not None and (stat[0] >= earliest or stat[1] >= earliest)
                and is_recent(stat, started_ns, fine)}
    for path in as_listed.keys() & contents.keys():
        # what it held when listed is not known now: the next check walks
        contents[path] = UNKNOWN
    return Snapshot(key, ordered, stats, contents, tasks, started_ns, digests)


# A racy entry's digest that no content has.
UNKNOWN = "unknown"


def _as_listed(paths: tuple[str, ...], listed: Mapping[str, Listed]
               ) -> dict[str, Stat | None]:
    """The stat to record of each listed directory among `paths` whose names
    are not those its listing found: the one from before that listing.  What
    the run made of the listing (the tasks a creator made from a glob) rests
    on those names; recorded with a later stat, a file added since (by a task,
    or by hand while the run went on) would be no change to the next check,
    and no run would ever see it."""
    whole = set(paths)
    changed = {}
    for path, then in listed.items():
        if path in whole and _names(path) != then.names:
            changed[path] = then.stat
    return changed


_UNSWEPT = object()


def swept_again(paths: tuple[str, ...], earlier: Sweep, written: Written,
                fine: frozenset[int]) -> list[Stat | None]:
    """The stat of every path at the end of a run whose check swept `earlier`:
    swept again where the run may have written (`written`), where `earlier`
    has none, and where `earlier`'s was racy then, and every directory holding
    another of the paths (files come and go in one without being declared:
    a temporary file, a record dropped); `earlier`'s elsewhere.

    A path written after the check without being swept again keeps its
    earlier stat in the snapshot.  No later stat equals that one (ctime moves
    with every write and only grows; a stat not racy when taken cannot be left
    as it was by a later write), so the next check sees a change: a write the
    run did not declare costs the next run its fast no-op, and is never
    missed."""
    known = earlier.stats
    stats = [known.get(path, _UNSWEPT) for path in paths]
    # nothing older than the widest racy window can be recent
    earliest = earlier.started_ns - racy.COARSE_NS
    exact = written.paths | {path.rpartition("/")[0] for path in paths}
    under = written.under
    again = [index for index, (path, row) in enumerate(zip(paths, stats))
             if row is _UNSWEPT or path in exact or path.startswith(under)
             or (row is not None and (row[0] >= earliest or row[1] >= earliest)
                 and is_recent(row, earlier.started_ns, fine))]
    for index, row in zip(again, sweep(tuple(paths[index] for index in again))):
        stats[index] = row
    return stats


def refused_listing(taken: Snapshot) -> str | None:
    """A watched target directory `take` refused to list, if any."""
    return next((path for path, (_, digest) in taken.listings.items() if digest == REFUSED),
                None)


# The stats `take` just swept, while the recording asks doit for the verdicts
# the snapshot will stand for (`judging`).  A check that stats many watched
# paths may read them here instead (`judged_stat`): its verdict is then about
# exactly the stats recorded, as the next run's check compares them.
_JUDGED: dict[str, Stat | None] = {}
NOT_SWEPT = object()


@contextlib.contextmanager
def judging(taken: Snapshot) -> Iterator[None]:
    _JUDGED.update(zip(taken.paths, taken.stats))
    try:
        yield
    finally:
        _JUDGED.clear()


# The stats the check at the start of this run swept, with the directory they
# are relative to, for a check in the walk whose paths no task of the run can
# have written yet (`start_stat`).
_started: tuple[str, dict[str, Stat | None]] | None = None


def starting(swept: Sweep | None) -> None:
    """Keep `swept` for the run in this directory (None: forget it)."""
    global _started
    _started = None if swept is None else (os.getcwd(), swept.stats)


def start_stat(path: str) -> Stat | None | object:
    """The stat the run's check swept for `path` (None: it did not exist), or
    NOT_SWEPT.  Only for a path that no task the run executed before the
    caller asks can have written."""
    if _started is None or _started[0] != os.getcwd():
        return NOT_SWEPT
    return _started[1].get(path, NOT_SWEPT)


def swept_stats() -> Mapping[str, Stat | None]:
    """What `judged_stat` and then `start_stat` answer from, for a check that
    looks up many paths: the recording's sweep while `judging`, else the run's
    check's in its directory, else nothing."""
    if _JUDGED:
        return _JUDGED
    if _started is not None and _started[0] == os.getcwd():
        return _started[1]
    return {}


def judged_stat(path: str) -> Stat | None | object:
    """The stat swept for `path` while `judging` (None: it did not exist), or
    NOT_SWEPT: stat it yourself."""
    return _JUDGED.get(path, NOT_SWEPT)


def _digest_now(path: str, listings: Mapping[str, tuple[Listing, str]]) -> str | None:
    """What a racy entry's content is compared by: the entries that matter of a
    listing directory, else the whole content."""
    if path in listings:
        return listing_digest(path, listings[path][0])
    return content_digest(path)


# Paths swept between two comparisons with the snapshot: a run with something
# to do (an edit) stops at the chunk holding the first change instead of
# stat-ing every watched path; within a chunk the rows are compared in C
# (at 10,000 patterns, 47,751 paths: 95 ms instead of 106 path by path).
CHUNK = 2048


def first_change(snapshot: Snapshot, key: tuple[str, ...],
                 current: list[Stat | None] | None = None,
                 moved: dict[str, Stat | None] | None = None,
                 into: list[Stat | None] | None = None) -> str | None:
    """What differs from the snapshot (one line), or None: nothing did.

    `current` is a sweep of `snapshot.paths` made after the snapshot; swept here
    if not given.  `moved`, if given, receives the listing directories whose
    stat moved while none of the entries that matter changed (path -> new stat).
    `into`, if given, receives the stat of every path now when something
    differs: every path is swept, in one pass, before any is compared (the
    start of the run's recording: `swept_again`)."""
    if snapshot.key != key:
        return "the command line, directory or interpreter differs from the last run's"
    paths, stats = snapshot.paths, snapshot.stats
    packed = stats if isinstance(stats, PackedStats) and current is None else None
    whole = _whole_sweep(paths) if packed is not None and into is not None else None
    begin = 0
    if packed is not None and whole is None and forked_sweep.usable(len(paths)):
        begin = forked_sweep.first_differing_chunk(paths, packed.chunk, _packed_sweep, CHUNK)
        if begin is None:
            begin = len(paths)   # every stat as recorded: only the racy contents are left
    change = None
    for start in range(begin, len(paths), CHUNK):
        end = start + CHUNK
        if whole is not None:
            swept = whole[start * _ROW.size:end * _ROW.size]
        else:
            swept = _packed_sweep(paths[start:end]) if packed is not None else None
        if swept is not None and swept == packed.chunk(start, end):
            continue
        # a differing chunk is compared path by path, by the stats just swept
        # (each path is stat-ed once: an edit's check stops in this chunk)
        if current is not None:
            rows = tuple(current[start:end])
        elif swept is not None:
            rows = tuple(_unpacked(swept))
        else:
            rows = tuple(map(file_stat, paths[start:end]))
        recorded = tuple(stats[start:end])
        if rows != recorded:
            change = _changed_row(snapshot, paths[start:end], recorded, rows, moved)
            if change is not None:
                break
    if change is None:
        for path, digest in snapshot.contents.items():
            if (_digest_now(path, snapshot.listings) or "") != digest:
                change = f"{path} changed since the last run"
                break
    if change is not None and into is not None:
        into[:] = _unpacked(whole) if whole is not None else sweep(paths)
    return change


def _whole_sweep(paths: tuple[str, ...]) -> bytes | None:
    """Every path's stat packed, on two cores for a long sweep (None: one did
    not pack)."""
    if forked_sweep.usable(len(paths)):
        return forked_sweep.packed_sweep(paths, _packed_sweep)
    return _packed_sweep(paths)


def _changed_row(snapshot: Snapshot, paths: Sequence[str], recorded: tuple, rows: tuple,
                 moved: dict[str, Stat | None] | None) -> str | None:
    """The first of `paths` whose stat in `rows` is a change from `recorded`
    (one line), or None."""
    for path, old, new in zip(paths, recorded, rows):
        if old == new:
            continue
        if path in snapshot.listings and new is not None and old is not None:
            listing, digest = snapshot.listings[path]
            if listing_digest(path, listing) == digest:
                if moved is not None:
                    moved[path] = new
                continue   # only entries that do not matter came or went
        what = "appeared" if old is None else "is gone" if new is None else "changed"
        return f"{path} {what} since the last run"
    return None


def encode(record: Snapshot | Declined) -> bytes:
    """A checksummed marshal document (marshal: 10,000 patterns' paths load in ms)."""
    if isinstance(record, Declined):
        document = {"schema_version": SCHEMA_VERSION, "key": record.key, "declined": record.reason}
    else:
        packed = record.stats.data if isinstance(record.stats, PackedStats) \
            else pack_stats(record.stats)
        document = {"schema_version": SCHEMA_VERSION, "key": record.key, "paths": record.paths,
                    "stats": tuple(record.stats) if packed is None else packed,
                    "contents": record.contents, "tasks": record.tasks,
                    "started_ns": record.started_ns,
                    "listings": {path: (listing.names, listing.modules, digest)
                                 for path, (listing, digest) in record.listings.items()}}
    return seal(MAGIC, document)


def decode(raw: bytes) -> Snapshot | Declined | None:
    """The record in `raw`, or None if it is not one this version wrote intact."""
    try:
        document = unseal(MAGIC, raw)
        if document["schema_version"] != SCHEMA_VERSION:
            return None
        if "declined" in document:
            return Declined(tuple(document["key"]), str(document["declined"]))
        listings = {str(path): (Listing(tuple(names), bool(modules)), str(digest))
                    for path, (names, modules, digest) in document["listings"].items()}
        stats = document["stats"]
        stats = PackedStats(stats) if isinstance(stats, bytes) else tuple(stats)
        if len(document["paths"]) != len(stats):
            return None   # zip would pass over the paths without a stat
        return Snapshot(tuple(document["key"]), tuple(document["paths"]),
                        stats, dict(document["contents"]),
                        int(document["tasks"]), int(document["started_ns"]), listings)
    except (ValueError, KeyError, TypeError, EOFError, UnicodeDecodeError):
        return None
