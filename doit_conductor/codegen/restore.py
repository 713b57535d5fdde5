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
    cached = decode_state(files[fragment])["files"]
    previous = outputs.load_fragment(cfg.cache_dir, name)
    tree = outputs.output_tree(cfg.output_dir)
    recorded = {}
    for path, entry in cached.items():
        info = tree.inspect(path)
        written = tree.write(path, files[path], info) or info
        recorded[path] = outputs.FileEntry(**{**entry, "mtime_ns": written.st_mtime_ns,
                                              "previous": None})
    removed = outputs.prune(sorted(set(previous.files) - set(recorded)), cfg.output_dir)
    for path in removed:
        sys.stderr.write(f"pruned {path} (no longer produced by pattern '{name}')\n")
    outputs.write_fragment(cfg.cache_dir, name, recorded, previous.data)
