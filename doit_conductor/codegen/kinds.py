"""`templates/kinds.yaml`: for each pattern kind, its templates and their output paths.

Apart from the template environment so that validating patterns does not import
jinja2.
"""
from __future__ import annotations

import stat
from pathlib import Path

import xxhash
import yaml

from doit_conductor import safe_fs
from doit_conductor.errors import UserError

KINDS_FILE = "kinds.yaml"
MAX_KINDS_BYTES = 1 << 20


def load_kinds(templates_dir: str) -> dict[str, dict[str, str]]:
    """`kinds.yaml`: for each pattern kind, template name -> output path rule."""
    path = Path(templates_dir) / KINDS_FILE
    source = str(path)
    try:
        data = yaml.load(safe_fs.read_text(path, limit=MAX_KINDS_BYTES), Loader=yaml.CSafeLoader)
    except FileNotFoundError:
        raise UserError("missing: it maps each pattern kind to its templates", source) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise UserError(f"invalid YAML: {exc.problem}", source, line) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"invalid YAML: {exc}", source) from None
    if not isinstance(data, dict) or not data:
        raise UserError("must map kinds to {template: output path}", source)
    for kind, templates in data.items():
        if not isinstance(templates, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in templates.items()):
            raise UserError(f"kind '{kind}' must map template names to output paths", source,
                            _line(source, (kind,)))
        for template, rule in templates.items():
            info = safe_fs.lstat(Path(templates_dir) / template)
            if info is None or not stat.S_ISREG(info.st_mode):
                raise UserError(f"kind '{kind}': template '{template}' does not exist", source,
                                _line(source, (kind, template)))
            if "{name}" not in rule:
                raise UserError(f"kind '{kind}': output path '{rule}' must contain {{name}}",
                                source, _line(source, (kind, template)))
    return data


def _line(source: str, under: tuple) -> int | None:
    """The first line of what the kinds table holds under `under` (for an error)."""
    from doit_conductor.codegen.patterns import line_of
    return line_of(source, lambda path, _: path[:len(under)] == under)


def kinds_digest(templates_dir: str) -> str:
    """Digest of kinds.yaml: pattern validation depends on it (template names)."""
    try:
        return xxhash.xxh3_64_hexdigest(safe_fs.read_bytes(Path(templates_dir) / KINDS_FILE,
                                                             limit=MAX_KINDS_BYTES))
    except (OSError, UserError):
        return "missing"
