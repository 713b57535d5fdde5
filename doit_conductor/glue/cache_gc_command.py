"""`doit cache-gc`: bound the template bytecode cache without running the workflow."""
from __future__ import annotations

import sys
from pathlib import Path

from doit.cmd_base import Command

from doit_conductor import layout
from doit_conductor.errors import UserError
from doit_conductor.glue.option_errors import OneLineOptionErrors


class CacheGC(OneLineOptionErrors, Command):
    name = "cache-gc"
    doc_purpose = "bound the template cache and the local action cache"
    doc_usage = ("[--max-entries N] [--max-bytes N] [--cache URL] [--actions-max-bytes N] "
                 "[--actions-max-age-days D]")
    doc_description = ("Keeps .conductor/cache/templates within [tool.conductor.template_cache] "
                       "max_entries and max_bytes (or the limits given here). Codegen runs the "
                       "same collection at the end of every run that rendered templates. "
                       "A local action cache ([tool.conductor.cache] url, default "
                       ".conductor/cache/actions) is bounded by max_bytes and max_age_days: "
                       "entries older than that go, then the oldest until within the size; "
                       "--cache names another local store (the one `doit --cache` used). "
                       "Remote stores (s3://...) are left to the store's own lifecycle rules.")
    cmd_options = (
        {"name": "max_entries", "long": "max-entries", "type": int, "default": None,
         "help": "keep at most N entries (default: from config)"},
        {"name": "max_bytes", "long": "max-bytes", "type": int, "default": None,
         "help": "keep at most N bytes (default: from config)"},
        {"name": "cache", "long": "cache", "type": str, "default": "",
         "help": "the action cache to bound: a directory or file:// URL, as given to "
                 "`doit --cache` (default: [tool.conductor.cache] url)"},
        {"name": "actions_max_bytes", "long": "actions-max-bytes", "type": int, "default": None,
         "help": "keep at most N bytes of action-cache entries, 0: no bound "
                 "(default: from config)"},
        {"name": "actions_max_age_days", "long": "actions-max-age-days", "type": float,
         "default": None, "help": "remove action-cache entries older than D days, 0: no "
                                  "bound (default: from config)"},
    )

    def execute(self, params, args):
        from doit_conductor.codegen.finish import collect_template_cache
        from doit_conductor.config import load_config
        from doit_conductor.incremental.lock import run_lock
        try:
            for option in ("max_entries", "max_bytes", "actions_max_bytes",
                           "actions_max_age_days"):
                if params[option] is not None and params[option] < 0:
                    raise UserError(f"cache-gc: --{option.replace('_', '-')} must be 0 or more "
                                    f"(got {params[option]})")
            config = load_config(".")
        except UserError as err:
            sys.stderr.write(f"ERROR: {err}\n")
            return 3
        limits = config.template_cache
        max_entries = limits.max_entries if params["max_entries"] is None else params["max_entries"]
        max_bytes = limits.max_bytes if params["max_bytes"] is None else params["max_bytes"]
        if not Path(layout.CONDUCTOR).is_dir():
            # not a doit-conductor project (or never run): no cache, and no
            # lock file to leave behind
            if not params["cache"]:
                print(f"cache-gc: no {layout.CONDUCTOR}/ here; nothing to collect")
        else:
            try:
                # A run may be writing entries: collect between runs, under the lock.
                with run_lock(".", layout.CONDUCTOR, announce=sys.stderr.write):
                    report = collect_template_cache(Path(layout.CACHE) / "templates",
                                                    max_entries, max_bytes)
            except UserError as err:
                sys.stderr.write(f"ERROR: {err}\n")
                return 3
            _say("template cache", report)
        try:
            self._collect_actions(config.cache, params)
        except UserError as err:
            sys.stderr.write(f"ERROR: {err}\n")
            return 3
        return 0

    @staticmethod
    def _collect_actions(settings, params) -> None:
        """Bound the local action store: the one --cache names, else the configured
        one.  Entries are written once and renamed into place, so removing one a
        run is reading costs that run a miss, never a wrong file: no lock needed
        for a store that other clones share."""
        from doit_conductor.scale.action_store import collect_local, store_url
        url = store_url(params["cache"] or settings.url, ".")
        if not url.startswith("file://"):
            if params["cache"]:
                print(f"action cache: {url} is not a local store; its own lifecycle rules "
                      "bound it")
            return
        directory = Path(url[len("file://"):])
        if not directory.is_dir():
            if params["cache"]:
                print(f"action cache: no store at {directory}; nothing to collect")
            return
        max_bytes = (settings.max_bytes if params["actions_max_bytes"] is None
                     else params["actions_max_bytes"])
        max_age_days = (settings.max_age_days if params["actions_max_age_days"] is None
                        else params["actions_max_age_days"])
        _say("action cache", collect_local(directory, max_bytes, max_age_days * 86400))


def _say(store: str, report) -> None:
    print(f"{store}: kept {report.kept} entries ({report.kept_bytes / 1024:.1f} KiB), "
          f"removed {report.removed} ({report.removed_bytes / 1024:.1f} KiB)")
