"""Task 13's slow path, run as `python -B -m tasks.steps.reproduce PLAN SETTINGS OUT
[-]` in a fresh interpreter: every pattern (or those listed on stdin) re-parsed from
its YAML (no pattern cache), every template compiled from source (no bytecode
cache), rendered one after the other into OUT.  The parent compares OUT with the
output tree byte for byte.
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
    """Render every planned output (of the patterns in `only`, if given) under
    `out`; the number of files written."""
    templates_dir = settings["templates_dir"]
    kinds = load_kinds(templates_dir)
    env = environment(templates_dir, settings["sandbox"], None)
    entries = [plan_entry_from_json(e) for e in plan]
    by_name = {e.name: e for e in entries}
    if only is not None:
        entries = [by_name[name] for name in only]
    needed = {name for e in entries for name in (e.name, *e.depends_on)}
    patterns = {name: parse_pattern(read_pattern_bytes(Path(by_name[name].source),
                                                       by_name[name].source),
                                    by_name[name].source, kinds)
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
    """PLAN SETTINGS OUT [-]: with `-`, the patterns to render are a JSON list on stdin."""
    plan_path, settings_path, out, *selected = argv
    try:
        plan = read_state(plan_path)
        settings = read_state(settings_path)
        only = json.loads(sys.stdin.read()) if selected == ["-"] else None
        print(rerender(plan, settings, Path(out), only))
    except UserError as err:
        sys.stderr.write(f"{err}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
