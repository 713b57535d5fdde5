"""Plan: which file each (pattern, template) pair produces, checked before anything renders.

Takes validated patterns, the kinds table and template references, and returns
one `PlanEntry` per pattern.  Two pairs producing one path, and paths that would
leave the output directory, are user errors here, before any file is written.
Not pure: to refuse an escape through a symbolic link it stats the directories
the outputs go into (each once per call, see `output_path`), and it writes
nothing.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from doit_conductor.codec import from_json, to_json
from doit_conductor.errors import UserError
from doit_conductor.paths import inside

if TYPE_CHECKING:  # keeps yaml off the import path of the no-op path
    from doit_conductor.codegen.patterns import Pattern

_SAFE_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")


@dataclass(frozen=True, slots=True)
class Output:
    template: str
    path: str          # relative to the project root, under the output directory


@dataclass(frozen=True, slots=True)
class PlanEntry:
    name: str
    source: str
    depends_on: tuple[str, ...]
    dep_sources: tuple[str, ...]
    outputs: tuple[Output, ...]
    templates: tuple[str, ...]     # every template file the outputs read, partials included


def plan_entry_to_json(entry: PlanEntry) -> dict:
    return to_json(entry)


def plan_entry_from_json(data: dict) -> PlanEntry:
    return from_json(PlanEntry, data, "plan entry")


def plan_codegen(patterns: Mapping[str, Pattern], order: list[str],
                 kinds: dict[str, dict[str, str]],
                 closures: dict[str, tuple[str, ...]], output_dir: str,
                 reserved: Mapping[str, str] | None = None,
                 planned: Mapping[str, tuple[str, tuple[str, ...]]] | None = None,
                 line_of: Callable[[str, str], int | None] = lambda source, template: None,
                 ) -> list[PlanEntry]:
    """One entry per pattern, in dependency order.  `reserved`: paths other
    tasks write, by task name (a key ending in `/` reserves a directory).
    `line_of(source, template)`: the line of the pattern's `outputs` entry for
    that template, for an error in an output path the pattern wrote.

    `planned` (an edit: O(changed)): by name, the source and output paths of
    patterns planned before from the same pattern, dependencies' sources, kinds,
    closures, output directory and reserved paths.  Those are not planned again
    and get no entry here; their paths are only claimed, in order, so that a
    changed pattern colliding with one is refused as a full plan would (same
    pattern named, same message).  Their paths are not checked for links again:
    a link planted there since is the writer's to refuse, as it is when this
    task does not run at all."""
    claimed: dict[str, str] = {}
    checked_dirs: dict[str, _Directory] = {}
    plan = []
    planned = planned or {}
    for name in order:
        if name in planned:
            source, paths = planned[name]
            for path in paths:
                if path in claimed:
                    raise UserError(f"output {path} is produced twice: by this pattern and by "
                                    f"{claimed[path]}", source)
                claimed[path] = source
            continue
        pattern = patterns[name]
        templates = pattern.templates or tuple(sorted(kinds[pattern.kind]))
        outputs = []
        used: set[str] = set()
        for template in templates:
            rule = pattern.outputs.get(template, kinds[pattern.kind][template])
            try:
                path = output_path(rule, name, output_dir, pattern.source, checked_dirs)
                if (owner := reserved_by(path, reserved or {})) is not None:
                    raise UserError(f"output {path} is written by the workflow's task '{owner}'; "
                                    "a pattern cannot produce it (choose another path)",
                                    pattern.source)
                twin = next((o.template for o in outputs if o.path == path), None)
                if twin is not None:   # two of its own templates
                    raise UserError(f"output {path} is produced twice by this pattern: by "
                                    f"templates {twin} and {template}", pattern.source)
                if path in claimed:
                    raise UserError(f"output {path} is produced twice: by this pattern and by "
                                    f"{claimed[path]}", pattern.source)
            except UserError as err:
                if template in pattern.outputs and err.line is None:
                    err.line = line_of(pattern.source, template)   # the pattern's own rule
                raise
            claimed[path] = pattern.source
            outputs.append(Output(template, path))
            used.add(template)
            used.update(closures.get(template, ()))
        plan.append(PlanEntry(
            name=name, source=pattern.source, depends_on=pattern.depends_on,
            dep_sources=tuple(patterns[d].source for d in pattern.depends_on),
            outputs=tuple(outputs), templates=tuple(sorted(used))))
    return plan


def reserved_by(path: str, reserved: Mapping[str, str]) -> str | None:
    """The task that `reserved` says writes `path`, if any."""
    if path in reserved:
        return reserved[path]
    for prefix, owner in reserved.items():
        if prefix.endswith("/") and path.startswith(prefix):
            return owner
    return None


def output_path(rule: str, name: str, output_dir: str, source: str,
                checked_dirs: dict[str, _Directory] | None = None) -> str:
    """Resolve an output rule to a path under `output_dir`, refusing any escape."""
    relative = rule.replace("{name}", name)
    if "\x00" in relative or "\n" in relative:
        raise UserError(f"output path {relative!r} contains a control character", source)
    # every segment must start with a letter, digit or '_': no '..', no leading '/'
    if not _SAFE_PATH.fullmatch(relative):
        raise UserError(f"output path '{relative}' must be a plain relative path inside "
                        f"{output_dir}/ (no '..', no absolute path, no special characters)", source)
    path = f"{output_dir}/{relative}"
    parent, file_name = os.path.split(path)
    if checked_dirs is None:
        checked_dirs = {}
    directory = checked_dirs.get(parent)
    if directory is None:  # a thousand patterns share a handful of directories
        directory = checked_dirs[parent] = _Directory.of(parent, output_dir)
    _refuse_overlong(relative, directory.absolute_bytes + 1 + len(file_name.encode()),
                     output_dir, source)
    # a directory that does not exist yet (a cold build) holds no link
    if directory.escapes or (directory.exists and os.path.islink(path)):
        raise UserError(f"output path '{relative}' leads outside {output_dir}/ through a "
                        "symbolic link", source)
    return path


class _Directory(NamedTuple):
    """What `output_path` checks once per output directory (a tuple, not a
    record: a slotted dataclass cost 0.85 ms of every import of this module,
    in task 7 and in every codegen worker; this costs 0.09)."""
    escapes: bool          # through a symbolic link (`escapes_through_symlink`)
    exists: bool
    absolute_bytes: int    # the length of its absolute path

    @classmethod
    def of(cls, path: str, output_dir: str) -> _Directory:
        return cls(escapes_through_symlink(path, output_dir), os.path.isdir(path),
                   len(os.path.abspath(path).encode()))


def _refuse_overlong(relative: str, path_bytes: int, output_dir: str, source: str) -> None:
    """A name the file system cannot hold would fail the write with ENAMETOOLONG,
    after rendering; refused here instead.  Every file is written through a
    temporary `.<name>.<pid>-<n>.tmp` beside it, so a name must leave room for that.
    `path_bytes`: the length of the absolute path (the segments of `relative`
    need no normalising)."""
    name_max, path_max = _name_limits(output_dir)
    limit = name_max - TEMP_NAME_MARGIN
    for segment in relative.split("/"):
        if len(segment.encode()) > limit:
            raise UserError(f"output path segment '{segment[:40]}...' is {len(segment.encode())} "
                            f"bytes long; the file system allows {limit} for a generated file "
                            f"name ({name_max} less {TEMP_NAME_MARGIN} for its temporary name)",
                            source)
    if path_bytes > path_max - TEMP_NAME_MARGIN:
        raise UserError(f"output path '{relative[:40]}...' is too long for the file system "
                        f"({path_max} bytes with the project's directory)", source)


# room for the `.` + `.<pid hex>-<counter hex>.tmp` of fsio's temporary names
TEMP_NAME_MARGIN = 32


@lru_cache(maxsize=8)
def _name_limits(output_dir: str) -> tuple[int, int]:
    """NAME_MAX and PATH_MAX of the file system `output_dir` (or its nearest
    existing ancestor) lives on; POSIX's usual 255 and 4096 where not reported.
    Asked once per process: a plan checks thousands of paths in one directory."""
    directory = os.path.abspath(output_dir)
    while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
        directory = os.path.dirname(directory)
    try:
        return os.pathconf(directory, "PC_NAME_MAX"), os.pathconf(directory, "PC_PATH_MAX")
    except (OSError, ValueError):
        return 255, 4096


def escapes_through_symlink(path: str, output_dir: str) -> bool:
    """True if what exists of `path` resolves outside `output_dir` (or is a symlink)."""
    if os.path.islink(path):
        return True
    return not inside(os.path.realpath(output_dir), path)
