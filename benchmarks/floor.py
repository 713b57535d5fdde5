"""The floor of a cold build: the least work any tool must do to produce it.

Whatever the build tool, a cold build of the library must at least read and
parse every pattern once and create every generated file with its bytes.  The
floor times exactly that, from one Python process: every pattern parsed with the
YAML loader codegen uses, then as many files as the build produced, in the same
directories, with the same sizes (so the same total bytes), written one after
the other.  No rendering, no validation, no dependency tracking, no processes.
Cold builds are reported as a multiple of it.

    python -m benchmarks.floor PATTERNS_DIR BUILT_OUTPUT_DIR SCRATCH_DIR
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


def main(argv: list[str]) -> int:
    patterns_dir, output_dir, scratch = map(Path, argv)
    sizes = file_sizes(output_dir)
    seconds = floor_seconds(patterns_dir, sizes, scratch)
    print(f"floor: {len(sizes)} files, {sum(sizes.values())} bytes, "
          f"{len(list(patterns_dir.glob('*.yaml')))} patterns: {seconds:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
