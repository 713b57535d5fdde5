"""A state document whose one large mapping is written one entry per line.

The pattern index holds an entry of about 1 KB per pattern: 10 MB at 10,000
patterns.  Written by `state_files.write_state` it is one line of JSON, and an
edit of one pattern decoded and encoded all of it (0.3 s of task 3 at 10,000
patterns).  Written here, the mapping under one key has each entry on a line
of its own,

    {"kinds_digest":"...","patterns":{
    "account":{...},
    "order":{...}
    },"sources":{...},"state_version":3}

which is still one JSON document in the same envelope: any reader may decode
it whole (`read_state`), and the digest covers every byte.  But a writer can
keep the bytes of the entries that did not change, and a reader can decode
only the entries it needs: a JSON string holds no raw newline, and nothing
but the entries is written across lines, so each line between the first and
the last is one entry.  Keys must be plain names (`PLAIN_KEY`).  A document
in another form (written whole, by hand or by an older writer) is read whole.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from doit_conductor import state_files
from doit_conductor.fsio import dump_json, load_json, write_if_changed
from doit_conductor.state_files import Shape

PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]+")


def entry_json(value: object) -> bytes:
    """One entry's canonical JSON bytes, as `write` takes them."""
    return dump_json(value)[:-1]


def encode(rest: dict, key: str, entries: Mapping[str, bytes]) -> bytes:
    """The state file of `rest` with `entries` (name -> `entry_json` bytes) under
    `key`, the entries in name order, one a line; the other values compact."""
    pieces = [b"{\n"]
    for name in sorted(entries):
        if not PLAIN_KEY.fullmatch(name):
            raise ValueError(f"not a plain name for an entry: {name!r}")
        pieces += (b'"', name.encode(), b'":', entries[name], b",\n")
    if entries:
        pieces[-1] = b"\n"
    section = b"".join(pieces) + b"}"
    parts = [dump_json(name)[:-1] + b":" + (section if name == key else dump_json(rest[name])[:-1])
             for name in sorted({*rest, key})]
    return state_files.envelope(b"{" + b",".join(parts) + b"}")


def write(path: str, rest: dict, key: str, entries: Mapping[str, bytes],
          decoded: Mapping[str, object] | None = None) -> bool:
    """Atomically write the document unless `path` already holds it; True when
    written.  `decoded`: entries the caller holds as values, kept for readers
    in this process (task 7 right after task 3; on a cold build, every entry)
    so that they are not decoded again, and, when it holds all of them, the
    whole document for `read_state` (`state_files.keep`)."""
    raw = encode(rest, key, entries)
    if decoded:
        digest = state_files.raw_digest(raw)
        state_files.keep(_ENTRIES + digest, len(raw), dict(decoded))
        if decoded.keys() >= entries.keys():
            state_files.keep(digest, len(raw), {**rest, key: {name: decoded[name]
                                                             for name in sorted(entries)}})
    return write_if_changed(path, raw)


# Where `write` keeps the entries it was given decoded, beside whole documents.
_ENTRIES = b"entries:"


@dataclass(frozen=True, slots=True)
class EntryDocument:
    """A document read by `read`: its entries as JSON bytes, decoded when asked for."""

    path: str
    rest: dict                  # every key but the entries'
    entries: dict[str, bytes]   # name -> the entry's JSON
    entry_shape: Shape
    decoded: Mapping[str, object]   # entries this process wrote: see `write`

    def entry(self, name: str) -> dict:
        """The entry `name`, decoded and checked for its shape (KeyError if none);
        readers treat it as read-only."""
        if name in self.decoded:
            return self.decoded[name]
        try:
            value = load_json(self.entries[name])
        except (ValueError, UnicodeDecodeError):
            raise state_files.refused(self.path, f"entry {name!r} is not JSON") from None
        if not self.entry_shape(value):
            raise state_files.refused(self.path, f"entry {name!r} is not the shape it has")
        return value


def read(path: str, key: str, entry_shape: Shape, rest_shape: Shape) -> EntryDocument:
    """The document `path` holds, its digest checked, the rest decoded and checked
    by `rest_shape`; StateError (and the file removed) as `read_state` does."""
    raw = state_files.read_raw(path)
    try:
        payload = state_files.verified_payload(raw)
    except ValueError as exc:
        raise state_files.refused(path, str(exc)) from None
    split = _split(payload, key)
    try:
        if split is not None:
            rest = load_json(split[0])
            del rest[key]
            entries = split[1]
        else:   # not written here: decoded whole
            rest = load_json(payload)
            entries = {name: entry_json(value) for name, value in rest.pop(key).items()}
        if not rest_shape(rest):
            raise ValueError("not the shape this file has")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise state_files.refused(path, str(exc).splitlines()[0] or "not the shape this file has"
                                  ) from None
    decoded = state_files.kept(_ENTRIES + state_files.raw_digest(raw)) or {}
    return EntryDocument(path, rest, entries, entry_shape, decoded)


def _split(payload: bytes, key: str) -> tuple[bytes, dict[str, bytes]] | None:
    """(the document with an empty mapping under `key`, name -> entry bytes),
    or None if `payload` is not in the form `encode` writes."""
    lines = payload.split(b"\n")
    if len(lines) < 2 or not lines[0].endswith(dump_json(key)[:-1] + b":{") \
            or not lines[-1].startswith(b"}"):
        return None
    middle = lines[1:-1]
    # every line but the last ends with the comma between entries
    if middle and not all(line.endswith(b",") for line in middle[:-1]):
        return None
    if middle:
        middle[-1] += b","
    entries = {}
    for line in middle:
        close = line.find(b'":', 1)
        if not line.startswith(b'"') or close < 0:
            return None
        entries[line[1:close].decode("ascii", "replace")] = line[close + 2:-1]
    return lines[0] + lines[-1], entries
