"""The floor of a cold build: the least work any tool must do to produce it.

Whatever the build tool, a cold build of the library must at least read and
parse every pattern once and create every generated file with its bytes.  The
floor times exactly that, from one Python process: every pattern parsed with the
YAML loader codegen uses, then as many files as the build produced, in the same
directories, with the same sizes (so the same total bytes), written one after
the other.  No rendering, no validation, no dependency tracking, no processes.
Cold builds are reported as a multiple of it.

The floor *with checks* (`checked_floor_seconds`) is the least work a build
that renders and checks must do: from `processes` bare forked Python processes
(no build tool, no state, no dependency tracking), each parses its share of the
patterns (and those they depend on) with codegen's parser, renders every file
with codegen's Jinja2 environment and escaping, runs the same checks (line
length, Python's compiler, SQLite, the JSON parser) and writes the bytes.  It
writes exactly the bytes the build wrote (the benchmark compares them).

    python -m benchmarks.floor PATTERNS_DIR BUILT_OUTPUT_DIR SCRATCH_DIR
    python -m benchmarks.floor --checked BUILT_PROJECT SCRATCH_DIR [PROCESSES]
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def file_sizes(output_dir: Path) -> dict[str, int]:
    """Every file under `output_dir` (relative path -> size)."""
    return {str(p.relative_to(output_dir)): p.stat().st_size
            for p in sorted(output_dir.rglob("*")) if p.is_file()}


def floor_seconds(patterns_dir: Path, sizes: dict[str, int], scratch: Path) -> float:
    """Seconds to parse every pattern of `patterns_dir` once and write `sizes`'
    files (same paths, same sizes) under `scratch`, which must not exist."""
    sources = sorted(patterns_dir.glob("*.yaml"))
    directories = sorted({os.path.dirname(path) for path in sizes})
    filler = b"x" * max(sizes.values(), default=0)
    start = time.perf_counter()
    for source in sources:
        yaml.load(source.read_bytes(), Loader=_LOADER)
    for directory in directories:
        os.makedirs(scratch / directory, exist_ok=True)
    for path, size in sizes.items():
        with open(scratch / path, "wb") as handle:
            handle.write(filler[:size])
    return time.perf_counter() - start


def planned_work(project: Path) -> list[dict]:
    """What a built project's plan says each pattern produces (read before
    timing: which template makes which file is part of the input, not the work)."""
    from doit_conductor.state_files import read_state
    return read_state(project / ".conductor/state/plan.json")


def checked_floor_seconds(project: Path, plan: list[dict], scratch: Path,
                          processes: int = 2) -> float:
    """Seconds for `processes` forked processes to parse, render, check and write
    every file of `plan` (`planned_work`) under `scratch`, the patterns dealt
    out round-robin in plan order (dependencies first)."""
    import multiprocessing

    # imported before timing, as a warm tool would have them (PyYAML, which
    # codegen imports on first use, included)
    from doit_conductor.codegen import checks, patterns, render, templates, validate  # noqa: F401
    patterns.yaml.SafeLoader  # noqa: B018  (executes the lazily imported module)
    shares = [plan[i::processes] for i in range(processes)]
    context = multiprocessing.get_context("fork")
    start = time.perf_counter()
    workers = [context.Process(target=_checked_share, args=(project, share, scratch))
               for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - start
    if any(worker.exitcode != 0 for worker in workers):
        raise RuntimeError("a floor process failed")
    return seconds


def _checked_share(project: Path, share: list[dict], scratch: Path) -> None:
    from doit_conductor.codegen import checks, render, validate
    from doit_conductor.codegen.kinds import load_kinds
    from doit_conductor.codegen.patterns import parse_pattern
    from doit_conductor.codegen.templates import environment
    from doit_conductor.config import RenderLimits, project_config
    os.chdir(project)
    config = project_config(".")
    kinds = load_kinds(config.templates_dir)
    env = environment(config.templates_dir, config.sandbox, None)
    limits = RenderLimits()
    parsed = {}

    def pattern(source: str):
        if source not in parsed:
            with open(source, "rb") as handle:
                parsed[source] = parse_pattern(handle.read(), source, kinds)
        return parsed[source]

    made = set()
    for entry in share:
        context = render.render_context(
            pattern(entry["source"]),
            {d: pattern(s) for d, s in zip(entry["depends_on"], entry["dep_sources"])})
        for output in entry["outputs"]:
            text = render.render(env, output["template"], context, limits)
            checks.check(output["path"], text, config.line_length)
            validate.validate_builtin(output["path"], text)
            target = scratch / os.path.relpath(output["path"], config.output_dir)
            directory = os.path.dirname(target)
            if directory not in made:
                os.makedirs(directory, exist_ok=True)
                made.add(directory)
            with open(target, "wb") as handle:
                handle.write(text.encode())


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--checked":
        project, scratch = Path(argv[1]).resolve(), Path(argv[2]).resolve()
        processes = int(argv[3]) if len(argv) > 3 else 2
        plan = planned_work(project)
        seconds = checked_floor_seconds(project, plan, scratch, processes)
        print(f"floor with checks: {sum(len(e['outputs']) for e in plan)} files, "
              f"{len(plan)} patterns, {processes} processes: {seconds:.3f} s")
        return 0
    patterns_dir, output_dir, scratch = map(Path, argv)
    sizes = file_sizes(output_dir)
    seconds = floor_seconds(patterns_dir, sizes, scratch)
    print(f"floor: {len(sizes)} files, {sum(sizes.values())} bytes, "
          f"{len(list(patterns_dir.glob('*.yaml')))} patterns: {seconds:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
