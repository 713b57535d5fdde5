"""`doit profile-report`: what recorded runs say about the workflow's performance.

The command's pipeline (the doit `Command` is `doit_conductor.glue.report_command`;
it never loads dodo.py): it reads the metrics directory
of the project (`--dir`, default the current directory) and is a short
pipeline of small functions:

    parse_options -> select runs -> load -> analyse -> render -> write -> exit code

Exit codes: 0 report written; 1 `--fail-on-regression` found a regression;
3 a user error (no runs, unknown run or baseline, unreadable run, bad option),
reported as one line on stderr, the code doit itself uses for errors before
any task runs.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from doit_conductor.errors import UserError
from doit_conductor.report.options import (
    AUTO_BASELINE, BASELINE_PREFIX, EXIT_OK, EXIT_REGRESSION, FORMATS, Options)

if TYPE_CHECKING:
    from doit_conductor.report.compare import Comparison
    from doit_conductor.report.select import Selection


def parse_options(params: dict, args: list[str]) -> Options:
    """Command-line values -> `Options`; `UserError` for values that make no sense."""
    if args:
        raise UserError(f"unexpected argument {args[0]!r} (see `doit help profile-report`)")
    if not params["format"]:   # not given: what -o's file name says, else text
        from doit_conductor.report.output import format_for
        params = {**params, "format": format_for(params["output"])}
    if params["format"] not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}")
    new, old = params["compare"] or None, params["against"] or None
    if params["baseline"]:
        if old:
            raise UserError("use either --baseline or --against, not both")
        old = BASELINE_PREFIX + params["baseline"]
        new = new or params["run"] or "latest"
    if old and not new:
        new = params["run"] or "latest"
    if new and params["run"] and params["compare"]:
        raise UserError("use either --run or --compare, not both")
    history = params["history"]
    if history is not None and (history < 1 or new):
        raise UserError("--history takes a positive N and cannot be combined with a comparison")
    gate = params["fail_on_regression"] is not None
    if gate and not new:
        raise UserError("--fail-on-regression needs a comparison: --compare, --against or --baseline")
    # nan compares false with every bound (a gate that never fails) and inf
    # hides every change: neither is a setting
    if min(params["top"], params["rows"]) < 0 or not _non_negative(params["noise_floor"]):
        raise UserError("--top, --rows and --noise-floor cannot be negative "
                        "(nor --noise-floor infinite)")
    if not _non_negative(params["threshold"]) or (gate and not _non_negative(
            params["fail_on_regression"])):
        raise UserError("--threshold and --fail-on-regression take a percentage of 0 or more")
    if not _non_negative(params.get("task_overhead_ms", 0.0)):
        raise UserError("--task-overhead-ms takes a number of 0 or more")
    return Options(
        project_dir=Path(params.get("cwdPath") or "."),
        run=params["run"] or "latest",
        new=new,
        old=old,
        history=history or 0,
        workers=parse_workers(params["workers"]),
        format=params["format"],
        output=params["output"],
        threshold_pct=params["fail_on_regression"] if gate else params["threshold"],
        gate=gate,
        noise_floor_s=params["noise_floor"],
        save_baseline=params["save_baseline"],
        top=params["top"],
        rows=params["rows"],
        task_overhead_s=params.get("task_overhead_ms", 0.0) / 1000,
    )


def with_baseline_name(args: list[str]) -> list[str]:
    """`--save-baseline` followed by nothing or by another option takes no name
    (names cannot start with '-'): give it the placeholder for an automatic one."""
    for index, arg in enumerate(args):
        if arg == "--save-baseline" and (index + 1 == len(args) or args[index + 1].startswith("-")):
            return [*args[:index], f"--save-baseline={AUTO_BASELINE}", *args[index + 1:]]
    return args


def baseline_name(requested: str, run_start: float) -> str:
    """The name to save under: the one given, or the run's UTC start as YYYYMMDD_HHMMSS."""
    if requested != AUTO_BASELINE:
        return requested
    from datetime import datetime, timezone
    return datetime.fromtimestamp(run_start, timezone.utc).strftime("%Y%m%d_%H%M%S")


def _non_negative(value: float) -> bool:
    """0 or more, and a number (nan fails every comparison, so is refused here)."""
    return math.isfinite(value) and value >= 0


def parse_workers(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        counts = ()
    if not counts or counts[0] < 1:
        raise UserError(f"--workers {text!r}: give positive whole numbers, e.g. 1,2,4,8")
    return counts


def run_pipeline(options: Options) -> int:
    """Select, load, analyse, render and write; the exit code."""
    # Imported here, not at the top: `doit help` imports every command class,
    # and nothing but this command needs the report's modules.
    from doit_conductor.profiling import store
    from doit_conductor.report.select import build_report, run_to_promote

    root = store.metrics_root(options.project_dir)
    selection = build_report(root, options)
    report = selection.report
    if options.gate and report.comparison and not report.comparison.compared:
        raise UserError(nothing_to_gate(report.comparison, selection.last_work))
    if options.save_baseline:
        run = run_to_promote(root, options.run, selection)
        name = baseline_name(options.save_baseline, run.summary.start)
        store.promote_baseline(root, run.path, name)
        sys.stderr.write(f"profile-report: saved run {run.path.name} as baseline {name!r}\n")
    target = output_path(selection, options)
    write_output(render(selection, options), target)
    notes = list(selection.notes)
    if target is not None and not options.output:
        notes.append(f"wrote {target}")
    if report.run and (options.format != "text" or options.output):
        notes += [f"warning: {warning}" for warning in report.run.warnings]
    for note in notes:
        sys.stderr.write(f"profile-report: {note}\n")
    if options.gate and report.comparison and report.comparison.regressions:
        count = len(report.comparison.regressions)
        sys.stderr.write(f"profile-report: {count} task(s) regressed by more than "
                         f"{options.threshold_pct:g}%\n")
        return EXIT_REGRESSION
    return EXIT_OK


def nothing_to_gate(comparison: Comparison, last_work: str | None) -> str:
    """Why --fail-on-regression refuses: no task ran in both runs, so a pass would mean nothing."""
    c = comparison
    if not any(t.new_status == "ran" for t in c.tasks):
        why = f"{c.new_run} executed no task (all up to date)"
        hint = (f"gate the last run that executed work with --run {last_work}" if last_work
                else "gate a run that executed work (--run RUN)")
    elif not any(t.old_status == "ran" for t in c.tasks):
        why = f"{c.old_run} executed no task (all up to date)"
        hint = "compare against a run that executed work (save a baseline from one)"
    else:
        why = f"no task ran in both {c.new_run} and {c.old_run}"
        hint = "compare runs that executed the same tasks"
    return f"--fail-on-regression: nothing to compare: {why}; {hint}"


def render(selection: Selection, options: Options) -> str:
    report = selection.report
    if options.format == "json":
        from doit_conductor.report.render_json import render_json
        return render_json(report)
    if options.format == "html":
        from doit_conductor.report.render_html import render_html
        return render_html(report)
    if options.format == "trace":
        import json

        from doit_conductor.report.trace import run_trace
        if selection.run is None:
            raise UserError("--format trace shows one run; it cannot show a history")
        return json.dumps(run_trace(selection.run), separators=(",", ":")) + "\n"
    from doit_conductor.report.render_text import render_text
    return render_text(report, options.rows)


def output_path(selection: Selection, options: Options) -> Path | None:
    """Where the report goes (None: stdout); the rule is `report.output`'s."""
    from doit_conductor.report.output import report_path
    comparison = selection.report.comparison
    # named by the runs compared, not the words that chose them ('previous', a
    # prefix): a later comparison must not overwrite it; a baseline by its name
    old = options.old if (options.old or "").startswith(BASELINE_PREFIX) else \
        comparison and comparison.old_run
    return report_path(options.format, options.output, options.project_dir,
                       run_id=selection.run.summary.run_id if selection.run else None,
                       against=old, history=options.history)


def write_output(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from doit_conductor.fsio import atomic_write
    try:
        atomic_write(output, text.encode())
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from None
