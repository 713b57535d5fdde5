"""Benchmark workload: a ready-to-run copy of this workflow with N synthetic patterns.

    python -m benchmarks.workload DIR --patterns 1000 [--seed 1] [--compile-delay-ms 0] [--independent]

writes into DIR the project's `dodo.py` and `templates/`, a `pyproject.toml` with
the repository's `[tool.doit]` and `[tool.conductor]` settings, and N patterns
drawn deterministically from the seed: about half entities (2 to 40 fields, a
third of them referencing earlier entities), a fifth enums and the rest endpoints
on an earlier entity.  References only point backwards, so `depends_on` is
acyclic by construction, and uniform over all earlier entities, so chains stay
short (depth grows like log N) and most patterns can build in parallel.  `cd DIR
&& doit` runs it.

External quality checks (`ruff` on each `.py` in this repository's config) are
left out: they would time the checker, not the workflow.  With
`--compile-delay-ms D` each pattern also produces a TypeScript declaration whose
compile step, like `tsc --noEmit` in production, is an external process taking D
ms (`[tool.conductor.validators]`, run on a scratch copy by the pipeline).
`--independent` drops every `depends_on` (entities and enums only): the seed
project's shape, where patterns can all build at once.
"""
from __future__ import annotations

import argparse
import random
import shutil
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
KIND_SHARES = (("entity", 0.5), ("enum", 0.2), ("endpoint", 0.3))
FIELD_NAMES = (
    "title", "label", "code", "status", "amount", "quantity", "price", "weight", "note",
    "summary", "created_on", "updated_on", "due_on", "active", "archived", "priority",
    "rank", "score", "color", "region", "country", "city", "street", "postcode", "phone",
    "email", "website", "currency", "ratio", "version", "owner_name", "category", "tag",
    "comment", "level", "size", "width", "height", "depth", "batch", "channel", "source_ref",
)
TYPES = ("int", "str", "str", "float", "bool", "date")
NOUNS = ("account", "invoice", "shipment", "ticket", "device", "course", "booking",
         "payment", "warehouse", "review", "contract", "vehicle", "patient", "project")
VALUE_WORDS = ("NEW", "OPEN", "CLOSED", "PENDING", "ACTIVE", "BLOCKED", "DONE", "FAILED",
               "LOW", "MEDIUM", "HIGH", "URGENT", "RED", "GREEN", "BLUE", "DRAFT", "SENT",
               "PAID", "VOID", "ARCHIVED")
REQUIRED_LINE_MAX = 96
TS_TEMPLATE = "typescript/types.ts.j2"
TS_OUTPUT = "ts/{name}.ts"
# Workload-only template: a TypeScript declaration of each pattern, the file type
# production compiles with an external compiler (tsc).
TS_SOURCE = """\
{% from "_partials/header.j2" import header with context %}
{% set p = pattern.params %}
{{ header("//") }}
{% if pattern.kind == "enum" %}
export type {{ pattern.name | pascal }} =
{% for v in p["values"] %}
  | "{{ v | lower }}"{{ ";" if loop.last }}
{% endfor %}
{% else %}
export interface {{ pattern.name | pascal }} {
{% for f in (p.fields if pattern.kind == "entity" else p.request) %}
  {{ f.name }}{{ "" if f.required else "?" }}: {{ {"int": "number", "float": "number", "str": "string", "bool": "boolean", "date": "string"}[f.type] }};
{% endfor %}
}
{% endif %}
"""


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """What to generate; the same spec always yields the same files."""

    patterns: int
    seed: int = 1
    compile_delay_ms: int = 0
    independent: bool = False    # no depends_on at all: entities and enums only


def synthetic_patterns(spec: WorkloadSpec) -> list[dict]:
    """The pattern documents, in creation order (dependencies always come earlier)."""
    rng = random.Random(spec.seed)
    entities: list[str] = []
    documents = []
    for index in range(spec.patterns):
        kind = "entity" if not entities else _pick_kind(rng)
        if spec.independent and kind == "endpoint":
            kind = "entity"
        name = f"{rng.choice(NOUNS)}_{index:05d}"
        if kind == "entity":
            documents.append(_entity(rng, name, [] if spec.independent else entities))
            entities.append(name)
        elif kind == "enum":
            documents.append(_enum(rng, name))
        else:
            documents.append(_endpoint(rng, name, entities))
    return documents


def _pick_kind(rng: random.Random) -> str:
    roll = rng.random()
    for kind, share in KIND_SHARES:
        if roll < share:
            return kind
        roll -= share
    return KIND_SHARES[-1][0]


def _fields(rng: random.Random, count: int) -> list[dict]:
    fields = []
    for field_name in rng.sample(FIELD_NAMES, min(count, len(FIELD_NAMES))):
        field: dict = {"name": field_name, "type": rng.choice(TYPES)}
        if field["type"] == "str" and rng.random() < 0.7:
            field["max_length"] = rng.choice((16, 60, 120, 500))
        if rng.random() < 0.25:
            field["required"] = False
        fields.append(field)
    return fields


def _entity(rng: random.Random, name: str, earlier: list[str]) -> dict:
    # Field counts skew small, with a long tail: most tables are narrow.
    count = min(40, 2 + int(rng.expovariate(1 / 8)))
    fields = [{"name": "id", "type": "int"}] + _fields(rng, count - 1)
    refs = sorted(set(rng.sample(earlier, min(len(earlier), rng.randint(1, 2)))))\
        if earlier and rng.random() < 0.35 else []
    fields += [{"name": f"{ref}_id", "type": "int", "references": ref} for ref in refs]
    _fit_required_line(fields)
    params: dict = {"primary_key": "id", "fields": fields}
    if len(fields) > 3 and rng.random() < 0.3:
        params["unique"] = [fields[1]["name"]]
    document = {"name": name, "kind": "entity", "description": f"Synthetic entity {name}"}
    if refs:
        document["depends_on"] = refs
    document["params"] = params
    return document


def _fit_required_line(fields: list[dict]) -> None:
    """The JSON Schema template lists the required fields on one line, which must
    stay within line_length (100): wide tables get more optional fields."""
    def width() -> int:
        names = [f["name"] for f in fields if f.get("required", True)]
        return len('  "required": [],') + sum(len(n) + 4 for n in names)
    for field in reversed(fields[1:]):
        if width() <= REQUIRED_LINE_MAX:
            return
        field["required"] = False


def _enum(rng: random.Random, name: str) -> dict:
    values = rng.sample(VALUE_WORDS, rng.randint(2, 12))
    # Generated schemas list the values on one line, within line_length.
    while len('  "enum": [],') + sum(len(v) + 4 for v in values) > REQUIRED_LINE_MAX:
        values.pop()
    params: dict = {"values": values}
    if rng.random() < 0.5:
        params["default"] = values[0]
    return {"name": name, "kind": "enum", "description": f"Synthetic enum {name}",
            "params": params}


def _endpoint(rng: random.Random, name: str, entities: list[str]) -> dict:
    entity = rng.choice(entities)
    method = rng.choice(("GET", "POST", "PUT", "DELETE"))
    document = {"name": name, "kind": "endpoint", "description": f"Synthetic endpoint {name}",
                "depends_on": [entity],
            "params": {"method": method, "path": f"/{entity}/{{id}}", "entity": entity,
                       "request": [{"name": "id", "type": "int"}]
                       + _fields(rng, rng.randint(0, 8))}}
    _fit_required_line(document["params"]["request"])
    return document


def write_workload(target: Path, spec: WorkloadSpec) -> Path:
    """Write the workload into `target` (created; it must not hold a workload yet)."""
    target = Path(target)
    if (target / "patterns").exists():
        raise FileExistsError(f"{target} already holds a workload")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "dodo.py", target / "dodo.py")
    # the workflow itself is not installed: dodo.py imports it from tasks/
    shutil.copytree(REPO / "tasks", target / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "templates", target / "templates")
    if spec.compile_delay_ms:
        _add_typescript(target / "templates")
    (target / "pyproject.toml").write_text(pyproject_text(spec))
    patterns = target / "patterns"
    patterns.mkdir()
    for document in synthetic_patterns(spec):
        (patterns / f"{document['name']}.yaml").write_text(
            yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=100))
    return target


def _add_typescript(templates: Path) -> None:
    (templates / TS_TEMPLATE).parent.mkdir(parents=True, exist_ok=True)
    (templates / TS_TEMPLATE).write_text(TS_SOURCE)
    kinds_file = templates / "kinds.yaml"
    kinds = yaml.safe_load(kinds_file.read_text())
    for outputs in kinds.values():
        outputs[TS_TEMPLATE] = TS_OUTPUT
    kinds_file.write_text("# workload: the repository's kinds plus a TypeScript declaration\n"
                          + yaml.safe_dump(kinds, sort_keys=False))


def pyproject_text(spec: WorkloadSpec) -> str:
    """The repository's [tool.doit] and [tool.conductor], with the workload's
    validators and no external checks."""
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]
    conductor = dict(tool["conductor"])
    conductor["checks"] = {}
    conductor["validators"] = {}
    if spec.compile_delay_ms:
        # Stands in for `tsc --noEmit {file}`: an external process that takes D ms.
        # `sh -c` ignores the file (its $0), so the command still names {file}.
        conductor["validators"][".ts"] = f"sh -c 'sleep {spec.compile_delay_ms / 1000:.3f}' {{file}}"
    lines = [f"# Benchmark workload: {spec.patterns} patterns, seed {spec.seed}, "
             f"compile delay {spec.compile_delay_ms} ms (python -m benchmarks.workload)", ""]
    lines += _toml_table("tool.doit", tool["doit"])
    lines += _toml_table("tool.conductor", conductor)
    return "\n".join(lines) + "\n"


def _toml_table(name: str, table: dict) -> list[str]:
    lines = [f"[{name}]"]
    nested = []
    for key, value in table.items():
        if isinstance(value, dict):
            nested.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    lines.append("")
    for key, value in nested:
        lines += _toml_table(f"{name}.{key}", value)
    return lines


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workload", description=__doc__.split("\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--patterns", type=int, required=True, help="number of patterns")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compile-delay-ms", type=int, default=0,
                        help="each pattern's TypeScript compile waits this long on an external process")
    parser.add_argument("--independent", action="store_true",
                        help="patterns without depends_on (entities and enums only)")
    args = parser.parse_args(argv)
    if args.patterns < 1 or args.compile_delay_ms < 0:
        parser.error("--patterns must be at least 1 and --compile-delay-ms not negative")
    try:
        write_workload(args.directory, WorkloadSpec(args.patterns, args.seed, args.compile_delay_ms,
                                                         args.independent))
    except FileExistsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    print(f"wrote {args.patterns} patterns to {args.directory}; run: cd {args.directory} && doit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
