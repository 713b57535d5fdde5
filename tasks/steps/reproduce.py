"""Task 13's slow path, run as `python -B -m tasks.steps.reproduce SETTINGS OUT` in
a fresh interpreter, the patterns to render and their plan entries (theirs and
their dependencies') as JSON on stdin: each pattern re-parsed from its YAML (no
pattern cache), every template compiled from source (no bytecode cache),
rendered one after the other into OUT.  The parent compares OUT with the output
tree byte for byte.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from doit_conductor.codegen import render
from doit_conductor.codegen.patterns import parse_pattern, read_pattern_bytes
from doit_conductor.codegen.plan import plan_entry_from_json
from doit_conductor.codegen.kinds import load_kinds
from doit_conductor.codegen.templates import environment
from doit_conductor.errors import UserError
from doit_conductor.fsio import atomic_write
from doit_conductor.state_files import read_state


def rerender(plan: list[dict], settings: dict, out: Path, only: list[str] | None = None) -> int:
    """Render the planned outputs of the patterns in `only` (every pattern of
    `plan` if None) under `out`; `plan` holds at least their entries and those
    of the patterns they depend on.  The number of files written."""
    templates_dir = settings["templates_dir"]
    kinds = load_kinds(templates_dir)
    env = environment(templates_dir, settings["sandbox"], None)
    raw = {e["name"]: e for e in plan}
    entries = [plan_entry_from_json(raw[name]) for name in (raw if only is None else only)]
    needed = {name for e in entries for name in (e.name, *e.depends_on)}
    patterns = {name: parse_pattern(read_pattern_bytes(Path(raw[name]["source"]),
                                                       raw[name]["source"]),
                                    raw[name]["source"], kinds)
                for name in sorted(needed)}
    written = 0
    for entry in entries:
        context = render.render_context(patterns[entry.name],
                                        {d: patterns[d] for d in entry.depends_on})
        for output in entry.outputs:
            # a fresh scratch directory under .conductor/tmp, made here: nothing
            # in it was there before, so a plain atomic write is enough
            atomic_write(out / output.path, render.render(env, output.template, context).encode())
            written += 1
    return written


def main(argv: list[str]) -> int:
    """SETTINGS OUT; stdin: {"render": [pattern names], "plan": [plan entries]}."""
    settings_path, out = argv
    try:
        settings = read_state(settings_path)
        request = json.loads(sys.stdin.read())
        print(rerender(request["plan"], settings, Path(out), request["render"]))
    except UserError as err:
        sys.stderr.write(f"{err}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
