"""`[tool.conductor]` settings: read, validate, and hand out as one record.

Unknown keys and wrong types are user errors naming `pyproject.toml` and the line,
so a typo never silently falls back to a default.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from doit_conductor.errors import UserError

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


_SCALARS: dict[str, type] = {
    "patterns_dir": str, "templates_dir": str, "output_dir": str,
    "line_length": int, "sandbox": bool, "incremental": bool, "package_version": str,
}
_TABLES = ("validators", "checks", "template_cache", "metrics", "lock")


def load_config(root: str | Path = ".") -> Config:
    """Read `[tool.conductor]` from `root/pyproject.toml`; defaults if absent."""
    path = Path(root) / PYPROJECT
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except UnicodeDecodeError:
        raise UserError("not valid UTF-8", PYPROJECT) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(str(exc))
        raise UserError(f"invalid TOML: {exc}".split(" (at line")[0], PYPROJECT, line) from None
    section = data.get("tool", {}).get("conductor", {})
    return parse_config(section, text)


def parse_config(section: dict, text: str = "") -> Config:
    """Validate the `[tool.conductor]` table; `text` lets errors carry a line."""
    def fail(key: str, message: str) -> UserError:
        return UserError(f"[tool.conductor] {message}", PYPROJECT, _line_of(text, key))

    values: dict[str, object] = {}
    for key, value in section.items():
        if key in _SCALARS:
            expected = _SCALARS[key]
            if type(value) is not expected:
                raise fail(key, f"'{key}' must be {expected.__name__}, got {type(value).__name__}")
            values[key] = value
        elif key not in _TABLES:
            raise fail(key, f"unknown key '{key}'")
    for key in ("validators", "checks"):
        table = _table(section, key, fail)
        for ext, command in table.items():
            if not ext.startswith(".") or not isinstance(command, str) or "{file}" not in command:
                raise fail(ext, f"{key}: '{ext}' needs an extension like '.ts' and a command "
                                "containing {file}")
        values[key] = dict(table)
    values["template_cache"] = CacheLimits(**_typed(section, "template_cache",
                                                    {"enabled": bool, "max_entries": int,
                                                     "max_bytes": int}, fail))
    metrics = _typed(section, "metrics", {"keep_runs": int}, fail)
    if "keep_runs" in metrics:
        values["keep_runs"] = metrics["keep_runs"]
    values["lock"] = LockSettings(**_typed(section, "lock", {"wait": bool, "timeout_s": float}, fail))
    config = Config(**values)
    if config.line_length < 20:
        raise fail("line_length", "'line_length' must be at least 20")
    for key in ("patterns_dir", "templates_dir", "output_dir"):
        value = getattr(config, key)
        if not value or Path(value).is_absolute() or ".." in Path(value).parts:
            raise fail(key, f"'{key}' must be a relative path inside the project")
    return config


def config_to_json(config: Config) -> dict:
    return asdict(config)


def config_from_json(data: dict) -> Config:
    data = dict(data)
    data.pop("state_version", None)
    data["template_cache"] = CacheLimits(**data["template_cache"])
    data["lock"] = LockSettings(**data["lock"])
    return Config(**data)


def _table(section: dict, key: str, fail) -> dict:
    table = section.get(key, {})
    if not isinstance(table, dict):
        raise fail(key, f"'{key}' must be a table")
    return table


def _typed(section: dict, key: str, schema: dict[str, type], fail) -> dict:
    table = _table(section, key, fail)
    for name, value in table.items():
        if name not in schema:
            raise fail(name, f"unknown key '{key}.{name}'")
        expected = schema[name]
        ok = type(value) is expected or (expected is float and type(value) is int)
        if not ok:
            raise fail(name, f"'{key}.{name}' must be {expected.__name__}")
        if expected in (int, float) and value < 0:
            raise fail(name, f"'{key}.{name}' must not be negative")
    return {name: (float(v) if schema[name] is float else v) for name, v in table.items()}


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
