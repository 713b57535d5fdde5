"""The pattern library: load a pattern file safely and validate it against its schema.

A pattern is a YAML mapping (see `docs/patterns.md`):

    name: orders              # must equal the file name (orders.yaml)
    kind: entity              # a kind defined in templates/kinds.yaml
    description: ...          # optional
    templates: [...]          # optional subset of the kind's templates
    outputs: {template: path} # optional output path overrides, inside output/
    depends_on: [users]       # optional: patterns whose data this one reads
    params: {...}             # kind-specific, see doit_conductor/codegen/schema.py

Loading is bounded (file size, node count, nesting) so a hostile file cannot
exhaust memory, and every error names the file and, where it has one, the line.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from doit_conductor import safe_fs
from doit_conductor.codec import from_json, to_json
from doit_conductor.codegen import schema
from doit_conductor.validation import Field, SchemaError, check_mapping
from doit_conductor.errors import UserError
from doit_conductor.lazy import lazy_module

yaml = lazy_module("yaml")   # only task 3 parses YAML; codegen workers read JSON

MAX_PATTERN_BYTES = 1 << 20      # a pattern is a page of YAML, not a data set
MAX_NODES = 20_000               # counts alias expansions too: stops "billion laughs"
MAX_DEPTH = 32
TOO_DEEP = "YAML too large or too deeply nested once aliases are expanded"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# The top level of a pattern file (its `params` are checked by its kind's schema).
PATTERN = {
    "name": Field(str, required=True, pattern=NAME_RE.pattern),
    "kind": Field(str, required=True),
    "description": Field(str, default=""),
    "templates": Field(list, default=(), item=Field(str), unique=True),
    "outputs": Field(dict, default={}, item=Field(str), what="a mapping of template to path"),
    "depends_on": Field(list, default=(), item=Field(str, pattern=NAME_RE.pattern), unique=True),
    "params": Field(dict, default={}, what="a mapping"),
}

MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, slots=True)
class Pattern:
    """A validated pattern, as the templates see it."""

    name: str
    kind: str
    source: str                      # path relative to the project root
    description: str
    templates: tuple[str, ...]       # empty: all templates of the kind
    outputs: dict[str, str]
    depends_on: tuple[str, ...]
    params: dict


def pattern_to_json(pattern: Pattern) -> dict:
    """The pattern as JSON (also what the templates see as `pattern`)."""
    return to_json(pattern)


def pattern_from_json(data: dict) -> Pattern:
    return from_json(Pattern, data, "pattern")


def read_pattern_bytes(path: Path, source: str) -> bytes:
    """Read a pattern file, refusing oversized ones before reading them whole.

    A link is refused, never followed (one to /dev/zero has size 0 and no end,
    one to a file outside the repository would be published), and so is a FIFO
    or device; the read itself is bounded too (a file that grows while read)."""
    try:
        fd = safe_fs.open_regular(path)
    except UserError as exc:
        raise UserError(f"{exc.message} (pattern files must be regular files in the "
                        "repository)", source) from None
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror}", source) from None
    try:
        size = os.fstat(fd).st_size
        if size > MAX_PATTERN_BYTES:
            raise UserError(f"pattern file is {size / 1e6:.1f} MB, over the "
                            f"{MAX_PATTERN_BYTES // 1024} KiB limit", source)
        try:
            return safe_fs.read_fd(fd, source, MAX_PATTERN_BYTES)
        except OSError as exc:
            raise UserError(f"cannot read: {exc.strerror}", source) from None
    finally:
        os.close(fd)


def parse_pattern(raw: bytes, source: str, kinds: dict[str, dict[str, str]]) -> Pattern:
    """Parse and validate one pattern file's bytes; `kinds` comes from kinds.yaml."""
    text = _decode(raw, source)
    data, lines = _load_yaml(text, source)
    return _validate(data, lines, source, kinds)


def line_of(source: str, wanted: Callable[[tuple, object], bool]) -> int | None:
    """For an error found after the file was parsed (task 6's unknown dependency,
    task 7's output path, the kinds table's missing template): the first line
    of YAML file `source` (a pattern, the kinds table) holding a value that
    `wanted(key path, value)` accepts, such as `(("depends_on", 1), "ghost")`;
    None when the file no longer parses or holds none."""
    try:
        data, lines = _load_yaml(_decode(read_pattern_bytes(Path(source), source), source),
                                 source)
    except UserError:
        return None
    return min((lines[path] for path, value in _leaves(data, ())
                if path in lines and wanted(path, value)), default=None)


def _leaves(value: object, path: tuple) -> Iterator[tuple[tuple, object]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, path + (index,))
    else:
        yield path, value


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise UserError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", source, line) from None


def _load_yaml(text: str, source: str) -> tuple[object, dict[tuple, int]]:
    """Safe-load YAML, returning the data and the line of every key path."""
    if "\x00" in text:
        raise UserError("contains a NUL character", source, text[:text.index("\x00")].count("\n") + 1)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise UserError("empty pattern file", source, 1)
        lines: dict[tuple, int] = {}
        _index_lines(node, (), lines, [0], source, 0)
        data = _construct(loader, node, source)
    except yaml.YAMLError as exc:
        if (deep_line := _too_deep(text)) is not None:
            raise UserError(TOO_DEEP, source, deep_line) from None
        if not isinstance(exc, yaml.MarkedYAMLError):
            raise UserError(f"invalid YAML: {exc}", source) from None
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise UserError(f"invalid YAML: {exc.problem or exc.context}", source, line) from None
    finally:
        loader.dispose()
    return data, lines


def _construct(loader, node: yaml.Node, source: str) -> object:
    """The document's data; a scalar PyYAML's constructors fail on (a 5,000-digit
    integer, a date with month 13) is a UserError at its line, not a ValueError."""
    try:
        try:
            return _plain(loader, node, set())
        except _NotPlain:
            return loader.construct_document(node)
    except (ValueError, OverflowError) as exc:
        line, detail = _unconstructible(node) or (None, exc)
        raise UserError(f"invalid YAML value: {type(detail).__name__}: "
                        f"{str(detail).split(chr(10), 1)[0][:200]}", source, line) from None


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


class _NotPlain(Exception):
    """A node `_plain` leaves to PyYAML's constructors."""


def _plain(loader, node: yaml.Node, seen: set[int]) -> object:
    """What `construct_document` makes of a tree of untagged mappings with string
    keys, sequences and scalars, built in one pass: PyYAML's generic
    constructors took 3x as long (123 ms against 40 ms for 1,000 patterns),
    a third of a cold parse.  Scalars other than strings still go through the
    loader's constructors.  `_NotPlain` for whatever else PyYAML gives meaning
    to: a node met twice (an alias: PyYAML shares the object), a merge key or
    any key that is not a plain string, an explicit tag on a collection."""
    if id(node) in seen:
        raise _NotPlain
    seen.add(id(node))
    tag = node.tag
    if isinstance(node, yaml.ScalarNode):
        return node.value if tag == _STR_TAG else loader.construct_object(node, deep=True)
    if tag == _MAP_TAG and isinstance(node, yaml.MappingNode):
        data = {}
        for key, value in node.value:
            if key.tag != _STR_TAG or not isinstance(key, yaml.ScalarNode):
                raise _NotPlain
            data[key.value] = _plain(loader, value, seen)
        return data
    if tag == _SEQ_TAG and isinstance(node, yaml.SequenceNode):
        return [_plain(loader, item, seen) for item in node.value]
    raise _NotPlain


def _unconstructible(root: yaml.Node) -> tuple[int, Exception] | None:
    """The line of the first scalar that does not construct, and its error
    (only called after construction failed: it constructs every scalar again)."""
    constructor = yaml.constructor.SafeConstructor()
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            try:
                constructor.construct_object(node)
            except (ValueError, OverflowError) as exc:
                return node.start_mark.line + 1, exc
        elif isinstance(node, yaml.MappingNode):
            stack.extend(reversed([item for pair in node.value for item in pair]))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
    return None


def _too_deep(text: str) -> int | None:
    """The line where `text` nests deeper than MAX_DEPTH, if it does.

    Called only after the parser failed: some YAML builds stop deep nesting with
    their own error first, and the message a user sees should not depend on that.
    The pure-Python parser streams events without such a limit of its own."""
    loader = yaml.SafeLoader(text)
    depth = 0
    try:
        while (event := loader.get_event()) is not None:
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    return event.start_mark.line + 1
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None


def _index_lines(node, path: tuple, lines: dict, budget: list[int], source: str, depth: int):
    budget[0] += 1
    if budget[0] > MAX_NODES or depth > MAX_DEPTH:
        raise UserError(TOO_DEEP, source, node.start_mark.line + 1)
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        # Keys compare as the loader will construct them: by resolved tag and text.
        seen: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode):
                ident = (key.tag, key.value)
                if ident in seen and key.tag != MERGE_TAG:
                    raise _duplicate(key.value, seen[ident], line, source)
                seen[ident] = line
                key_path = path + (key.value,)
            else:
                key_path = path + ("?",)
            lines.setdefault(key_path, line)
            _index_lines(value, key_path, lines, budget, source, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, path + (index,), lines, budget, source, depth + 1)


def _duplicate(key: str, first: int, line: int, source: str) -> UserError:
    """YAML says keys are unique, but PyYAML keeps the last of two silently: a
    pattern would quietly lose its first `kind:` or `params:`.  Merge keys
    (`<<`) are exempt, since overriding what they merge is what they are for."""
    return UserError(f"duplicate key {key!r} (first on line {first}); a key may appear once",
                     source, line)


def _validate(data: object, lines: dict[tuple, int], source: str,
              kinds: dict[str, dict[str, str]]) -> Pattern:
    def fail(path: tuple, message: str) -> UserError:
        while path and path not in lines:
            path = path[:-1]
        return UserError(message, source, lines.get(path))

    if not isinstance(data, dict):
        raise fail((), "a pattern must be a YAML mapping")
    try:
        top = check_mapping(PATTERN, data)
    except SchemaError as exc:
        raise fail(exc.path, exc.describe()) from None
    name, kind, depends_on = top["name"], top["kind"], top["depends_on"]
    stem = Path(source).stem
    if name != stem:
        raise fail(("name",), f"'name' is '{name}' but the file is {Path(source).name}; "
                              "they must agree")
    if kind not in kinds:
        raise fail(("kind",), f"unknown kind {kind!r} (known: {', '.join(sorted(kinds))})")
    for index, template in enumerate(top["templates"]):
        if template not in kinds[kind]:
            raise fail(("templates", index), f"template '{template}' is not one of kind "
                                             f"'{kind}': {', '.join(sorted(kinds[kind]))}")
    for index, dep in enumerate(depends_on):
        if dep == name:
            raise fail(("depends_on", index), "a pattern cannot depend on itself")
    for template in top["outputs"]:
        if template not in kinds[kind]:
            raise fail(("outputs", template), f"'outputs' names unknown template '{template}'")
    try:
        params = schema.validate_params(kind, top["params"], depends_on)
    except SchemaError as exc:
        raise fail(("params",) + exc.path, f"params.{exc.where}: {exc.message}") from None
    return Pattern(name=name, kind=kind, source=source, description=top["description"],
                   templates=tuple(top["templates"]), outputs=dict(top["outputs"]),
                   depends_on=tuple(depends_on), params=params)
