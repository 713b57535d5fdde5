"""Validated patterns, cached by content: only changed pattern files are re-parsed.

The key is an xxhash of the pattern's bytes, its path, the kinds table's digest
and the schema version, so an entry can never describe other input.  An entry is
`MAGIC + xxh3_64(payload) + newline + JSON`, written atomically; one whose
checksum or JSON does not verify (truncated, garbled, edited) is reported in one
line and the pattern is parsed again, so a damaged entry is never used.
"""
from __future__ import annotations

import json
import os
import stat
import sys
from functools import lru_cache
from pathlib import Path

import xxhash

from tasks.codegen.patterns import (MAX_PATTERN_BYTES, Pattern, parse_pattern,
                                    pattern_from_json, pattern_to_json, read_pattern_bytes)
from tasks.codegen.templates import load_kinds
from tasks.fsio import atomic_write, dump_json, read_bytes
from tasks.profiling import counters

SCHEMA_VERSION = 2   # 2: checksummed entries
MAGIC = b"conductor-pattern 1 "


def pattern_key(raw: bytes, source: str, kinds_digest: str) -> str:
    return xxhash.xxh3_128_hexdigest(b"%d\0%s\0%s\0" % (SCHEMA_VERSION, source.encode(),
                                                       kinds_digest.encode()) + raw)


def load_pattern(source: str, cache_dir: str, templates_dir: str, kinds_digest: str) -> Pattern:
    """The validated pattern in `source`, from the cache when its bytes are known."""
    raw = _read_source(source)
    key = pattern_key(raw, source, kinds_digest)
    entry = Path(cache_dir) / "patterns" / f"{key}.json"
    pattern = read_entry(entry, source)
    if pattern is not None:
        counters.add("pattern_cache_hits")
        return pattern
    pattern = parse_pattern(raw, source, _kinds(templates_dir, kinds_digest))
    counters.add("patterns_parsed")
    try:
        atomic_write(entry, entry_bytes(pattern))
    except OSError:
        pass  # a cache that cannot be written costs time, not correctness
    return pattern


def _read_source(source: str) -> bytes:
    """A pattern file's bytes in three system calls (open, fstat, read): the common
    case.  Anything unusual (missing, a directory, too large, unreadable) goes
    through `read_pattern_bytes`, which says what is wrong."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return read_pattern_bytes(Path(source), source)
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_PATTERN_BYTES:
            data = os.read(fd, info.st_size + 1)
            if len(data) == info.st_size:
                return data
    except OSError:
        pass
    finally:
        os.close(fd)
    return read_pattern_bytes(Path(source), source)


def entry_bytes(pattern: Pattern) -> bytes:
    payload = dump_json(pattern_to_json(pattern))
    return MAGIC + xxhash.xxh3_64_hexdigest(payload).encode() + b"\n" + payload


def read_entry(entry: Path, source: str) -> Pattern | None:
    """The cached pattern, or None if there is none or it does not verify."""
    try:
        raw = read_bytes(entry)
    except OSError:
        return None
    header, _, payload = raw.partition(b"\n")
    try:
        if (not header.startswith(MAGIC)
                or header[len(MAGIC):] != xxhash.xxh3_64_hexdigest(payload).encode()):
            raise ValueError("checksum mismatch")
        pattern = pattern_from_json(json.loads(payload))
        if pattern.source != source:
            raise ValueError(f"describes {pattern.source}")
        return pattern
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(f"WARNING: {entry}: corrupt pattern cache entry ({reason}); "
                         f"parsing {source} again\n")
        return None


@lru_cache(maxsize=4)
def _kinds(templates_dir: str, kinds_digest: str) -> dict[str, dict[str, str]]:
    return load_kinds(templates_dir)


def kinds_digest(templates_dir: str) -> str:
    try:
        return xxhash.xxh3_64_hexdigest((Path(templates_dir) / "kinds.yaml").read_bytes())
    except OSError:
        return "missing"
