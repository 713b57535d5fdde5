"""Interleaved A/B timing of the cold build and the edit loops, for a busy machine.

    python -m benchmarks.interleaved DIR [--patterns 1000] [--seed 7] [--rounds 3]
                                     [--only cold|edit|template]

Each round times, one right after the other, the careful plain-doit reference
(`doit -n 2`), ours (`doit -n 2 codegen`) and the floor with checks (2 bare
processes, `benchmarks/floor.py`) from nothing; then, on built copies, a
one-pattern edit (careful `doit`, ours `doit codegen` and the no-op right after
it) and a template edit.  Interleaving puts both sides of every ratio under the
same neighbours' load; the min and median ratios over the rounds are printed.
pytest-benchmark (benchmarks/test_*_bench.py) holds the targets; this is the
quick side-by-side used while changing the code.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

import yaml

from benchmarks.bench_support import Workloads, doit, timed
from benchmarks.floor import checked_floor_seconds, planned_work
from benchmarks.workload import WorkloadSpec


def ratios(name: str, ours: list[float], theirs: list[float]) -> str:
    pairs = [a / b for a, b in zip(ours, theirs)]
    return (f"{name}: ours min {min(ours):.3f} s median {statistics.median(ours):.3f} s; "
            f"other min {min(theirs):.3f} s median {statistics.median(theirs):.3f} s; "
            f"ratio of mins {min(ours) / min(theirs):.3f}, "
            f"paired ratios min {min(pairs):.3f} median {statistics.median(pairs):.3f}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=Path)
    parser.add_argument("--patterns", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["cold", "edit", "template"], action="append")
    options = parser.parse_args(argv)
    only = set(options.only or ["cold", "edit", "template"])
    workloads = Workloads(options.dir)
    spec = WorkloadSpec(options.patterns, seed=options.seed)
    figures: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        figures.setdefault(name, []).append(seconds)
        print(f"  {name}: {seconds:.3f} s", flush=True)

    built = careful_built = None
    for round_ in range(options.rounds):
        print(f"round {round_ + 1}", flush=True)
        careful = workloads.fresh_reference(spec, "careful")
        add("cold careful -n 2", timed(doit, careful, "-n", "2"))
        ours = workloads.fresh(spec)
        add("cold ours -n 2 codegen", timed(doit, ours, "-n", "2", "codegen"))
        if "cold" in only:
            scratch = options.dir / "scratch"
            shutil.rmtree(scratch, ignore_errors=True)
            add("checked floor", checked_floor_seconds(ours, planned_work(ours), scratch))
        if built is None:
            built, careful_built = ours, careful
        else:
            workloads.discard(ours)
            workloads.discard(careful)
        if "edit" in only:
            plan = planned_work(built)
            needed = {d for e in plan for d in e["depends_on"]}
            entry = next(e for e in plan if e["name"] not in needed and yaml.safe_load(
                (built / e["source"]).read_text())["kind"] == "entity")
            for root, name, args in ((careful_built, "edit careful", ()),
                                     (built, "edit ours", ("codegen",))):
                source = root / entry["source"]
                document = yaml.safe_load(source.read_text())
                document["params"]["fields"].append(
                    {"name": f"bench_edit_{round_}", "type": "int", "required": False})
                source.write_text(yaml.safe_dump(document, sort_keys=False))
                add(name, timed(doit, root, *args))
                add(name.replace("edit", "no-op"), timed(doit, root, *args))
        if "template" in only:
            template = "sql/enum.sql.j2"
            for root, name, args in ((careful_built, "template careful", ()),
                                     (built, "template ours", ("codegen",))):
                path = root / "templates" / template
                path.write_text(path.read_text() + f"{{# edit {round_} #}}\n")
                add(name, timed(doit, root, *args))
    print(json.dumps(figures))
    if "cold" in only:
        print(ratios("cold ours/careful", figures["cold ours -n 2 codegen"],
                     figures["cold careful -n 2"]))
        print(ratios("cold ours/checked floor", figures["cold ours -n 2 codegen"],
                     figures["checked floor"]))
    if "edit" in only:
        print(ratios("edit ours/careful", figures["edit ours"], figures["edit careful"]))
        print(ratios("edit ours/no-op ours", figures["edit ours"], figures["no-op ours"]))
        print(f"edit ours - no-op ours: min {min(figures['edit ours']) - min(figures['no-op ours']):.3f} s")
    if "template" in only:
        print(ratios("template ours/careful", figures["template ours"],
                     figures["template careful"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
