"""The key of a cacheable task: a digest of everything its result depends on.

A task opts in with `meta={"conductor_cache": {...}}` (see `CacheSpec`).  Its key
digests, as canonical JSON:

* its identity: name, and each action (a Python action's module, qualified name
  and arguments; a command action's command line);
* its code version: the source files of the packages or modules it names;
* the settings it reads beyond its action arguments (any JSON value);
* the installed versions of the libraries it names;
* the contents of its `file_dep` and the names of its `targets`.

The digesting is pure (`action_key`); reading files and package metadata is in
`code_digest`, `library_versions` and `file_digests`, each memoised per process
where the answer cannot change during a run.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from doit_conductor.fsio import read_bytes

META_KEY = "conductor_cache"
KEY_SCHEMA = 2   # 2: canonical JSON in one pass


@dataclass(frozen=True, slots=True)
class CacheSpec:
    """What a task declares in `meta["conductor_cache"]`.

    `code`: importable package or module names whose source is the task's code;
    `libraries`: distribution names whose versions change its output;
    `settings`: what it reads beyond its action arguments (JSON);
    `restore`: optional `(function, args)` that writes a hit's files itself, called
    as `function(files, *args)` with `files` = {target path: bytes}."""

    code: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()
    settings: object = None
    restore: tuple | None = None


def spec_of(task) -> CacheSpec | None:
    """The task's cache declaration, or None when it does not opt in."""
    meta = getattr(task, "meta", None) or {}
    declared = meta.get(META_KEY)
    if not isinstance(declared, dict):
        return None
    return CacheSpec(code=tuple(declared.get("code", ())),
                     libraries=tuple(declared.get("libraries", ())),
                     settings=declared.get("settings"),
                     restore=declared.get("restore"))


def action_identity(action) -> object:
    """A description of one doit action that changes when it does (JSON once
    `_canonical` has described what JSON cannot hold)."""
    function = getattr(action, "py_callable", None)
    if function is not None:
        return {"python": f"{function.__module__}.{function.__qualname__}",
                "args": list(action.args), "kwargs": action.kwargs}
    return {"cmd": getattr(action, "_action", repr(action))}


def action_key(name: str, actions: list, code: dict[str, str], libraries: dict[str, str],
               settings: object, file_dep: dict[str, str], targets: list[str]) -> str:
    """The hex sha256 of the canonical JSON of a task's inputs (see the module doc)."""
    document = {"schema": KEY_SCHEMA, "name": name, "actions": actions, "code": code,
                "libraries": libraries, "settings": settings,
                "file_dep": file_dep, "targets": sorted(targets)}
    return hashlib.sha256(_canonical(document).encode()).hexdigest()


def task_key(task, spec: CacheSpec) -> str:
    """The key of `task` now: reads its file_dep, source and package metadata."""
    return action_key(
        task.name, [action_identity(a) for a in task.actions],
        {name: code_digest(name) for name in spec.code},
        library_versions(spec.libraries), spec.settings,
        file_digests(sorted(task.file_dep)), list(task.targets))


def file_digests(paths: list[str]) -> dict[str, str]:
    """sha256 of each file's content, by path as the task names it."""
    return {path: hashlib.sha256(read_bytes(path)).hexdigest() for path in paths}


@functools.cache
def code_digest(name: str) -> str:
    """sha256 over the .py files of an importable package or module (not imported).

    A module that cannot be found digests as "missing:<name>", so the key still
    changes when it appears."""
    import importlib.util
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return f"missing:{name}"
    if spec.submodule_search_locations:
        files = sorted(p for location in spec.submodule_search_locations
                       for p in Path(location).rglob("*.py"))
        base = Path(next(iter(spec.submodule_search_locations)))
    else:
        files, base = [Path(spec.origin)], Path(spec.origin).parent
    digest = hashlib.sha256()
    for path in files:
        digest.update(os.path.relpath(path, base).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def library_versions(names: tuple[str, ...]) -> dict[str, str]:
    return {name: _version(name) for name in names}


@functools.cache
def _version(name: str) -> str:
    import importlib.metadata   # only when a cacheable task runs: not on a no-op doit
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _canonical(value: object) -> str:
    """`value` as canonical JSON text (sorted keys, no spaces); what JSON cannot
    hold is described (`_describe`).  One pass: a key is computed per task, in
    the process that dispatches them."""
    try:
        return _dumps(value)
    except TypeError:
        # keys of mixed types do not sort: as JSON text they are all strings
        return _dumps(json.loads(json.dumps(value, default=_describe)))


def _dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_describe)


def _describe(value: object) -> str:
    # a function's repr carries its address, which differs in every process
    function = getattr(value, "__qualname__", None)
    if function is not None:
        return f"{getattr(value, '__module__', '?')}.{function}"
    return repr(value)
