"""The Dask cluster of a run: start a LocalCluster or reach a scheduler, check
its workers run this doit-conductor, and what of the project travels by value.

No doit here: `doit_conductor.glue.dask_runner` drives the run on it.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from doit_conductor.errors import UserError


def require_distributed() -> None:
    """A UserError when Dask distributed is not installed."""
    import importlib.util
    if importlib.util.find_spec("distributed") is None:
        raise UserError("--executor dask needs Dask distributed: "
                        "pip install 'doit-conductor[dask]'")


def connect(scheduler: str, workers: int, timeout_s: float):
    """(cluster or None, client): the scheduler at `scheduler`, or a LocalCluster
    of `workers` single-threaded worker processes.  Unreachable: a UserError."""
    import logging
    require_distributed()
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:   # installed but broken
        raise UserError(f"--executor dask: cannot import Dask distributed ({exc})") from None
    if scheduler:
        try:
            _refuse_fast(scheduler)
            return None, Client(scheduler, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserError(f"cannot reach the Dask scheduler at {scheduler} "
                            f"({_why_unreachable(exc)}); is `dask scheduler` running?") from None
    # Workers are spawned with this process's sys.path, where doit put the
    # project directory first.  A project holding its own copy of
    # doit_conductor (a clone of this repository) would shadow the installed
    # one this process runs; they start without such entries (tasks get the
    # project directory back per batch, after doit_conductor is imported).
    # (Only then is sys.path touched: this may run in a thread of its own.)
    def start():
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address=None, silence_logs=logging.ERROR)

    cleaned = without_other_copies(sys.path)
    if cleaned == sys.path:
        cluster = start()
    else:
        saved = sys.path[:]
        sys.path[:] = cleaned
        try:
            cluster = start()
        finally:
            sys.path[:] = saved
    return cluster, Client(cluster, set_as_default=False)


def without_other_copies(path: list[str]) -> list[str]:
    """`path` less the entries holding a doit_conductor package other than the
    one imported here."""
    import doit_conductor
    mine = os.path.realpath(os.path.dirname(os.path.dirname(doit_conductor.__file__)))
    kept = []
    for entry in path:
        where = os.path.realpath(entry or ".")
        if where != mine and os.path.isfile(os.path.join(where, "doit_conductor", "__init__.py")):
            continue
        kept.append(entry)
    return kept


def _why_unreachable(exc: BaseException) -> str:
    import socket
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return type(exc).__name__


def _refuse_fast(scheduler: str) -> None:
    """An OSError when nothing listens at a tcp:// address or its host name does
    not resolve.  Dask's client retries those until its timeout (10 s by
    default); they are answers, so say so at once.  Other schemes (tls://, ...),
    hosts that do not answer and a resolver that asks to try again are left to
    the client and its timeout."""
    import socket
    from urllib.parse import urlsplit
    # "HOST:PORT" without a scheme is tcp to Dask (its default scheme)
    address = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    if address.scheme != "tcp" or not address.hostname or not address.port:
        return
    try:
        socket.create_connection((address.hostname, address.port), timeout=1.0).close()
    except TimeoutError:
        return
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            return
        raise


def check_workers(fingerprints: Mapping[str, str], mine: str, scheduler: str) -> None:
    """A UserError naming the workers whose doit-conductor code differs from
    this client's (they would build with the old code under the new one's keys).
    `scheduler` "": the LocalCluster started for this run."""
    stale = sorted(worker for worker, theirs in fingerprints.items() if theirs != mine)
    if not stale:
        return
    if not scheduler:
        raise UserError("the Dask workers started for this run import another doit-conductor "
                        "than this doit; is another copy of doit_conductor on PYTHONPATH?")
    raise UserError(f"the Dask workers {', '.join(stale)} of {scheduler} run another "
                    "doit-conductor than this doit (upgraded or edited since they "
                    "started); restart them")


def project_modules(modules: dict, root: str, installed: Mapping[str, object]) -> list:
    """The top-level modules loaded from files under the project `root` that no
    installed distribution provides: those are sent to workers by value.  An
    installed package (doit_conductor itself, editable from a checkout under the
    root) is imported by name on the workers like any other library; a copy of
    it would carry classes that no longer resolve their own annotations."""
    prefix = root.rstrip(os.sep) + os.sep
    return [module for name, module in list(modules.items())
            if "." not in name and name != "__main__" and name not in installed
            and (getattr(module, "__file__", None) or "").startswith(prefix)]
