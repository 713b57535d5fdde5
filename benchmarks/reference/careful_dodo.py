"""The "careful" plain-doit reference: `dodo.py` (the naive one) plus two
module-level caches, which is what a careful doit user writes.

One `jinja2.Environment` per process (so each template is compiled once per
worker) and each pattern parsed once per process (a render reads the patterns it
depends on, which other renders read too).  Everything else is the naive
reference's, below.

What a doit user writes without our plugins, for the same patterns and
templates (run it in a copy of a workload's `patterns/` and `templates/`, with no
pyproject.toml, so doit's defaults apply): one `render` and one `compile` task
per pattern; a `jinja2.Environment` built for every render; doit's MD5 file
checker, default dbm backend (`.doit.db`) and console reporter.

Pattern files are not parsed when this file loads (that alone would cost more
than a no-op run), so each `render` depends on its own pattern and every
template, and reads the patterns it depends on without declaring them: fewer
dependencies than it should have, which can only make the reference faster.
A render writes the pattern's files and `build/<name>.files` (paths and MD5s);
`compile` depends on that list, so it runs again exactly when an output changed.
Validation is the same as ours: Python's compiler, SQLite, the JSON parser.

"""
import functools
import glob
import hashlib
import json
import os
import sqlite3

import jinja2
import yaml

from doit_conductor.codegen.escape import FILTERS
from doit_conductor.codegen.schema import validate_params

DOIT_CONFIG = {"verbosity": 1}

TEMPLATES = sorted(glob.glob("templates/**/*.j2", recursive=True))
with open("templates/kinds.yaml") as _kinds:
    KINDS = yaml.safe_load(_kinds)


def _pascal(value):
    return "".join(part.capitalize() for part in value.split("_"))



@functools.cache
def _environment():
    env = jinja2.Environment(loader=jinja2.FileSystemLoader("templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["pascal"] = _pascal
    # the templates escape pattern text per target language with these pure
    # functions; any user of these templates needs them too
    env.filters.update(FILTERS)
    return env


@functools.cache
def _load(name):
    source = f"patterns/{name}.yaml"
    with open(source) as handle:
        data = yaml.safe_load(handle)
    depends_on = data.get("depends_on", [])
    return {"name": data["name"], "kind": data["kind"], "source": source,
            "description": data.get("description", ""), "templates": data.get("templates", []),
            "outputs": data.get("outputs", {}), "depends_on": depends_on,
            "params": validate_params(data["kind"], data.get("params", {}), depends_on)}


def render(name):
    pattern = _load(name)   # cached: shared by every render of this process; never mutated
    context = {"pattern": pattern, "source": pattern["source"], "generator": "doit-conductor",
               "deps": {dep: _load(dep) for dep in sorted(pattern["depends_on"])}}
    listing = []
    for template, rule in KINDS[pattern["kind"]].items():
        text = _environment().get_template(template).render(context)
        path = "output/" + pattern["outputs"].get(template, rule).replace("{name}", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
        listing.append(f"{hashlib.md5(text.encode()).hexdigest()} {path}\n")
    os.makedirs("build", exist_ok=True)
    with open(f"build/{name}.files", "w") as handle:
        handle.writelines(listing)


def compile_outputs(name):
    with open(f"build/{name}.files") as handle:
        paths = [line.split(" ", 1)[1].rstrip("\n") for line in handle]
    for path in paths:
        with open(path) as handle:
            text = handle.read()
        if path.endswith(".py"):
            compile(text, path, "exec", dont_inherit=True)
        elif path.endswith(".sql"):
            connection = sqlite3.connect(":memory:")
            connection.executescript(text)
            connection.close()
        elif path.endswith(".json"):
            json.loads(text)


def _names():
    return sorted(os.path.basename(p)[:-len(".yaml")] for p in glob.glob("patterns/*.yaml"))


def task_render():
    """render each pattern's templates"""
    for name in _names():
        yield {"name": name, "actions": [(render, [name])],
               "file_dep": [f"patterns/{name}.yaml", *TEMPLATES],
               "targets": [f"build/{name}.files"], "clean": True}


def task_compile():
    """compile each pattern's generated files"""
    for name in _names():
        yield {"name": name, "actions": [(compile_outputs, [name])],
               "file_dep": [f"build/{name}.files"]}
