"""`doit profile-report`: the doit command; the pipeline is `doit_conductor.report.command`."""
from __future__ import annotations

import sys

from doit.cmd_base import Command

from doit_conductor.errors import UserError
from doit_conductor.glue.option_errors import OneLineOptionErrors
from doit_conductor.profiling.records import RecordError
from doit_conductor.report.command import parse_options, run_pipeline, with_baseline_name
from doit_conductor.report.options import EXIT_USER_ERROR

_OPTIONS = (
    {"name": "run", "long": "run", "type": str, "default": "", "metavar": "REF",
     "help": "run to report: a run id (or unique prefix), 'latest', 'previous' or "
             "'baseline:NAME' [default: latest]"},
    {"name": "baseline", "long": "baseline", "type": str, "default": "", "metavar": "NAME",
     "help": "compare the run against the baseline NAME (same as --against baseline:NAME)"},
    {"name": "compare", "long": "compare", "type": str, "default": "", "metavar": "REF",
     "help": "compare run REF (the new one) against --against (default: the run before it)"},
    {"name": "against", "long": "against", "type": str, "default": "", "metavar": "REF",
     "help": "the run or baseline:NAME a comparison is made against (the old one)"},
    {"name": "history", "long": "history", "type": int, "default": None, "metavar": "N",
     "help": "each task's duration and the cache hit rate across the last N runs"},
    {"name": "workers", "long": "workers", "type": str, "default": "1,2,4,8", "metavar": "LIST",
     "help": "worker counts for the what-if simulation, comma separated"},
    {"name": "task_overhead_ms", "long": "task-overhead-ms", "type": float, "default": 0.0,
     "metavar": "MS", "help": "what-if on a cluster: add MS per executed task (e.g. the Dask "
                              "dispatch cost from benchmarks/test_scaleout_bench.py)"},
    {"name": "format", "long": "format", "type": str, "default": "",
     "choices": [("text", "aligned tables"), ("json", "versioned JSON schema"),
                 ("html", "self-contained page with a timeline"),
                 ("trace", "Chrome trace of the run")],
     "help": "output format [default: the one -o FILE's name says (.html, .json, "
             ".trace.json), else text]"},
    {"name": "output", "short": "o", "long": "output", "type": str, "default": "", "metavar": "FILE",
     "help": "write the report to FILE (atomically; '-': stdout) [default: text and json "
             "to stdout, html and trace to .conductor/reports/<run>.html|.trace.json]"},
    {"name": "threshold", "long": "threshold", "type": float, "default": 10.0, "metavar": "PCT",
     "help": "flag tasks whose time or peak memory grew by more than PCT percent"},
    {"name": "fail_on_regression", "long": "fail-on-regression", "type": float, "default": None,
     "metavar": "PCT", "help": "like --threshold PCT, and exit 1 when any task regressed"},
    {"name": "noise_floor", "long": "noise-floor", "type": float, "default": 0.05,
     "metavar": "SECONDS", "help": "ignore time growth smaller than SECONDS"},
    {"name": "save_baseline", "long": "save-baseline", "type": str, "default": "",
     "metavar": "NAME", "help": "also promote the reported run to the baseline NAME; without "
                                "NAME, the run's start time YYYYMMDD_HHMMSS (UTC)"},
    {"name": "cwdPath", "short": "d", "long": "dir", "type": str, "default": None,
     "metavar": "PATH", "help": "project directory whose .conductor/metrics is read [default: .]"},
    {"name": "top", "long": "top", "type": int, "default": 10, "metavar": "N",
     "help": "length of the top tasks lists (0: every task)"},
    {"name": "rows", "long": "rows", "type": int, "default": 0, "metavar": "N",
     "help": "text format: at most N rows in the per-task tables (0: every task)"},
)



class ProfileReport(OneLineOptionErrors, Command):
    name = "profile-report"
    doc_purpose = "report on recorded runs: critical path, slack, what-if, regressions, history"
    doc_usage = "[options]"
    doc_description = (
        "Reads the runs the conductor reporter records under .conductor/metrics.  "
        "Exit codes: 0 ok, 1 regression found with --fail-on-regression, 3 user error.  "
        "See docs/profile-report.md.")
    cmd_options = _OPTIONS
    error_prefix = ""   # its user errors begin "profile-report: ", as the option errors do

    def parse_execute(self, in_args):
        return super().parse_execute(with_baseline_name(list(in_args)))

    def execute(self, params, args) -> int:
        try:
            options = parse_options(params, args)
            return run_pipeline(options)
        except (UserError, RecordError) as exc:
            sys.stderr.write(f"profile-report: {exc}\n")
            return EXIT_USER_ERROR
