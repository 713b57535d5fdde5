"""Batch records restored from an older state: found, and repaired.

Each codegen batch's record (`manifest.py`) says what codegen last wrote for its
patterns, and compile.manifest is merged from the records.  A record rolled
back to an older version (a restored backup, a copy of `.conductor/` taken
before the last build) lists checksums the generated files no longer have: the
hand-edit scan would set aside files nobody edited, and the next merge would
carry the old entries into the manifest, after which nothing would vouch for
them.

The manifest merged after the later build is a second witness.  Where a file
holds what the manifest recorded for it and its record does not know that
content, the record is the stale one; it is rewritten from the manifest's
entries for its batch, which describe the files on disk.  Their patterns are
recorded with no input digest, so the batch renders them again the next time
it runs (files that come out the same are not written).
"""
from __future__ import annotations

from doit_conductor.codec import from_json
from doit_conductor.codegen import outputs
from doit_conductor.codegen import manifest
from doit_conductor.codegen.manifest import FileEntry, PatternFiles
from doit_conductor.state_files import plain_output_path


def outdated(files: dict[str, FileEntry], merged: dict[str, dict]) -> bool:
    """Whether a record's `files` are older than the manifest `merged`: some
    file holds the content the manifest recorded, which the record does not
    know.  Hashes only the files on which the two disagree (after a build, the
    batches it rebuilt, before codegen:_manifest merged them)."""
    for path, entry in files.items():
        recorded = merged.get(path)
        if not isinstance(recorded, dict) or recorded.get("checksum") in (None, entry.checksum):
            continue
        checksum = outputs.file_checksum(path)
        if checksum is not None and not entry.knows(checksum) and checksum == recorded["checksum"]:
            return True
    return False


def from_manifest(batch: str, merged: dict[str, dict],
                  output_dir: str | None) -> dict[str, PatternFiles]:
    """The batch's patterns as the manifest lists them (no input digest).
    Entries naming a path outside the output directory are left out, as a
    record's would be."""
    by_pattern: dict[str, dict[str, FileEntry]] = {}
    for path, data in merged.items():
        if not isinstance(data, dict) or data.get("batch") != batch:
            continue
        entry = _file_entry(path, data, output_dir)
        if entry is not None:
            by_pattern.setdefault(data["pattern"], {})[path] = entry
    return {name: PatternFiles("", files) for name, files in by_pattern.items()}


def unrecorded(merged: dict[str, dict] | None, recorded: dict[str, FileEntry],
               output_dir: str | None) -> dict[str, FileEntry]:
    """The files the manifest lists and no record does, with the manifest's
    entries: still ours (task 13 drops the record of a file it found
    differing; a file no pattern produces any more waits to be pruned), so a
    hand edit of one is set aside like any other."""
    found = {}
    for path, data in (merged or {}).items():
        if path not in recorded and isinstance(data, dict):
            entry = _file_entry(path, data, output_dir)
            if entry is not None:
                found[path] = entry
    return found


def _file_entry(path: str, data: dict, output_dir: str | None) -> FileEntry | None:
    """A manifest entry as a record's, or None: not a plain path inside the
    output directory, or not an entry this code wrote."""
    if not isinstance(data.get("pattern"), str) or not plain_output_path(path, output_dir):
        return None
    try:
        return from_json(FileEntry, {k: v for k, v in data.items()
                                     if k not in ("pattern", "batch")}, path)
    except (ValueError, TypeError, KeyError):
        return None


def repair_outdated(cache_dir: str, records: dict[str, dict[str, PatternFiles]],
                    merged: dict[str, dict] | None, output_dir: str | None) -> list[str]:
    """Rewrite, in `records` and on disk, each batch record older than `merged`;
    the paths of the records rewritten."""
    if not merged:
        return []
    repaired = []
    for batch, patterns in sorted(records.items()):
        files = {path: entry for built in patterns.values() for path, entry in built.files.items()}
        if outdated(files, merged):
            records[batch] = from_manifest(batch, merged, output_dir)
            manifest.write_record(cache_dir, batch, records[batch], None)
            repaired.append(manifest.record_path(cache_dir, batch))
    return repaired
