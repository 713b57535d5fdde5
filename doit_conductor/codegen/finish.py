"""The closing step of codegen (`codegen:_manifest`): prune what removed patterns
produced, merge the manifest, bound the template cache.

Imports neither the renderer nor jinja2: after a build whose every pattern came
from the action cache, this is the only codegen code that runs in a worker.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from doit_conductor import layout, safe_fs
from doit_conductor.actions import user_action
from doit_conductor.codegen import outputs
from doit_conductor.codegen.settings import Settings
from doit_conductor.eviction import Collected, collect, stored_files
from doit_conductor.profiling import counters


@user_action
def finish_codegen(pattern_names: list[str], settings: dict,
                   changed: list[str] | None = None) -> None:
    """Prune the outputs of patterns that were removed, merge the manifest and keep
    the template cache within its bounds.

    `changed` is doit's list of the file dependencies that changed since this
    last ran: when only fragments did, only those patterns are merged into the
    existing manifest; otherwise (plan or settings changed, or not known) every
    fragment is."""
    cfg = Settings(**settings)
    keep = set(pattern_names)
    dropped = []
    for name in outputs.fragment_names(cfg.cache_dir):
        if name in keep:
            continue
        stale = list(outputs.read_fragment(cfg.cache_dir, name))
        removed = outputs.prune(stale, cfg.output_dir)
        for path in removed:
            sys.stderr.write(f"pruned {path} (pattern '{name}' was removed)\n")
        counters.add("files_pruned", len(removed))
        outputs.drop_fragment(cfg.cache_dir, name)
        dropped.append(name)
    patterns = changed_patterns(changed, cfg.cache_dir)
    outputs.merge_manifest(cfg.cache_dir, None if patterns is None else [*patterns, *dropped])
    garbage = collect_template_cache(Path(cfg.cache_dir) / "templates", cfg.cache_max_entries,
                                     cfg.cache_max_bytes)
    counters.add("template_cache_evicted", garbage.removed)


def changed_patterns(changed: list[str] | None, cache_dir: str) -> list[str] | None:
    """The patterns whose fragments are among doit's changed file dependencies, or
    None if anything else changed too (the plan, the settings): merge them all."""
    if changed is None:
        return None
    fragments = os.path.normpath(os.path.join(cache_dir, outputs.FRAGMENTS))
    names = []
    for dep in changed:
        directory, file_name = os.path.split(os.path.normpath(dep))
        if directory != fragments or not file_name.endswith(".json"):
            return None
        names.append(file_name[:-len(".json")])
    return names


def collect_template_cache(directory: str | Path, max_entries: int, max_bytes: int) -> Collected:
    """Evict least recently used compiled templates until both bounds hold (a
    link at the cache directory is refused by name; see `safe_fs`)."""
    listing = [e for e in safe_fs.entries(directory)
               if e.name.endswith(layout.TEMPLATE_CACHE_SUFFIX)]
    return collect(stored_files(listing), max_entries=max_entries, max_bytes=max_bytes)
