"""Manifest fragments restored from an older state: found, and repaired.

Each pattern's fragment (`outputs.py`) records what codegen last wrote for it,
and compile.manifest is merged from the fragments.  A fragment rolled back to
an older version (a restored backup, a copy of `.conductor/` taken before the
last build) lists checksums the generated files no longer have: the hand-edit
scan would set aside files nobody edited, and the next merge would carry the
old entries into the manifest, after which nothing would vouch for them.

The manifest merged after the later build is a second witness.  Where a file
holds what the manifest recorded for it and its fragment does not know that
content, the fragment is the stale one; it is rewritten from the manifest's
entries for its pattern, which describe the files on disk.
"""
from __future__ import annotations

import sys

from doit_conductor.codec import from_json
from doit_conductor.codegen import outputs
from doit_conductor.codegen.outputs import FileEntry
from doit_conductor.state_files import plain_output_path


def outdated(files: dict[str, FileEntry], merged: dict[str, dict]) -> bool:
    """Whether a fragment's `files` are older than the manifest `merged`: some
    file holds the content the manifest recorded, which the fragment does not
    know.  Hashes only the files on which the two disagree (after a build, the
    patterns it regenerated, before codegen:_manifest merged them)."""
    for path, entry in files.items():
        recorded = merged.get(path)
        if not isinstance(recorded, dict) or recorded.get("checksum") in (None, entry.checksum):
            continue
        checksum = outputs.file_checksum(path)
        if checksum is not None and not entry.knows(checksum) and checksum == recorded["checksum"]:
            return True
    return False


def repair(cache_dir: str, pattern: str, merged: dict[str, dict],
           output_dir: str | None) -> dict[str, FileEntry]:
    """Rewrite `pattern`'s fragment from the manifest's entries for it, say so on
    stderr, and return its files.  Entries naming a path outside the output
    directory are left out, as a fragment's would be."""
    files = {}
    for path, data in merged.items():
        if not isinstance(data, dict) or data.get("pattern") != pattern:
            continue
        if not plain_output_path(path, output_dir):
            continue
        try:
            files[path] = from_json(FileEntry, {k: v for k, v in data.items() if k != "pattern"}, path)
        except (ValueError, TypeError, KeyError):
            continue
    outputs.write_fragment(cache_dir, pattern, files)
    sys.stderr.write(f"WARNING: {outputs.fragment_path(cache_dir, pattern)}: older than the "
                     "generated files it lists (restored from a backup?); rewritten from "
                     f"{outputs.MANIFEST}\n")
    return files


def repair_outdated(cache_dir: str, fragments: dict[str, dict[str, FileEntry]],
                    merged: dict[str, dict] | None, output_dir: str | None) -> list[str]:
    """Repair, in `fragments` and on disk, each fragment older than `merged`;
    the names of the repaired patterns."""
    if not merged:
        return []
    repaired = []
    for pattern, files in sorted(fragments.items()):
        if outdated(files, merged):
            fragments[pattern] = repair(cache_dir, pattern, merged, output_dir)
            repaired.append(pattern)
    return repaired
