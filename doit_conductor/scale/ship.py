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
from dataclasses import dataclass
from pathlib import Path


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
        path = Path(scratch, relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def collect(scratch: str, targets, workspace: Workspace
            ) -> tuple[tuple[ShippedTarget, ...], str | None]:
    """(the declared targets' bytes, None), or ((), why) naming a missing target
    or an undeclared write."""
    declared = set(targets)
    inputs = workspace.inputs or {}
    for path in sorted(Path(scratch).rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(scratch).as_posix()
        if relative in declared or any(relative.startswith(p.rstrip("/") + "/")
                                       for p in workspace.scratch_ok):
            continue
        if relative in inputs and path.read_bytes() == inputs[relative]:
            continue
        return (), (f"--ship: task wrote the undeclared file '{relative}'; "
                    "declare it in targets (or run without --ship)")
    shipped = []
    for target in sorted(declared):
        if not inside(target):
            return (), (f"--ship: target '{target}' is outside the project; "
                        "run this task without --ship")
        path = Path(scratch, target)
        if not path.is_file():
            return (), f"--ship: declared target '{target}' was not written"
        data = path.read_bytes()
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
            os.unlink(target)
            removed.append(target)
    return removed


def files_of(path: Path) -> list[Path]:
    """The files an input names (a directory: all below it; absent: none, the
    task reports what it misses)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path] if path.is_file() else []


def damaged(targets) -> str | None:
    """The path of the first shipped target whose bytes are not the ones the
    worker digested, or None."""
    for target in targets:
        if hashlib.sha256(target.data).hexdigest() != target.sha256:
            return target.path
    return None
