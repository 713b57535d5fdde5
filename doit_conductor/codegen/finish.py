"""The closing step of codegen (`codegen:_manifest`): merge the manifest, prune
what no pattern produces any more, bound the template cache.

Imports neither the renderer nor jinja2: after a build whose every batch came
from the action cache, this is the only codegen code that runs in a worker.
"""
from __future__ import annotations

import logging

import os
from pathlib import Path

from doit_conductor import layout, safe_fs
from doit_conductor.codegen import outputs, rollback
from doit_conductor.codegen import manifest
from doit_conductor.codegen.settings import Settings
from doit_conductor.eviction import Collected, collect, stored_files
from doit_conductor.profiling import counters

log = logging.getLogger(__name__)   # routed to the console by the glue


def finish_codegen(batch_names: list[str], patterns: int, settings: dict,
                   changed: list[str] | None = None) -> None:
    """Drop the records of batches that no longer exist, merge the manifest, prune
    the files it stops listing and keep the template cache within its bounds.

    `changed` is doit's list of the file dependencies that changed since this
    last ran: when only batch records did, only those batches are merged into
    the existing manifest; otherwise (plan or settings changed, or not known)
    every record is.  Every batch ran before this step, so a file the merged
    manifest no longer lists is produced by no pattern (a pattern removed, or a
    template it stopped using): it is pruned."""
    cfg = Settings(**settings)
    keep = set(batch_names)
    dropped = [name for name in manifest.record_names(cfg.cache_dir) if name not in keep]
    for name in dropped:
        manifest.drop_record(cfg.cache_dir, name)
    batches = changed_batches(changed, cfg.cache_dir)
    # A changed record older than the manifest (restored from a backup:
    # rollback.py) is repaired before it is merged, not merged.
    records = {name: manifest.load_record(cfg.cache_dir, name, cfg.output_dir).patterns
               for name in (manifest.record_names(cfg.cache_dir) if batches is None else batches)
               if name in keep}
    for path in rollback.repair_outdated(cfg.cache_dir, records,
                                         manifest.read_manifest(cfg.cache_dir), cfg.output_dir):
        log.warning("WARNING: %s: older than the generated files it lists (restored from a "
                    "backup?); rewritten from %s", path, manifest.MANIFEST)
    merged = manifest.merge_manifest(cfg.cache_dir,
                                     None if batches is None else [*batches, *dropped],
                                     records=records)   # read once, above
    removed = outputs.prune(list(merged.dropped), cfg.output_dir)
    for path in removed:
        log.warning("pruned %s (no longer produced by any pattern)", path)
    counters.add("files_pruned", len(removed))
    counters.add("patterns_planned", patterns)
    garbage = collect_template_cache(Path(cfg.cache_dir) / "templates", cfg.cache_max_entries,
                                     cfg.cache_max_bytes)
    counters.add("template_cache_evicted", garbage.removed)


def changed_batches(changed: list[str] | None, cache_dir: str) -> list[str] | None:
    """The batches whose records are among doit's changed file dependencies, or
    None if anything else changed too (the plan, the settings): merge them all."""
    if changed is None:
        return None
    records = os.path.normpath(os.path.join(cache_dir, manifest.RECORDS))
    names = []
    for dep in changed:
        directory, file_name = os.path.split(os.path.normpath(dep))
        if directory != records or not file_name.endswith(".json"):
            return None
        names.append(file_name[:-len(".json")])
    return names


def collect_template_cache(directory: str | Path, max_entries: int, max_bytes: int) -> Collected:
    """Evict least recently used compiled templates until both bounds hold (a
    link at the cache directory is refused by name; see `safe_fs`).  Not a
    listing the fast no-op watches: no task's verdict rests on the cache."""
    with safe_fs.unobserved():
        listing = [e for e in safe_fs.entries(directory)
                   if e.name.endswith(layout.TEMPLATE_CACHE_SUFFIX)]
    return collect(stored_files(listing), max_entries=max_entries, max_bytes=max_bytes)
