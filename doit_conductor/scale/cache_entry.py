"""One action-cache entry as bytes: what a task produced, self-verifying.

    CONDUCTOR-ACTION 1\\n
    <sha256 hex of everything after this line>\\n
    <header JSON>\\n
    <the files' bytes, concatenated in header order>

The header holds the key (an entry copied under another key is refused), each
file's path, size and sha256, and the counters of the run that produced it.  A
reader verifies the whole entry before using any of it: a damaged entry is
`DamagedEntry`, never partly applied.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

MAGIC = b"CONDUCTOR-ACTION 1\n"


class DamagedEntry(ValueError):
    """An entry whose bytes do not verify (truncated, altered, wrong key)."""


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A task's targets (path -> bytes) and the counters of the run that made them."""

    key: str
    files: dict[str, bytes]
    counters: dict[str, float] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(data) for data in self.files.values())


def encode(entry: CacheEntry) -> bytes:
    """The entry's bytes, digest first."""
    paths = sorted(entry.files)
    header = {"key": entry.key, "counters": entry.counters,
              "files": [[p, len(entry.files[p]), hashlib.sha256(entry.files[p]).hexdigest()]
                        for p in paths]}
    body = (json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"\n"
            + b"".join(entry.files[p] for p in paths))
    return MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def decode(data: bytes, key: str) -> CacheEntry:
    """The entry stored under `key`, verified; `DamagedEntry` says what is wrong."""
    if not data.startswith(MAGIC):
        raise DamagedEntry("not an action-cache entry")
    digest_end = data.find(b"\n", len(MAGIC))
    if digest_end < 0:
        raise DamagedEntry("truncated")
    body = memoryview(data)[digest_end + 1:]
    if hashlib.sha256(body).hexdigest().encode() != data[len(MAGIC):digest_end]:
        raise DamagedEntry("content digest mismatch")
    header_end = data.find(b"\n", digest_end + 1)
    try:
        header = json.loads(data[digest_end + 1:header_end])
        listed = [(str(p), int(size)) for p, size, _ in header["files"]]
        counters = dict(header.get("counters", {}))
    except (ValueError, TypeError, KeyError) as exc:
        raise DamagedEntry(f"unreadable header ({exc})") from None
    if header.get("key") != key:
        raise DamagedEntry("stored under another key")
    files, offset = {}, header_end + 1
    for path, size in listed:
        files[path] = bytes(data[offset:offset + size])
        offset += size
    if offset != len(data):
        raise DamagedEntry("sizes do not add up")
    return CacheEntry(key, files, counters)
