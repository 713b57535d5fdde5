"""Ship mode of the Dask executor: what travels with a task and what comes back.

A task sent with `--ship` runs on the worker in a fresh scratch directory that
holds only its declared inputs (`Workspace.inputs`); its declared targets come
back as bytes with their sha256 (`ShippedTarget`), and any other file it wrote
there is refused by name.  Plain data and file operations: the Dask runner and
job (doit_conductor.glue) turn a refusal into the task's failure.
"""
from __future__ import annotations

import hashlib
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from doit_conductor import safe_fs
from doit_conductor.errors import UserError
from doit_conductor.fsio import atomic_write


@dataclass(frozen=True, slots=True)
class Workspace:
    """Where the task runs: the shared project root, or shipped inputs."""

    root: str                                   # the project directory (client's path)
    import_paths: tuple[str, ...] = ()          # sys.path entries the task's code needs
    inputs: dict[str, bytes] | None = None      # ship mode: relative path -> content
    scratch_ok: tuple[str, ...] = ()            # ship mode: undeclared writes allowed under these
    cache_url: str | None = None                # the run's action cache, looked up here


@dataclass(frozen=True, slots=True)
class ShippedTarget:
    path: str
    data: bytes
    sha256: str


def inside(relative: str) -> bool:
    """True for a plain relative path that stays below the directory it is joined to."""
    parts = Path(relative).parts
    return bool(parts) and not Path(relative).is_absolute() and ".." not in parts


def materialise(scratch: str, inputs: dict[str, bytes]) -> None:
    for relative, data in inputs.items():
        if not inside(relative):   # the client refuses these; never write outside scratch
            raise ValueError(f"--ship: input path {relative!r} leaves the scratch directory")
        atomic_write(os.path.join(scratch, relative), data)


def collect(scratch: str, targets, workspace: Workspace
            ) -> tuple[tuple[ShippedTarget, ...], str | None]:
    """(the declared targets' bytes, None), or ((), why) naming a missing target
    or an undeclared write."""
    declared = set(targets)
    inputs = workspace.inputs or {}
    # the scratch directory as the task left it, walked without following a
    # link it made (one pointing out of the scratch directory is not shipped)
    for entry in safe_fs.walk(".", root=scratch):
        if entry.kind == safe_fs.DIRECTORY:
            continue
        relative = posixpath.normpath(entry.path)
        if relative in declared or any(relative.startswith(p.rstrip("/") + "/")
                                       for p in workspace.scratch_ok):
            continue
        if entry.kind == safe_fs.FILE and relative in inputs \
                and safe_fs.read_bytes(relative, root=scratch) == inputs[relative]:
            continue
        return (), (f"--ship: task wrote the undeclared file '{relative}'; "
                    "declare it in targets (or run without --ship)")
    shipped = []
    for target in sorted(declared):
        if not inside(target):
            return (), (f"--ship: target '{target}' is outside the project; "
                        "run this task without --ship")
        try:
            data = safe_fs.read_bytes(target, root=scratch)
        except (FileNotFoundError, NotADirectoryError, UserError):
            return (), f"--ship: declared target '{target}' was not written"
        shipped.append(ShippedTarget(target, data, hashlib.sha256(data).hexdigest()))
    return tuple(shipped), None


def target_states(targets) -> dict[str, tuple[int, int] | None]:
    """(mtime_ns, size) of each target before a task is sent (None: absent)."""
    states = {}
    for target in targets:
        try:
            info = os.stat(target)
            states[target] = (info.st_mtime_ns, info.st_size)
        except OSError:
            states[target] = None
    return states


def remove_changed(targets, before: dict[str, tuple[int, int] | None]) -> list[str]:
    """Remove the targets a task lost with its worker changed: a task that writes
    its files in place may have left half of one (doit re-runs it next time)."""
    removed = []
    for target, state in target_states(targets).items():
        if state is not None and state != before.get(target):
            safe_fs.unlink(target)   # a link as the link
            removed.append(target)
    return removed


def files_of(path: Path) -> list[Path]:
    """The files an input names (a directory: all below it, never through a
    link; absent: none, the task reports what it misses).  A link or FIFO among
    them is refused when read (`safe_fs.read_bytes`)."""
    info = safe_fs.lstat(path)
    if info is None:
        return []
    if safe_fs.kind_of(info.st_mode) == safe_fs.DIRECTORY:
        return sorted(Path(e.path) for e in safe_fs.walk(path) if e.kind != safe_fs.DIRECTORY)
    return [path]


def damaged(targets) -> str | None:
    """The path of the first shipped target whose bytes are not the ones the
    worker digested, or None."""
    for target in targets:
        if hashlib.sha256(target.data).hexdigest() != target.sha256:
            return target.path
    return None
