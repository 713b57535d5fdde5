"""Validated patterns, cached by content: only changed pattern files are re-parsed.

The key is an xxhash of the pattern's bytes, its path, the kinds table's digest
and the schema version, so an entry can never describe other input; entries are
JSON written atomically, and one that does not read back is simply re-parsed.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import xxhash

from tasks.codegen.patterns import (Pattern, parse_pattern, pattern_from_json,
                                    pattern_to_json, read_pattern_bytes)
from tasks.codegen.templates import load_kinds
from tasks.fsio import atomic_write, dump_json
from tasks.profiling import counters

SCHEMA_VERSION = 1


def pattern_key(raw: bytes, source: str, kinds_digest: str) -> str:
    return xxhash.xxh3_128_hexdigest(b"%d\0%s\0%s\0" % (SCHEMA_VERSION, source.encode(),
                                                       kinds_digest.encode()) + raw)


def load_pattern(source: str, cache_dir: str, templates_dir: str, kinds_digest: str) -> Pattern:
    """The validated pattern in `source`, from the cache when its bytes are known."""
    raw = read_pattern_bytes(Path(source), source)
    key = pattern_key(raw, source, kinds_digest)
    entry = Path(cache_dir) / "patterns" / f"{key}.json"
    try:
        pattern = pattern_from_json(json.loads(entry.read_bytes()))
        counters.add("pattern_cache_hits")
        return pattern
    except (OSError, ValueError, KeyError, TypeError):
        pass
    pattern = parse_pattern(raw, source, _kinds(templates_dir, kinds_digest))
    counters.add("patterns_parsed")
    try:
        atomic_write(entry, dump_json(pattern_to_json(pattern)))
    except OSError:
        pass  # a cache that cannot be written costs time, not correctness
    return pattern


@lru_cache(maxsize=4)
def _kinds(templates_dir: str, kinds_digest: str) -> dict[str, dict[str, str]]:
    return load_kinds(templates_dir)


def kinds_digest(templates_dir: str) -> str:
    try:
        return xxhash.xxh3_64_hexdigest((Path(templates_dir) / "kinds.yaml").read_bytes())
    except OSError:
        return "missing"
