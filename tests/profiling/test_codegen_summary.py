"""The closing codegen summary: its numbers against the run record, on real runs."""
from __future__ import annotations

import re

from doit_conductor.profiling.codegen_summary import codegen_summary, summary_lines
from doit_conductor.profiling.records import CACHED, FAILED, NOT_RUN, RAN, UP_TO_DATE, TaskRecord
from doit_conductor.profiling.store import list_runs, load_run, metrics_root

SUMMARY_LINE = re.compile(
    r"^codegen: +(?P<regenerated>[\d,]+) of (?P<patterns>[\d,]+) patterns? regenerated "
    r"\((?P<up_to_date>[\d,]+) up to date\) in [\d.]+ s$", re.M)
CACHE_LINE = re.compile(
    r"^template cache: +(?P<hits>[\d,]+) hits?, (?P<misses>[\d,]+) miss(es)?"
    r"(?: \(\d+ %\))?, (?P<evicted>[\d,]+) entr(y|ies) evicted$", re.M)
COMPILE_LINE = re.compile(
    r"^compile: +(?P<compiled>[\d,]+) changed files? compiled, "
    r"(?P<skipped>[\d,]+) unchanged skipped$", re.M)
PRUNED_LINE = re.compile(r"^pruned: +(?P<pruned>[\d,]+) files?$", re.M)
WORKERS_LINE = re.compile(r"^workers: +(?P<workers>\d+)$", re.M)


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def printed(stdout: str) -> dict[str, int] | None:
    """The closing summary's numbers as printed, None when it was not printed."""
    found = {}
    for pattern in (SUMMARY_LINE, CACHE_LINE, COMPILE_LINE, PRUNED_LINE, WORKERS_LINE):
        match = pattern.search(stdout)
        if match is None:
            assert not found, f"summary printed in part:\n{stdout}"
            return None
        found.update({k: _int(v) for k, v in match.groupdict().items() if v and k.isidentifier()
                      and v[0].isdigit()})
    return found


def recorded(project):
    """The last run: its summary's codegen figures and its tasks."""
    run = load_run(list_runs(metrics_root(project.root))[-1])
    return run.summary.codegen, run.tasks


def check_against_record(stdout: str, project, *, workers: int = 1) -> dict:
    shown = printed(stdout)
    codegen, tasks = recorded(project)
    assert shown is not None, stdout
    subtasks = [t for t in tasks if t.name.startswith("codegen:") and t.name != "codegen:_manifest"]
    ran = [t for t in tasks if t.name.startswith("codegen:") and t.status == RAN]

    def total(name):
        return int(sum(t.counters.get(name, 0) for t in ran))

    # what was printed, what summary.json holds, and the task records agree
    expected = {
        "regenerated": sum(t.status == RAN for t in subtasks), "patterns": len(subtasks),
        "up_to_date": sum(t.status == UP_TO_DATE for t in subtasks),
        "hits": total("template_cache_hits"), "misses": total("template_cache_misses"),
        "evicted": total("template_cache_evicted"), "compiled": total("files_compiled"),
        "skipped": total("files_skipped"), "pruned": total("files_pruned"), "workers": workers,
    }
    assert shown == expected
    assert {k: codegen[v] for k, v in (
        ("regenerated", "regenerated"), ("patterns", "patterns"), ("up_to_date", "up_to_date"),
        ("hits", "cache_hits"), ("misses", "cache_misses"), ("evicted", "cache_evicted"),
        ("compiled", "files_compiled"), ("skipped", "files_skipped"), ("pruned", "files_pruned"),
        ("workers", "workers"))} == expected
    return shown


def test_summary_on_cold_noop_template_edit_and_pattern_edit(project):
    patterns = len(list(project.path("patterns").glob("*.yaml")))

    cold = project.doit("-n", "2", "codegen", check=True)
    shown = check_against_record(cold.stdout, project, workers=2)
    assert shown["regenerated"] == shown["patterns"] == patterns and shown["up_to_date"] == 0
    assert shown["misses"] > 0 and shown["compiled"] > 0 and shown["skipped"] == 0

    noop = project.doit("codegen", check=True)
    assert printed(noop.stdout) is None  # no codegen work, no summary
    assert project.did_nothing(noop)
    # the fast no-op writes no record; another selection makes doit walk and record
    walked = project.doit("check-env", "codegen", check=True)
    assert printed(walked.stdout) is None and not walked.stdout.startswith("up to date: ")
    codegen, _ = recorded(project)
    # no batch ran: how many patterns the up-to-date batches hold is not recorded
    assert codegen["regenerated"] == 0 and codegen["up_to_date"] == codegen["patterns"]
    assert codegen["files_compiled"] == 0

    # An SQL template edit: only entities use it; their other files are unchanged.
    sql = project.path("templates/sql/entity.sql.j2")
    sql.write_text(sql.read_text() + "-- edited\n")
    edit = project.doit("codegen", check=True)
    shown = check_against_record(edit.stdout, project)
    assert 0 < shown["regenerated"] < patterns
    assert shown["compiled"] == shown["regenerated"]  # one SQL file each
    assert shown["skipped"] > 0 and shown["hits"] > 0 and shown["misses"] >= 1

    # A pattern edit regenerates that pattern (and what depends on it).
    pattern = project.path("patterns/currency.yaml")
    pattern.write_text(pattern.read_text().replace("description: ", "description: Edited. ", 1))
    edit = project.doit("codegen", check=True)
    shown = check_against_record(edit.stdout, project)
    assert shown["regenerated"] >= 1 and shown["compiled"] >= 1


def test_quiet_at_verbosity_0_and_one_line_per_file_at_2(project):
    quiet = project.doit("-v", "0", "codegen", check=True)
    assert printed(quiet.stdout) is None
    assert "template cache:" not in quiet.stdout and "[compile]" not in quiet.stdout
    codegen, _ = recorded(project)
    assert codegen["regenerated"] > 0  # recorded all the same
    # the workflow's task numbers (doit meta) go into the record for baselines
    numbers = load_run(list_runs(metrics_root(project.root))[-1]).summary.task_numbers
    assert numbers["codegen"] == 8 and numbers["check-env"] == 1

    sql = project.path("templates/sql/entity.sql.j2")
    sql.write_text(sql.read_text() + "-- edited\n")
    loud = project.doit("-v", "2", "codegen", check=True)
    shown = check_against_record(loud.stdout, project)
    assert loud.stdout.count("[compile] output/") == shown["compiled"]
    assert loud.stdout.count("[unchanged] output/") == shown["skipped"]
    assert "[cache miss] sql/entity.sql.j2" in loud.stdout
    assert "[cache hit] " in loud.stdout


def _record(name, status=RAN, start=0.0, wall=1.0, **counters):
    return TaskRecord(name=name, status=status, start=start, end=start + wall, wall_s=wall,
                      counters=counters)


def test_summary_from_hand_made_records():
    records = [
        _record("validate-patterns", start=0.0, wall=5.0, files_compiled=99),  # not Task 8
        _record("codegen:a", start=10.0, wall=1.0, template_cache_hits=6,
                template_cache_misses=3, files_compiled=2, files_skipped=1),
        _record("codegen:b", start=10.5, wall=1.0, files_compiled=1, files_pruned=1),
        _record("codegen:c", status=UP_TO_DATE),
        _record("codegen:_manifest", start=11.5, wall=0.25, template_cache_evicted=2),
    ]
    summary = codegen_summary(records, 3)
    assert (summary.patterns, summary.regenerated, summary.up_to_date) == (3, 2, 1)
    assert summary.seconds == 1.75 and summary.cache_hit_rate == 6 / 9
    assert summary_lines(summary) == [
        "codegen:        2 of 3 patterns regenerated (1 up to date) in 1.75 s",
        "template cache: 6 hits, 3 misses (67 %), 2 entries evicted",
        "compile:        3 changed files compiled, 1 unchanged skipped",
        "pruned:         1 file",
        "workers:        3",
    ]
    assert codegen_summary([_record("lint-templates")], 1) is None
    assert not codegen_summary([_record("codegen:a", status=UP_TO_DATE)], 0).did_work


def test_the_total_comes_from_the_sub_tasks_when_the_closing_step_did_not_run():
    # a batch ran and left its record as it was: the closing step is up to date
    records = [
        _record("codegen:_batch-0-00", start=0.0, wall=0.5, patterns_built=1),
        _record("codegen:_batch-0-01", status=UP_TO_DATE),
        _record("codegen:_manifest", status=UP_TO_DATE),
    ]
    held = {"codegen:_batch-0-00": 1, "codegen:_batch-0-01": 9}
    assert summary_lines(codegen_summary(records, 1, planned=held))[0] == \
        "codegen:        1 of 10 patterns regenerated (9 up to date) in 0.50 s"
    # batches a failure kept from running are not up to date
    stopped = [_record("codegen:_batch-0-00", status=FAILED, start=0.0, wall=0.5),
               _record("codegen:_batch-0-01", status=NOT_RUN), records[2]]
    assert summary_lines(codegen_summary(stopped, 1, planned=held))[0] == \
        "codegen:        0 of 10 patterns regenerated (0 up to date, 1 failed, 9 not run) in 0.50 s"
    assert summary_lines(codegen_summary(records, 1))[0] == \
        "codegen:        1 of 1 pattern regenerated (0 up to date) in 0.50 s"


def test_a_batch_run_again_alone_reports_the_library_total(project):
    patterns = len(list(project.path("patterns").glob("*.yaml")))
    project.doit("codegen", check=True)
    batch = next(t.name for t in recorded(project)[1] if t.name.startswith("codegen:_batch-"))
    project.doit("forget", batch, check=True)
    again = project.doit("codegen", check=True)
    shown = printed(again.stdout)
    assert (shown["regenerated"], shown["patterns"], shown["up_to_date"]) == \
        (1, patterns, patterns - 1), again.stdout
    statuses = {t.name: t.status for t in recorded(project)[1]}
    assert statuses[batch] == RAN and statuses["codegen:_manifest"] == UP_TO_DATE


def test_restored_and_unreached_patterns_are_counted():
    records = [
        _record("codegen:a", status=CACHED, start=0.0, wall=0.5),
        _record("codegen:b", status=CACHED, start=0.1, wall=0.5),
        _record("codegen:c", status=FAILED, start=0.2, wall=0.1),
        _record("codegen:d", status=NOT_RUN),
        _record("codegen:e", status=UP_TO_DATE),
    ]
    summary = codegen_summary(records, 2)
    assert (summary.restored, summary.failed, summary.not_run) == (2, 1, 1)
    assert summary.did_work
    assert summary_lines(summary)[0] == (
        "codegen:        0 of 5 patterns regenerated (1 up to date, 2 restored from the "
        "action cache, 1 failed, 1 not run) in 0.60 s")
