"""Workflow state on disk: one writer, one reader, one error policy.

Every state file under `.conductor/state/`, every codegen batch record and
`compile.manifest` is written by `write_state` as a JSON envelope

    {"digest":"<xxh3-128 of the state bytes>","state":<the state, canonical JSON>}

and read back by `read_state`, which checks the digest over the bytes *before*
parsing them, then the shape the caller expects.  A file that fails either is
never used: `read_state` removes it and raises `StateError`; `sweep` (run
before a run opens the dependency DB) removes every such file with one warning
each, so doit sees the producing task's target missing and runs that task again.

The digest is a checksum, not a signature: it catches damage and hand edits
(valid JSON or not), not someone who recomputes it on purpose (see
docs/reliability.md, threat model).  The functions take and return plain JSON
data, so typed codecs (records, plan, config) sit on top of them.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Callable
from pathlib import Path

import xxhash

from doit_conductor import safe_fs
from doit_conductor.errors import UserError
from doit_conductor.fsio import dump_json, load_json, write_if_changed

_PREFIX = b'{"digest":"'
_MIDDLE = b'","state":'
_DIGEST_LEN = 32  # xxh3-128, hex


class StateError(UserError):
    """A state file that is missing, damaged or not of the expected shape."""


def encode_state(data: object) -> bytes:
    payload = dump_json(data)[:-1]  # without the newline; the envelope ends the line
    raw = envelope(payload)
    keep(raw_digest(raw), len(payload), data)
    return raw


def envelope(payload: bytes) -> bytes:
    """The state file holding `payload`, canonical JSON (`encode_state`) or
    JSON its writer made (`state_entries`)."""
    return _PREFIX + xxhash.xxh3_128_hexdigest(payload).encode() + _MIDDLE + payload + b"}\n"


def verified_payload(raw: bytes) -> bytes:
    """The JSON inside an envelope, its digest checked; ValueError saying what is wrong."""
    head = len(_PREFIX) + _DIGEST_LEN
    if not (raw.startswith(_PREFIX) and raw[head:head + len(_MIDDLE)] == _MIDDLE
            and raw.endswith(b"}\n")):
        raise ValueError("not a conductor state file")
    payload = raw[head + len(_MIDDLE):-2]
    if xxhash.xxh3_128_hexdigest(payload).encode() != raw[len(_PREFIX):head]:
        raise ValueError("digest mismatch: changed since it was written")
    return payload


def decode_state(raw: bytes) -> object:
    """The state inside an envelope; ValueError saying what is wrong."""
    payload = verified_payload(raw)
    digest = raw_digest(raw)
    known = kept(digest)
    if known is not None:
        return known
    data = load_json(payload)
    keep(digest, len(payload), data)
    return data


# The library-sized documents of a run (the pattern index, the plan, the
# manifest, the output memo: megabytes each at 1,000 patterns, ten times that
# at 10,000) are read by several tasks and checks of one run, and some are read
# right after this process wrote them.  Decoded once: by the digest of their
# bytes, which `decode_state` has just checked against the bytes, so a file
# rewritten or rolled back is decoded afresh.  Their readers treat what they
# get as read-only.  Small documents are decoded every time.
LARGE = 512 * 1024
# At most this much JSON is kept decoded, the least recently used let go first:
# at 10,000 patterns an edit's run meets the old and the new index, plan and
# manifest (about 10 MB each) and the output memo, and the manifest is read
# again after both plans; a few hundred MB of objects at most.
BUDGET = 48 * 1024 * 1024
_documents: dict[bytes, tuple[int, object]] = {}
_shapes_checked: set[tuple[bytes, str]] = set()


def keep(key: bytes, size: int, data: object) -> None:
    """Keep `data`, decoded from `size` bytes of JSON, under `key` (the digest of
    those bytes, or a key derived from it), if it is library-sized."""
    if size < LARGE:
        return
    _documents.pop(key, None)
    _documents[key] = (size, data)
    kept_size = sum(size for size, _ in _documents.values())
    while kept_size > BUDGET and len(_documents) > 1:
        oldest = next(iter(_documents))
        kept_size -= _documents.pop(oldest)[0]


def kept(key: bytes) -> object | None:
    """What `keep` kept under `key`, or None."""
    known = _documents.pop(key, None)
    if known is None:
        return None
    _documents[key] = known   # now the most recently used
    return known[1]


def raw_digest(raw: bytes) -> bytes:
    """The digest an envelope's bytes carry (unchecked: see `verified_payload`)."""
    return raw[len(_PREFIX):len(_PREFIX) + _DIGEST_LEN]


def forget_decoded() -> None:
    """Let the kept documents go, at the end of a run: freed here by their
    reference counts they cost less than at interpreter exit, where they would
    also lengthen the final garbage collection (0.3-0.4 s of a 10,000-pattern
    edit)."""
    _documents.clear()


def envelope_digest(path: str | os.PathLike) -> str | None:
    """The digest a state file's envelope carries (its content's), read from its
    first bytes alone; None when the file is missing or is not an envelope.
    Cheap enough to check every state file a task wrote on every run."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        head = os.read(fd, len(_PREFIX) + _DIGEST_LEN)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not head.startswith(_PREFIX) or len(head) != len(_PREFIX) + _DIGEST_LEN:
        return None
    return head[len(_PREFIX):].decode("ascii", "replace")


def write_state(path: str | os.PathLike, data: object) -> bool:
    """Atomically write `data` as the state file `path` unless it already holds it;
    True when written (an unchanged file keeps its mtime)."""
    return write_if_changed(path, encode_state(data))


Shape = Callable[[object], bool]


def read_state(path: str | os.PathLike, shape: Shape | None = None) -> object:
    """The state `path` holds, verified (digest, then `shape`, default: the shape
    registered for that file).  A bad file is removed, so the next `doit` runs
    the task that produces it; the error is one line naming it."""
    path = os.fspath(path)
    problem, data = _checked(path, read_raw(path), shape)
    if problem is not None:
        raise refused(path, problem)
    return data


def read_raw(path: str) -> bytes:
    """The bytes of state file `path`; StateError if missing or unreadable."""
    try:
        return safe_fs.read_bytes(path)
    except (FileNotFoundError, NotADirectoryError):
        raise StateError("workflow state is missing; run the whole workflow with `doit`",
                         path) from None
    except OSError as exc:
        raise StateError(f"workflow state is unreadable ({exc.strerror})", path) from None
    except UserError as exc:  # a link, a FIFO: never read
        raise StateError(f"workflow state is unreadable ({exc.message})", path) from None


def refused(path: str, problem: str) -> StateError:
    """Remove state file `path`, which must not be used (`problem` says why): the
    error to raise."""
    if _is_state_path(path):  # never delete a file we do not own
        safe_fs.unlink(path)
    return StateError(f"workflow state was unreadable ({problem}) and is removed; "
                      "the next `doit` rebuilds it", path)


def _is_state_path(path: str) -> bool:
    parts = os.path.normpath(path).split(os.sep)
    return ".conductor" in parts[:-1]


def problem_with(path: str, raw: bytes, shape: Shape | None = None,
                 output_dir: str | None = None) -> str | None:
    """Why the bytes of state file `path` must not be used, or None."""
    return _checked(path, raw, shape, output_dir)[0]


def _checked(path: str, raw: bytes, shape: Shape | None = None,
             output_dir: str | None = None) -> tuple[str | None, object]:
    """(why the bytes must not be used or None, the state they hold): decoded
    once, a megabyte-sized index being read several times a run."""
    try:
        data = decode_state(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return (str(exc).splitlines()[0] if str(exc) else type(exc).__name__), None
    # a large document already found in the shape its file kind needs is not
    # walked again (the default shapes depend on the path's last three parts)
    checked = None
    if shape is None and output_dir is None and len(raw) >= LARGE:
        checked = (raw[len(_PREFIX):len(_PREFIX) + _DIGEST_LEN],
                   "/".join(os.path.normpath(path).split(os.sep)[-3:]))
        if checked in _shapes_checked:
            return None, data
    shape = shape or shape_for(path, output_dir)
    try:
        if shape is not None and not shape(data):
            return "not the shape this file has", None
    except (TypeError, KeyError, AttributeError):
        return "not the shape this file has", None
    if checked is not None:
        _shapes_checked.add(checked)
    return None, data


# -- shapes ------------------------------------------------------------------

def _str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _dict_of(value: object, item: Shape) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and item(v)
                                           for k, v in value.items())


def pattern_entry(value: object) -> bool:
    """The shape of a validated pattern (an entry of the pattern index)."""
    return (isinstance(value, dict) and isinstance(value.get("name"), str)
            and isinstance(value.get("kind"), str) and isinstance(value.get("source"), str)
            and isinstance(value.get("params"), dict) and _str_list(value.get("depends_on")))


def _plan_entry(value: object) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("name"), str)
            and isinstance(value.get("source"), str) and _str_list(value.get("templates"))
            and _str_list(value.get("depends_on")) and _str_list(value.get("dep_sources"))
            and isinstance(value.get("outputs"), list)
            and all(isinstance(o, dict) and isinstance(o.get("path"), str)
                    and isinstance(o.get("template"), str) for o in value["outputs"]))


def _file_entry(value: object) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("checksum"), str)
            and isinstance(value.get("size"), int) and isinstance(value.get("mtime_ns"), int))


SHAPES: dict[str, Shape] = {
    "patterns.json": lambda d: isinstance(d, dict) and isinstance(d.get("kinds_digest"), str)
    and _dict_of(d.get("patterns"), pattern_entry),
    "pattern-graph.json": lambda d: _dict_of(d, lambda p: isinstance(p, dict)
                                             and isinstance(p.get("source"), str)
                                             and isinstance(p.get("kind"), str)
                                             and _str_list(p.get("depends_on"))
                                             and _str_list(p.get("refers_to"))),
    "order.json": _str_list,
    "plan.json": lambda d: isinstance(d, list) and all(_plan_entry(e) for e in d),
    "templates.json": lambda d: isinstance(d, dict) and isinstance(d.get("kinds"), dict)
    and _dict_of(d.get("templates"), lambda t: isinstance(t, dict)
                 and _str_list(t.get("closure")) and isinstance(t.get("digest"), str)),
    "codegen-settings.json": lambda d: isinstance(d, dict)
    and isinstance(d.get("output_dir"), str) and isinstance(d.get("templates_dir"), str),
    "scan.json": lambda d: isinstance(d, dict) and _str_list(d.get("hand_edited")),
    "compile.manifest": lambda d: isinstance(d, dict) and _dict_of(d.get("files"), _file_entry),
}


def plain_output_path(path: object, output_dir: str | None) -> bool:
    """A path a codegen record may name: plain, relative, normalised, and
    inside `output_dir` when it is known.  A record must never make us move or
    delete `dodo.py` or `../outside.txt`."""
    if not isinstance(path, str) or not path or os.path.isabs(path) or not path.isprintable():
        return False
    if os.path.normpath(path) != path or path.split("/")[0] in ("..", "."):
        return False
    return output_dir is None or path.startswith(os.path.normpath(output_dir) + "/")


def shape_for(path: str, output_dir: str | None = None) -> Shape | None:
    name = os.path.basename(path)
    parent = os.path.basename(os.path.dirname(path))
    grandparent = os.path.basename(os.path.dirname(os.path.dirname(path)))
    if parent == "batches" and grandparent == "cache":
        return lambda d: (isinstance(d, dict) and d.get("batch") == name[:-len(".json")]
                          and _dict_of(d.get("patterns"), lambda p: isinstance(p, dict)
                                       and isinstance(p.get("digest"), str)
                                       and _dict_of(p.get("files"), _file_entry)
                                       and all(plain_output_path(f, output_dir)
                                               for f in p["files"])))
    if parent == "batches":
        return lambda d: (isinstance(d, dict) and d.get("batch") == name[:-len(".json")]
                          and isinstance(d.get("patterns"), list)
                          and all(isinstance(p, dict) and isinstance(p.get("digest"), str)
                                  and _plan_entry(p.get("entry")) and pattern_entry(p.get("pattern"))
                                  and _dict_of(p.get("dependencies"), pattern_entry)
                                  for p in d["patterns"]))
    return SHAPES.get(name, lambda d: isinstance(d, (dict, list)))


# -- the sweep before a run ----------------------------------------------------

# The folders of `conductor_dir` that hold only files the workflow writes:
# state files (`write_state`, every `.json` name in them, and compile.manifest),
# and the reports of tasks 20-22.
_STATE_FOLDERS = ("state", "state/batches", "cache/batches")
_REPORTS = "reports"


def state_file_stats(conductor_dir: str) -> dict[str, os.stat_result]:
    """Every file `write_state` writes under `conductor_dir`, with its lstat from
    its directory's listing (one listing a directory, not a walk from the
    project root per file: 1,800 state files at 10,000 patterns)."""
    return _files(_workflow_entries(conductor_dir, _STATE_FOLDERS))


def _workflow_entries(conductor_dir: str, folders: tuple[str, ...]) -> list[safe_fs.Entry]:
    """What stands at the names of workflow files in `folders` (and at
    compile.manifest), whatever it is, each folder listed once.  A link at a
    folder itself gives nothing: the writers refuse it by name."""
    found = []
    for folder in folders:
        try:
            listed = safe_fs.entries(os.path.join(conductor_dir, folder))
        except UserError:
            continue
        found += [e for e in listed if not e.name.startswith(".")
                  and (folder == _REPORTS or e.name.endswith(".json"))]
    manifest = os.path.join(conductor_dir, "cache", "compile.manifest")
    info = _lstat(manifest)
    if info is not None:
        found.append(safe_fs.Entry("compile.manifest", manifest, safe_fs.kind_of(info.st_mode),
                                   info))
    return found


def _files(entries: list[safe_fs.Entry]) -> dict[str, os.stat_result]:
    """The regular files among `entries`, by path, with their lstat."""
    return dict(sorted((e.path, e.info) for e in entries if e.kind == safe_fs.FILE))


def _lstat(path: str) -> os.stat_result | None:
    try:
        return safe_fs.lstat(path)
    except (OSError, UserError):
        return None


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    """What changes whenever a file's bytes do: size, mtime, inode and ctime
    (which no one but the kernel sets, so a restored mtime does not hide an edit)."""
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def identities(conductor_dir: str) -> dict[str, tuple[int, int, int, int]]:
    """The identity of every state file now: saved with the dependency DB, so the
    next sweep verifies only the files that changed since."""
    return {path: _identity(info) for path, info in state_file_stats(conductor_dir).items()}


def sweep(conductor_dir: str, warn: Callable[[str], object],
          trusted: Mapping[str, tuple] | None = None) -> list[str]:
    """Remove every state file that fails its digest or shape, with one warning
    each; the tasks that produce them run again in this run (a missing file is
    a missing target, which doit sees itself).  A file whose identity is still
    the one `trusted` holds (saved when the last run ended) was verified then and
    is not read again.  Returns the removed paths."""
    removed = []
    trusted = trusted or {}
    entries = _workflow_entries(conductor_dir, (*_STATE_FOLDERS, _REPORTS))
    # Not a file (a link, a directory, a FIFO): its producer would be judged up
    # to date (doit's target check follows a link) while every reader refuses it.
    for entry in entries:
        if entry.kind == safe_fs.FILE:
            continue
        try:
            safe_fs.remove(entry.path)
        except (OSError, UserError):
            continue   # its reader refuses it by name
        removed.append(entry.path)
        warn(f"WARNING: {entry.path}: {safe_fs.describe(entry.info.st_mode)} where a file "
             "of the workflow's belongs; removed (nothing it points to is touched), rebuilt "
             "by the task that writes it\n")
    output_dir = planned_output_dir(Path(conductor_dir))
    reports = os.path.join(conductor_dir, _REPORTS, "")
    for path, info in _files(entries).items():
        if path.startswith(reports):
            continue   # published JSON, not in an envelope
        known = trusted.get(path)
        if known is not None and tuple(known) == _identity(info):
            continue
        try:
            raw = safe_fs.read_bytes(path)
        except (OSError, UserError):
            continue
        problem = problem_with(path, raw, output_dir=output_dir)
        if problem is not None:
            safe_fs.unlink(path)
            removed.append(path)
            warn(f"WARNING: {path}: {problem}; not used, rebuilt by the task that "
                 "writes it\n")
    return removed


def planned_output_dir(conductor_dir: Path) -> str | None:
    """The output directory the last plan wrote into (from its verified
    settings), relative to the project; None without one."""
    try:
        settings = decode_state(safe_fs.read_bytes(conductor_dir / "state" /
                                                   "codegen-settings.json"))
        output_dir = settings["output_dir"]
    except (OSError, ValueError, KeyError, TypeError, UserError):
        return None
    if not isinstance(output_dir, str) or os.path.isabs(output_dir) \
            or ".." in Path(output_dir).parts:
        return None
    return output_dir

