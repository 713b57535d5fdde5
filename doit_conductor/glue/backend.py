"""`conductor`: a doit dependency backend that is fast to open and safe to crash.

doit's default backend on Python 3.11 here is `dbm.dumb`, slow to open and not
crash-safe; its `json` backend rewrites the file in place.  This one keeps the
whole DB as one `marshal` document behind a checksummed header (`sealed.py`):

* opening is one read and one `marshal.loads` (2x faster than `json.loads` on a
  1,000-pattern DB, and saving 10x faster than `json.dumps`); the checksum is
  verified first, so damaged bytes never reach the decoder, and marshal builds
  plain data only, never runs code;
* saving happens only when something changed, through a temporary file, fsync
  and rename, so a crash leaves the previous DB or the new one, never a mix;
* a file whose checksum or contents do not verify is reported in one line, moved
  aside (`<name>.corrupt`) and replaced by an empty DB: every task re-runs,
  which is slow but never wrong.

The document also carries the xxhash checker's digest table (see `checker.py`).
"""
from __future__ import annotations

import errno
import os
import sys

from doit_conductor import safe_fs
from doit_conductor.errors import UserError
from doit_conductor.glue import checker
from doit_conductor.fsio import atomic_write
from doit_conductor.sealed import seal, unseal

MAGIC = b"conductor-db 2 "
OLD_FORMATS = (b"conductor-db 1 ",)


class ConductorDB:
    """doit backend interface: set/get/in_/remove/remove_all/dump."""

    desc = "single checksummed marshal file, atomic and crash-safe (doit-conductor)"

    def __init__(self, name, codec=None, *, module_name=None,
                 digests: checker.DigestTable | None = None):
        self.name = name
        self._changed = False
        # the checker's digest table: loaded and saved here (`checker.share_digests`)
        self.digests = checker.DigestTable() if digests is None else digests
        self._tasks, entries, verified = self._read_file()
        self.digests.load(entries)
        # identities of the state files as last verified; recomputed at the save
        # only by a run, which swept them first (another command trusts nothing new)
        self._verified = verified
        self._swept = False
        # tasks whose values this process set or removed (the tasks a run
        # executed): the fast no-op's recording sweeps again only their targets;
        # None once every task's were removed
        self.saved: set[str] | None = set()

    def sweep_state(self) -> None:
        """Remove state files that fail their digest or shape, so their tasks run again.

        Called by the run command (under the run lock, before any task is
        judged); files unchanged since the last save were verified then and
        are skipped.  Other commands trust nothing new and do not sweep."""
        from doit_conductor.state_files import sweep
        self._swept = True
        sweep(self._state_dir, sys.stderr.write, trusted=self._verified)

    @property
    def _state_dir(self) -> str:
        from doit_conductor.layout import backend_dir
        return backend_dir(self.name)

    def _read_file(self) -> tuple[dict, dict, dict]:
        try:
            raw = safe_fs.read_bytes(self.name)
        except FileNotFoundError:
            return {}, {}, {}
        except UserError as exc:  # a link or a FIFO at the DB's name: never read
            self._quarantine(exc.message)
            return {}, {}, {}
        try:
            if raw.startswith(OLD_FORMATS):
                raise ValueError("written by an older doit-conductor")
            document = unseal(MAGIC, raw)
            tasks, digests = document["tasks"], document["digests"]
            verified = document.get("state_files", {})
            if not (isinstance(tasks, dict) and isinstance(digests, dict)
                    and isinstance(verified, dict)):
                raise ValueError("not a conductor DB")
        except (ValueError, KeyError, TypeError, EOFError, UnicodeDecodeError) as exc:
            self._quarantine(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return {}, {}, {}
        return tasks, digests, verified

    def _quarantine(self, reason: str) -> None:
        """Set the unreadable DB aside, renamed in its own directory, reached
        without following a link: a `.conductor` that is a link (or below one)
        is refused by name and nothing is moved, since doit's `list` and `info`
        read the DB without the run lock that refuses such a link first."""
        try:
            with safe_fs.parent(self.name) as (fd, name):
                aside = _set_aside(fd, name)
            done = f"moved to {os.path.join(os.path.dirname(self.name), aside)}"
        except UserError as exc:
            done = f"left where it is: {exc}"
        except FileNotFoundError:
            done = "gone since it was read"
        except OSError as exc:   # saved over at the end of the run
            done = f"left where it is ({exc.strerror})"
        sys.stderr.write(f"WARNING: {self.name}: unreadable dependency DB ({reason}); "
                         f"{done}; every task will re-run\n")
        self._changed = True

    def dump(self):
        self._save()

    def _save(self) -> None:
        if not (self._changed or self.digests.dirty):
            return
        if self._swept:
            from doit_conductor.state_files import identities
            # State files as this run leaves them (it wrote or verified each): the
            # next run's sweep reads only those whose identity changed since.
            self._verified = identities(self._state_dir)
        data = seal(MAGIC, {"tasks": self._tasks, "digests": self.digests.entries,
                            "state_files": self._verified})
        try:
            atomic_write(self.name, data, fsync=True)
        except UserError as err:  # .conductor/ is a symbolic link
            sys.stderr.write(f"ERROR: {err}; the dependency DB is not saved\n")
            return
        except OSError as exc:
            # A full or read-only disk: the previous DB is still whole (the
            # write is atomic), it only misses this run, whose tasks run again.
            sys.stderr.write(f"ERROR: {self.name}: cannot save the dependency DB "
                             f"({exc.strerror}); this run's tasks will run again\n")
            return
        self._changed = False
        self.digests.dirty = False

    def set(self, task_id, dependency, value):
        self._tasks.setdefault(task_id, {})[dependency] = value
        self._changed = True
        if self.saved is not None:
            self.saved.add(task_id)

    def get(self, task_id, dependency):
        values = self._tasks.get(task_id)
        return None if values is None else values.get(dependency)

    def in_(self, task_id):
        return task_id in self._tasks

    def remove(self, task_id):
        if self._tasks.pop(task_id, None) is not None:
            self._changed = True
        if self.saved is not None:
            self.saved.add(task_id)

    def items(self) -> list[tuple[str, dict]]:
        """(task, {dependency: value}) for every task, by name (what `doit dumpdb` shows)."""
        return sorted(self._tasks.items())

    def remove_all(self):
        self._tasks = {}
        self._changed = True
        self.saved = None


# What a rename cannot replace: a directory (a DB that was one, set aside before).
_TAKEN = (errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY, errno.EEXIST)


def _set_aside(fd: int, name: str) -> str:
    """Rename `name` (in the directory `fd`) to `<name>.corrupt`, or to the first
    free `<name>.corrupt-N` where something a rename cannot replace stands."""
    for number in range(100):
        aside = f"{name}.corrupt" + (f"-{number}" if number else "")
        try:
            os.replace(name, aside, src_dir_fd=fd, dst_dir_fd=fd)
            return aside
        except OSError as exc:
            if exc.errno not in _TAKEN:
                raise
    raise OSError(errno.EEXIST, "no free name to set it aside under")
