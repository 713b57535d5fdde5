"""Write one pattern's files from an action-cache hit, without rendering.

Imports neither the renderer nor jinja2: a build whose every pattern is in the
cache never loads them.
"""
from __future__ import annotations

import sys

from doit_conductor.codegen import outputs
from doit_conductor.codegen.settings import Settings
from doit_conductor.state_files import decode_state


def restore_pattern(files: dict[str, bytes], settings: dict, name: str, fragment: str) -> None:
    """Write one pattern's files from an action-cache hit (doit_conductor.scale).

    What `_build` would have written, without rendering: each output through the
    output tree (same symbolic-link refusal; unchanged files untouched), outputs
    the pattern no longer produces pruned, and the cached manifest fragment
    re-recorded with this checkout's mtimes, so the next run trusts the files by
    their stat as after a real build."""
    cfg = Settings(**settings)
    cached = verified_fragment(files, fragment)
    previous = outputs.load_fragment(cfg.cache_dir, name)
    tree = outputs.output_tree(cfg.output_dir)
    recorded = {}
    for path, entry in cached.items():
        info = tree.inspect(path)
        written = tree.write(path, files[path], info) or info
        # the checksum and size of the bytes written (equal to the entry's,
        # as verified above), never copied from what the entry claims
        recorded[path] = outputs.FileEntry(**{
            **entry, "checksum": outputs.content_checksum(files[path]), "size": len(files[path]),
            "mtime_ns": written.st_mtime_ns, "previous": None})
    removed = outputs.prune(sorted(set(previous.files) - set(recorded)), cfg.output_dir)
    for path in removed:
        sys.stderr.write(f"pruned {path} (no longer produced by pattern '{name}')\n")
    outputs.write_fragment(cfg.cache_dir, name, recorded, previous.data)


def verified_fragment(files: dict[str, bytes], fragment: str) -> dict[str, dict]:
    """The cached fragment's files, once each file's bytes in the entry are shown
    to be the content that fragment records (checksum and size) and it lists
    exactly the entry's other files.  An entry re-sealed around other bytes (by
    anyone who can write to a shared cache) is `DamagedEntry` before anything is
    written: the task runs instead, and nothing derived from a forged file is
    built on a checksum it does not have."""
    from doit_conductor.scale.cache_entry import DamagedEntry
    try:
        cached = decode_state(files[fragment])["files"]
        listed = set(cached) == set(files) - {fragment}
        consistent = listed and all(
            outputs.content_checksum(files[path]) == entry["checksum"]
            and len(files[path]) == entry["size"] for path, entry in cached.items())
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
        raise DamagedEntry(f"unreadable manifest fragment ({exc})") from None
    if not consistent:
        raise DamagedEntry("its files are not the content its manifest fragment records")
    return cached
