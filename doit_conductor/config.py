"""`[tool.conductor]` settings: read, validate, and hand out as one record.

Unknown keys and wrong types are user errors naming `pyproject.toml` and the line,
so a typo never silently falls back to a default.
"""
from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from doit_conductor.codec import from_json, to_json
from doit_conductor.errors import UserError
from doit_conductor.validation import OMIT, Field, SchemaError, check_mapping

PYPROJECT = "pyproject.toml"


@dataclass(frozen=True, slots=True)
class CacheLimits:
    enabled: bool = True
    max_entries: int = 2000
    max_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LockSettings:
    wait: bool = True
    timeout_s: float = 600.0


@dataclass(frozen=True, slots=True)
class ActionCacheSettings:
    """`[tool.conductor.cache]`: the content-addressed action cache (doit_conductor.scale).

    Off unless enabled here or a run passes `--cache`: every entry duplicates a
    task's outputs, which a single-machine build rarely wants to pay for."""

    enabled: bool = False
    url: str = ""              # fsspec URL or project-relative dir; "" = .conductor/cache/actions
    max_bytes: int = 1 << 30   # `doit cache-gc` bound for a local store
    max_age_days: float = 30.0


@dataclass(frozen=True, slots=True)
class DaskSettings:
    """`[tool.conductor.dask]`: where `--executor dask` sends tasks."""

    scheduler: str = ""        # tcp://HOST:PORT; "" = a LocalCluster for the run
    connect_timeout_s: float = 10.0
    batch_size: int = 8        # ready tasks per Dask task (one scheduler round trip)


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """What one render may cost (codegen/limits.py); generous for real templates,
    small enough that a runaway one stops before the machine does."""

    max_file_bytes: int = 8 * 1024 * 1024
    max_pattern_bytes: int = 32 * 1024 * 1024
    max_render_s: float = 60.0
    max_template_depth: int = 100


@dataclass(frozen=True, slots=True)
class Config:
    """Validated workflow settings (paths are relative to the project root)."""

    patterns_dir: str = "patterns"
    templates_dir: str = "templates"
    output_dir: str = "output"
    line_length: int = 100
    sandbox: bool = True
    # false: every run compiles and checks every generated file (to measure what
    # incremental compilation saves, docs/optimisations.md)
    incremental: bool = True
    package_version: str = "0.1.0"
    validators: dict[str, str] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    template_cache: CacheLimits = field(default_factory=CacheLimits)
    keep_runs: int = 50
    lock: LockSettings = field(default_factory=LockSettings)
    cache: ActionCacheSettings = field(default_factory=ActionCacheSettings)
    dask: DaskSettings = field(default_factory=DaskSettings)
    limits: RenderLimits = field(default_factory=RenderLimits)
    # modules doit's process imports before it forks `-n N` workers, so that
    # they share them instead of each importing them (doit_conductor.profiling.preload)
    worker_preload: tuple[str, ...] = ()


_TABLE = "a table"
_OMIT = dict(default=OMIT)  # absent keys keep the defaults of the dataclasses above

# `[tool.conductor]`, in the one validation style (doit_conductor.validation).
SPEC = {
    "patterns_dir": Field(str, **_OMIT),
    "templates_dir": Field(str, **_OMIT),
    "output_dir": Field(str, **_OMIT),
    "line_length": Field(int, minimum=20, **_OMIT),
    "sandbox": Field(bool, **_OMIT),
    "incremental": Field(bool, **_OMIT),
    "package_version": Field(str, **_OMIT),
    "validators": Field(dict, what=_TABLE, **_OMIT),  # {".ext": "cmd {file}"}, checked
    "checks": Field(dict, what=_TABLE, **_OMIT),      # in parse_config
    "template_cache": Field(dict, what=_TABLE, **_OMIT, item={
        "enabled": Field(bool, **_OMIT),
        "max_entries": Field(int, minimum=0, **_OMIT),
        "max_bytes": Field(int, minimum=0, **_OMIT)}),
    "metrics": Field(dict, what=_TABLE, **_OMIT, item={
        "keep_runs": Field(int, minimum=1, **_OMIT)}),
    "lock": Field(dict, what=_TABLE, **_OMIT, item={
        "wait": Field(bool, **_OMIT),
        "timeout_s": Field(float, minimum=0, **_OMIT)}),
    "cache": Field(dict, what=_TABLE, **_OMIT, item={
        "enabled": Field(bool, **_OMIT),
        "url": Field(str, **_OMIT),
        "max_bytes": Field(int, minimum=0, **_OMIT),
        "max_age_days": Field(float, minimum=0, **_OMIT)}),
    "dask": Field(dict, what=_TABLE, **_OMIT, item={
        "scheduler": Field(str, **_OMIT),
        "connect_timeout_s": Field(float, minimum=0, **_OMIT),
        "batch_size": Field(int, minimum=1, **_OMIT)}),
    "limits": Field(dict, what=_TABLE, **_OMIT, item={
        "max_file_bytes": Field(int, minimum=1, **_OMIT),
        "max_pattern_bytes": Field(int, minimum=1, **_OMIT),
        "max_render_s": Field(float, minimum=0, **_OMIT),
        "max_template_depth": Field(int, minimum=1, **_OMIT)}),
    "worker_preload": Field(list, item=Field(str), unique=True, **_OMIT),
}


def load_config(root: str | Path = ".") -> Config:
    """Read `[tool.conductor]` from `root/pyproject.toml`; defaults if absent.

    A config that does not validate is a UserError naming the file and line.
    Parsed and validated once per process and content, whoever asks."""
    try:
        data = (Path(root) / PYPROJECT).read_bytes()
    except FileNotFoundError:
        return Config()
    result = _parse_pyproject(data)
    if isinstance(result, UserError):
        raise result
    return result


def project_config(root: str | Path = ".") -> Config:
    """The config for what runs before task 2 (`load-config`) has validated it:
    loading the task list, taking the run lock, pruning metrics runs.

    The one error policy for those: a config that does not validate means the
    defaults, silently here, because task 2 reports it as one line naming the
    file and line and fails the run (and `doit list` must still work)."""
    try:
        return load_config(root)
    except UserError:
        return Config()


@functools.lru_cache(maxsize=4)
def _parse_pyproject(data: bytes) -> Config | UserError:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return UserError("not valid UTF-8", PYPROJECT)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(str(exc))
        return UserError(f"invalid TOML: {exc}".split(" (at line")[0], PYPROJECT, line)
    try:
        return parse_config(document.get("tool", {}).get("conductor", {}), text)
    except UserError as err:
        return err


def parse_config(section: dict, text: str = "") -> Config:
    """Validate the `[tool.conductor]` table; `text` lets errors carry a line."""
    def fail(key: str, message: str) -> UserError:
        return UserError(f"[tool.conductor] {message}", PYPROJECT, _line_of(text, key))

    try:
        values = check_mapping(SPEC, section)
    except SchemaError as exc:
        raise fail(str(exc.path[-1]) if exc.path else "", exc.describe()) from None
    for key in ("validators", "checks"):
        for ext, command in values.get(key, {}).items():
            if not ext.startswith(".") or not isinstance(command, str) or "{file}" not in command:
                raise fail(ext, f"{key}: '{ext}' needs an extension like '.ts' and a command "
                                "containing {file}")
        if key in values:
            values[key] = dict(values[key])
    values.update(values.pop("metrics", {}))
    config = from_json(Config, values, "[tool.conductor]")   # the nested records too
    for name in values.get("worker_preload", ()):
        if not all(part.isidentifier() for part in name.split(".")):
            raise fail("worker_preload", f"worker_preload: {name!r} is not a module name")
    for key in ("patterns_dir", "templates_dir", "output_dir"):
        value = getattr(config, key)
        if not value or Path(value).is_absolute() or ".." in Path(value).parts:
            raise fail(key, f"'{key}' must be a relative path inside the project")
    return config


def config_to_json(config: Config) -> dict:
    return to_json(config)


def config_from_json(data: dict) -> Config:
    """The config task 2 saved (its extra `state_version` key is ignored)."""
    return from_json(Config, data, "config")


def _line_of(text: str, key: str) -> int | None:
    """Line of `key = ...` inside the conductor tables (TOML parsers give no positions)."""
    in_section = False
    pattern = re.compile(rf"""^\s*["']?{re.escape(key)}["']?\s*=""")
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_section = stripped.startswith("[tool.conductor")
            if in_section and stripped.rstrip("]").endswith("." + key):
                return number
            continue
        if in_section and pattern.match(line):
            return number
    return None


def _toml_error_line(message: str) -> int | None:
    match = re.search(r"at line (\d+)", message)
    return int(match.group(1)) if match else None
