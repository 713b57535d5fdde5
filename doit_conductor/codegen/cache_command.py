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
        {"name": "max_entries", "long": "max-entries", "type": int, "default": None,
         "help": "keep at most N entries (default: from config)"},
        {"name": "max_bytes", "long": "max-bytes", "type": int, "default": None,
         "help": "keep at most N bytes (default: from config)"},
    )

    def execute(self, params, args):
        from doit_conductor.codegen.bytecode_cache import collect_garbage
        from doit_conductor.config import load_config
        try:
            for option in ("max_entries", "max_bytes"):
                if params[option] is not None and params[option] < 0:
                    raise UserError(f"cache-gc: --{option.replace('_', '-')} must be 0 or more "
                                    f"(got {params[option]})")
            limits = load_config(".").template_cache
        except UserError as err:
            sys.stderr.write(f"ERROR: {err}\n")
            return 3
        max_entries = limits.max_entries if params["max_entries"] is None else params["max_entries"]
        max_bytes = limits.max_bytes if params["max_bytes"] is None else params["max_bytes"]
        report = collect_garbage(Path(layout.CACHE) / "templates", max_entries, max_bytes)
        print(f"template cache: kept {report.kept} entries ({report.kept_bytes / 1024:.1f} KiB), "
              f"removed {report.removed} ({report.removed_bytes / 1024:.1f} KiB)")
        return 0
