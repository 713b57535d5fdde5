"""Templates: one Jinja2 environment per process, their references, and the kinds table.

`environment()` builds the environment once per process and settings (a doit
worker renders many patterns with it), sandboxed unless the config says
otherwise, strict about undefined variables and with a disk bytecode cache
(`bytecode_cache.py`) so a new process does not re-parse unchanged templates.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from doit_conductor.codegen import escape
from doit_conductor.codegen.bytecode_cache import TemplateBytecodeCache
from doit_conductor.errors import UserError
from doit_conductor.paths import inside


def pascal(value: str) -> str:
    """users_by_id -> UsersById: class names from pattern names."""
    return "".join(part.capitalize() for part in value.split("_"))



class ContainedLoader(jinja2.FileSystemLoader):
    """Loads templates only from files that really are inside the templates
    directory: a symbolic link out of it (to ~/.ssh/id_rsa, /etc/passwd) would
    otherwise be read and published in a generated file."""

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        if not inside(os.path.realpath(self.searchpath[0]), filename):
            raise UserError("template resolves outside the templates directory "
                            "(a symbolic link); refusing to read it", filename)
        return source, filename, uptodate


@lru_cache(maxsize=8)
def environment(templates_dir: str, sandbox: bool, cache_dir: str | None) -> jinja2.Environment:
    """The process's environment for these settings (built once, then reused)."""
    env_class = SandboxedEnvironment if sandbox else jinja2.Environment
    env = env_class(
        loader=ContainedLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        auto_reload=False,
        bytecode_cache=TemplateBytecodeCache(cache_dir) if cache_dir else None,
    )
    env.filters["pascal"] = pascal
    # Escaping per target language (escape.py): templates pass every pattern
    # value through the filter of the language it lands in.
    env.filters.update(escape.FILTERS)
    return env


def direct_references(env: jinja2.Environment, name: str) -> tuple[str, ...]:
    """Templates `name` includes, imports or extends, by Jinja2's own analysis."""
    source_path = Path(env.loader.searchpath[0]) / name
    try:
        source, _, _ = env.loader.get_source(env, name)
    except jinja2.TemplateNotFound:
        raise UserError("template does not exist", str(source_path)) from None
    try:
        ast = env.parse(source, name, str(source_path))
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(f"template syntax error: {exc.message}", str(source_path),
                        exc.lineno) from None
    refs = list(meta.find_referenced_templates(ast))
    if None in refs:
        raise UserError("includes a template chosen at render time; "
                        "use a constant name so dependencies can be tracked", str(source_path))
    return tuple(sorted(set(refs)))


def reference_closure(direct: dict[str, tuple[str, ...]], name: str) -> tuple[str, ...]:
    """Every template reachable from `name` (itself excluded), sorted."""
    seen: set[str] = set()
    stack = list(direct.get(name, ()))
    while stack:
        ref = stack.pop()
        if ref not in seen:
            seen.add(ref)
            stack.extend(direct.get(ref, ()))
    seen.discard(name)
    return tuple(sorted(seen))
