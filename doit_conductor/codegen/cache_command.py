"""`doit cache-gc`: bound the template bytecode cache without running the workflow."""
from __future__ import annotations

import sys
from pathlib import Path

from doit.cmd_base import Command

from doit_conductor import layout
from doit_conductor.errors import UserError


class CacheGC(Command):
    name = "cache-gc"
    doc_purpose = "evict least recently used template cache entries"
    doc_usage = "[--max-entries N] [--max-bytes N]"
    doc_description = ("Keeps .conductor/cache/templates within [tool.conductor.template_cache] "
                       "max_entries and max_bytes (or the limits given here). Codegen runs the "
                       "same collection at the end of every run that rendered templates.")
    cmd_options = (
        {"name": "max_entries", "long": "max-entries", "type": int, "default": -1,
         "help": "keep at most N entries (default: from config)"},
        {"name": "max_bytes", "long": "max-bytes", "type": int, "default": -1,
         "help": "keep at most N bytes (default: from config)"},
    )

    def execute(self, params, args):
        from doit_conductor.codegen.bytecode_cache import collect_garbage
        from doit_conductor.config import load_config
        from doit_conductor.incremental.lock import run_lock
        try:
            limits = load_config(".").template_cache
            max_entries = (params["max_entries"] if params["max_entries"] >= 0
                           else limits.max_entries)
            max_bytes = params["max_bytes"] if params["max_bytes"] >= 0 else limits.max_bytes
            # A run may be writing entries: collect between runs, under the lock.
            with run_lock(".", layout.CONDUCTOR):
                report = collect_garbage(Path(layout.CACHE) / "templates", max_entries,
                                         max_bytes)
        except UserError as err:
            sys.stderr.write(f"ERROR: {err}\n")
            return 3
        print(f"template cache: kept {report.kept} entries ({report.kept_bytes / 1024:.1f} KiB), "
              f"removed {report.removed} ({report.removed_bytes / 1024:.1f} KiB)")
        return 0
