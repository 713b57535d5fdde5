"""Write one batch's files from an action-cache hit, without rendering.

Imports neither the renderer nor jinja2: a build whose every batch is in the
cache never loads them.
"""
from __future__ import annotations

from doit_conductor.codegen import outputs

from doit_conductor.codegen import manifest
from doit_conductor.codegen.settings import Settings
from doit_conductor.profiling import counters
from doit_conductor.state_files import decode_state


def restore_batch(files: dict[str, bytes], settings: dict, batch: str, record: str) -> None:
    """Write one batch's files from an action-cache hit (doit_conductor.scale).

    What `build_batch` would have written, without rendering: each output through
    the output tree (same symbolic-link refusal; unchanged files untouched), and
    the cached batch record re-recorded with this checkout's mtimes, so the next
    run trusts the files by their stat as after a real build.  Files no pattern
    produces any more are pruned by the closing step, as after a build."""
    cfg = Settings(**settings)
    cached = verified_record(files, record)
    previous = manifest.load_record(cfg.cache_dir, batch, cfg.output_dir)
    tree = outputs.output_tree(cfg.output_dir)
    recorded = {}
    for name, built in cached.items():
        entries = {}
        for path, entry in built["files"].items():
            info = tree.inspect(path)
            written = tree.write(path, files[path], info) or info
            # the checksum and size of the bytes written (equal to the entry's,
            # as verified above), never copied from what the entry claims
            entries[path] = manifest.FileEntry(**{
                **entry, "checksum": outputs.content_checksum(files[path]),
                "size": len(files[path]), "mtime_ns": written.st_mtime_ns, "previous": None})
        checks = built.get("checks")
        recorded[name] = manifest.PatternFiles(built["digest"], entries,
                                               checks if isinstance(checks, str) else "")
        counters.add("patterns_restored")
    manifest.write_record(cfg.cache_dir, batch, recorded, previous.data)


def verified_record(files: dict[str, bytes], record: str) -> dict[str, dict]:
    """The cached batch record's patterns, once each file's bytes in the entry are
    shown to be the content the record lists (checksum and size) and it lists
    exactly the entry's other files.  An entry re-sealed around other bytes (by
    anyone who can write to a shared cache) is `DamagedEntry` before anything is
    written: the task runs instead, and nothing derived from a forged file is
    built on a checksum it does not have."""
    from doit_conductor.scale.cache_entry import DamagedEntry
    try:
        cached = decode_state(files[record])["patterns"]
        listed = {path for built in cached.values() for path in built["files"]}
        consistent = listed == set(files) - {record} and all(
            outputs.content_checksum(files[path]) == entry["checksum"]
            and len(files[path]) == entry["size"]
            for built in cached.values() for path, entry in built["files"].items())
    except (KeyError, TypeError, ValueError, AttributeError, UnicodeDecodeError) as exc:
        raise DamagedEntry(f"unreadable batch record ({exc})") from None
    if not consistent:
        raise DamagedEntry("its files are not the content its batch record lists")
    return cached
