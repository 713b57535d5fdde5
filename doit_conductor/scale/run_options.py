"""The `run` command's scale-out options and what they resolve to.

    --cache URL          use the action cache at URL (fsspec; a path is a directory)
    --executor dask      run ready tasks on a Dask cluster (with -n N)
    --scheduler ADDRESS  the cluster's scheduler (tcp://HOST:PORT); none: a LocalCluster
    --ship               send file_dep to workers and targets back (no shared disk)

Defaults come from `[tool.conductor.cache]` and `[tool.conductor.dask]` in a
doit-conductor project (`backend = "conductor"`); in any other doit project the
options are inert unless given.  Imports nothing heavy.
"""
from __future__ import annotations

from dataclasses import dataclass

from doit_conductor.errors import UserError

LOCAL = "local"
DASK = "dask"
# More worker processes than this is a typo (`-n 3000` for `-n 3`), not a plan:
# doit would fork them all, and a Dask LocalCluster would start them all.
MAX_WORKERS = 1024

CMD_OPTIONS = (
    {"name": "cache", "long": "cache", "type": str, "default": "",
     "help": "action cache location: an fsspec URL (file:///shared/dir, s3://bucket/prefix) "
             "or a directory; enables the cache [default: [tool.conductor.cache]]"},
    {"name": "executor", "long": "executor", "type": str, "default": LOCAL,
     "choices": ((LOCAL, "doit's own runners"), (DASK, "a Dask cluster (see --scheduler)")),
     "help": "where tasks execute [default: %(default)s]"},
    {"name": "scheduler", "long": "scheduler", "type": str, "default": "",
     "help": "Dask scheduler address tcp://HOST:PORT for --executor dask; without it a "
             "LocalCluster of -n worker processes runs for the run"},
    {"name": "ship", "long": "ship", "type": bool, "default": False,
     "help": "with --executor dask: send file_dep to the workers and targets back, "
             "so workers need no shared disk"},
)


@dataclass(frozen=True, slots=True)
class ScaleChoice:
    """What the options and the project's settings select for one run."""

    cache_url: str | None = None
    executor: str = LOCAL
    scheduler: str = ""
    ship: bool = False
    connect_timeout_s: float = 10.0
    batch_size: int = 8

    @property
    def active(self) -> bool:
        return self.cache_url is not None or self.executor != LOCAL


def check_combination(executor: str, scheduler: str, ship: bool) -> None:
    """A UserError for options that mean nothing together; checked before the
    fast no-op too, so a wrong command line fails whether or not work is left."""
    if executor != DASK and (scheduler or ship):
        raise UserError("--scheduler and --ship need --executor dask")


def check_worker_count(num_process: int) -> None:
    """A UserError for a worker count that cannot be meant: negative (doit then
    starts no worker, runs nothing and exits 0) or beyond `MAX_WORKERS`."""
    if num_process < 0:
        raise UserError(f"-n {num_process}: the number of workers cannot be negative "
                        "(-n 0 or no -n: one process)")
    if num_process > MAX_WORKERS:
        raise UserError(f"-n {num_process}: more than {MAX_WORKERS} workers is refused; "
                        "-n counts processes (or threads) on this machine")


def resolve(cache: str, executor: str, scheduler: str, ship: bool,
            conductor_project: bool, project_root: str) -> ScaleChoice:
    """The run's choice; project settings are read only in a doit-conductor
    project (a bad setting is a `UserError`)."""
    settings = None
    if conductor_project:
        from doit_conductor.config import load_config
        settings = load_config(project_root)
    url = None
    if cache:
        url = cache
    elif settings is not None and settings.cache.enabled:
        url = settings.cache.url
    if url is not None:
        from doit_conductor.scale.action_store import store_url
        url = store_url(url, project_root)
    check_combination(executor, scheduler, ship)
    dask = {}   # ScaleChoice's defaults outside a doit-conductor project
    if settings is not None:
        dask = {"connect_timeout_s": settings.dask.connect_timeout_s,
                "batch_size": settings.dask.batch_size}
        if not scheduler and executor == DASK:
            scheduler = settings.dask.scheduler
    return ScaleChoice(url, executor, scheduler, ship, **dask)
