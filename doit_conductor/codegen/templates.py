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
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from doit_conductor import safe_fs
from doit_conductor.codegen import escape
from doit_conductor.codegen.bytecode_cache import TemplateBytecodeCache
from doit_conductor.errors import UserError


def pascal(value: str) -> str:
    """users_by_id -> UsersById: class names from pattern names."""
    return "".join(part.capitalize() for part in value.split("_"))



# What one `*` or `**` of a template may build.  The output limits
# (`[tool.conductor.limits]`) judge a render's text as it is produced; an
# expression such as `"9" * 10000000000` builds its value first, in one step,
# and would exhaust the machine's memory before any limit saw it.
MAX_REPEATED_ITEMS = 64 << 20    # characters, bytes or list items
MAX_POWER_BITS = 1 << 16         # bits of an integer `**` may produce


class BoundedSandbox(SandboxedEnvironment):
    """Jinja2's sandbox, with `*` and `**` refusing results no output could
    hold.  Intercepted operators are also never folded into constants at
    compile time (Jinja2 leaves them to `call_binop`)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator: str, left, right):
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) \
                and abs(left) > 1 and right > 0 \
                and right * max(abs(left).bit_length() - 1, 1) > MAX_POWER_BITS:
            raise SecurityError(f"{left} ** {right} is larger than the sandbox allows "
                                f"(over {MAX_POWER_BITS} bits)")
        return super().call_binop(context, operator, left, right)


def _check_repeat(sequence, count) -> None:
    if isinstance(sequence, (str, bytes, list, tuple)) and isinstance(count, int) \
            and len(sequence) * count > MAX_REPEATED_ITEMS:
        raise SecurityError(f"repeating {len(sequence)} items {count} times is more than "
                            f"the sandbox allows ({MAX_REPEATED_ITEMS} items)")


class ContainedLoader(jinja2.FileSystemLoader):
    """Loads templates only from regular files inside the templates directory,
    reached without following a symbolic link: a link (to ~/.ssh/id_rsa,
    /etc/passwd, or another template) is refused before anything is opened
    through it, as is a FIFO or a device (`safe_fs.open_regular`)."""

    def get_source(self, environment, template):
        pieces = []
        for piece in template.split("/"):   # as Jinja2's loaders split a name
            if os.sep in piece or (os.altsep and os.altsep in piece) or piece == os.pardir:
                raise jinja2.TemplateNotFound(template)
            if piece and piece != os.curdir:
                pieces.append(piece)
        if not pieces:
            raise jinja2.TemplateNotFound(template)
        root = self.searchpath[0]
        filename = os.path.normpath(os.path.join(root, *pieces))
        try:
            fd = safe_fs.open_regular(os.path.join(*pieces), root=root)
        except (FileNotFoundError, NotADirectoryError):
            raise jinja2.TemplateNotFound(template) from None
        except UserError as exc:
            # the link may be a directory on the way (`_partials`): named as found
            where = exc.file or filename   # named from the root down, or below it
            if not (os.path.isabs(where) or where.startswith(root.rstrip(os.sep) + os.sep)):
                where = os.path.join(root, where)
            raise UserError(f"template {exc.message}", where) from None
        try:
            mtime = os.fstat(fd).st_mtime_ns
            source = safe_fs.read_fd(fd, filename).decode(self.encoding)
        finally:
            os.close(fd)

        def uptodate() -> bool:
            info = safe_fs.lstat(filename)
            return info is not None and info.st_mtime_ns == mtime
        return source, filename, uptodate


@lru_cache(maxsize=8)
def environment(templates_dir: str, sandbox: bool, cache_dir: str | None) -> jinja2.Environment:
    """The process's environment for these settings (built once, then reused)."""
    env_class = BoundedSandbox if sandbox else jinja2.Environment
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
