"""Write one batch's files from an action-cache hit, without rendering.

Imports neither the renderer nor jinja2: a build whose every batch is in the
cache never loads them.
"""
from __future__ import annotations

from doit_conductor.codegen import outputs
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
    cached = decode_state(files[record])["patterns"]
    previous = outputs.load_record(cfg.cache_dir, batch, cfg.output_dir)
    tree = outputs.output_tree(cfg.output_dir)
    recorded = {}
    for name, built in cached.items():
        entries = {}
        for path, entry in built["files"].items():
            info = tree.inspect(path)
            written = tree.write(path, files[path], info) or info
            entries[path] = outputs.FileEntry(**{**entry, "mtime_ns": written.st_mtime_ns,
                                                 "previous": None})
        recorded[name] = outputs.PatternFiles(built["digest"], entries)
        counters.add("patterns_restored")
    outputs.write_record(cfg.cache_dir, batch, recorded, previous.data)
