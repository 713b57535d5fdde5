"""Which recorded runs a report is about, read through the profiling store.

The one I/O step of the report pipeline: run references are resolved to run
directories, loaded, and handed to the pure analysis.

A run reference is `latest`, `previous` (the run before the latest), a run id
or a unique prefix of one, or `baseline:NAME`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from doit_conductor.errors import UserError
from doit_conductor.profiling import store
from doit_conductor.profiling.records import RAN, RecordError
from doit_conductor.report.analysis import Report, analyse_run
from doit_conductor.report.codegen_phases import codegen_phases, compare_phases
from doit_conductor.report.options import BASELINE_PREFIX
from doit_conductor.report.compare import compare_runs
from doit_conductor.report.dag import EXECUTED
from doit_conductor.report.history import history

if TYPE_CHECKING:
    from doit_conductor.report.options import Options


@dataclass(frozen=True, slots=True)
class Selection:
    """The report, the run it is mainly about (for the trace) and notes for stderr."""

    report: Report
    run: store.Run | None
    notes: tuple[str, ...] = ()
    last_work: str | None = None  # a run that executed nothing: the newest earlier one that did


def resolve(root: Path, ref: str) -> Path:
    """The directory a run reference names; `UserError` when there is none."""
    if ref.startswith(BASELINE_PREFIX):
        name = ref[len(BASELINE_PREFIX):]
        path = store.baseline_dir(root, name)
        if not path.is_dir():
            raise UserError(f"no baseline named {name!r} under {path.parent} "
                            f"(save one with --save-baseline {name})")
        return path
    runs = store.list_runs(root)
    if not runs:
        raise UserError(f"no runs recorded under {store.runs_dir(root)}: run the workflow with "
                        "doit's conductor reporter first")
    if ref == "latest":
        return runs[-1]
    if ref == "previous":
        if len(runs) < 2:
            raise UserError("there is no run before the latest one to compare against")
        return runs[-2]
    matches = [run for run in runs if run.name == ref] or [
        run for run in runs if run.name.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UserError(f"run {ref!r} is ambiguous: {len(matches)} runs start with it")
    raise UserError(f"no run {ref!r} under {store.runs_dir(root)} "
                    f"({len(runs)} recorded; latest is {runs[-1].name})")


def load(root: Path, ref: str) -> store.Run:
    path = resolve(root, ref)
    return store.load_run(path)


def label(ref: str, run: store.Run) -> str:
    """How a report names a run: its id, and the baseline it came from."""
    if ref.startswith(BASELINE_PREFIX):
        return f"{ref} ({run.summary.run_id})"
    return run.summary.run_id


def default_against(root: Path, new_ref: str) -> str:
    """The run recorded just before `new_ref` (what a bare --compare compares with)."""
    new_path = resolve(root, new_ref)
    # a baseline's directory has the name its user gave: its run is placed by its id
    new_id = store.load_run(new_path).summary.run_id if new_ref.startswith(BASELINE_PREFIX) \
        else new_path.name
    earlier = [run for run in store.list_runs(root) if run.name < new_id]
    if not earlier:
        raise UserError(f"no run before {new_id} to compare against; give --against")
    return earlier[-1].name


def last_run_with_work(root: Path, before: Path) -> str | None:
    """The newest readable run recorded before `before` in which some task executed."""
    for path in reversed([r for r in store.list_runs(root) if r.name < before.name]):
        try:
            if any(t.status in EXECUTED for t in store.load_run(path).tasks):
                return path.name
        except RecordError:
            continue
    return None


def no_op_notice(run_id: str, total: int, last_work: str | None) -> str:
    """The first line of a report on a run that executed nothing."""
    where = (f"the last run that executed work is {last_work} "
             f"(doit profile-report --run {last_work})" if last_work
             else "no earlier recorded run executed any")
    return (f"run {run_id} executed no task (all {total} up to date or skipped), so every "
            f"figure below is 0; {where}")


def run_to_promote(root: Path, ref: str, selection: Selection) -> store.Run:
    """The run `--save-baseline` saves: the reported one, unless no task ran in it.

    A baseline of a run that executed nothing holds no timings, and the gate
    refuses to compare against it (`nothing_to_gate`); so saving one is refused
    the same way, one line naming the last run that executed work.
    """
    run = selection.run or store.load_run(resolve(root, ref))
    if not any(t.status == RAN for t in run.tasks):
        last_work = selection.last_work if selection.run else None
        last_work = last_work or last_run_with_work(root, run.path)
        hint = (f"save the last run that executed work with --run {last_work} --save-baseline"
                if last_work else "save a run that executed work (--run RUN)")
        raise UserError(f"--save-baseline: run {run.summary.run_id} executed no task "
                        f"(all up to date), so a baseline of it would hold no timings; {hint}")
    return run


def build_report(root: Path, options: Options) -> Selection:
    """Load what the options ask for and analyse it."""
    if options.history:
        return history_report(root, options.history)
    new_ref = options.new or options.run
    run = load(root, new_ref)
    analysis = analyse_run(label(new_ref, run), run.summary, run.tasks,
                           workers=options.workers, top=options.top,
                           task_overhead_s=options.task_overhead_s)
    last_work = notice = None
    if analysis.executed_nothing:
        last_work = last_run_with_work(root, run.path)
        notice = no_op_notice(run.summary.run_id, len(analysis.tasks), last_work)
    phases = codegen_phases(run.tasks)
    if not options.new:
        return Selection(Report(run=analysis, notice=notice, phases=phases), run,
                         last_work=last_work)
    old_ref = options.old or default_against(root, new_ref)
    old = load(root, old_ref)
    comparison = compare_runs(
        label(old_ref, old), old.tasks, old.summary.wall_s,
        label(new_ref, run), run.tasks, run.summary.wall_s,
        threshold_pct=options.threshold_pct, noise_floor_s=options.noise_floor_s)
    old_phases = codegen_phases(old.tasks)
    return Selection(Report(run=analysis, comparison=comparison, notice=notice, phases=phases,
                            old_phases=old_phases,
                            phases_compared=compare_phases(label(old_ref, old), old_phases,
                                                           label(new_ref, run), phases)),
                     run, last_work=last_work)


def history_report(root: Path, count: int) -> Selection:
    """The last `count` runs; unreadable ones are skipped with a note, not fatal."""
    paths = store.list_runs(root)[-count:]
    if not paths:
        resolve(root, "latest")  # raises the "no runs recorded" error
    loaded, notes = [], []
    for path in paths:
        try:
            loaded.append(store.load_run(path))
        except RecordError as exc:
            notes.append(f"skipped run {path.name}: {exc}")
    if not loaded:
        raise UserError(f"none of the last {count} run(s) could be read: {notes[-1]}")
    rows = [(run.summary.run_id, run.summary.wall_s, run.tasks) for run in loaded]
    report = Report(history=history(rows, requested=count, skipped=len(notes),
                                    completed=[run.summary.completed for run in loaded]))
    return Selection(report, None, tuple(notes))
