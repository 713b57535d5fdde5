"""`doit profile-report` run for real, in a subprocess, on hand-made run directories."""
from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from tests.support.doit import run_doit
from tests.support.records import record, summary, write_run

from doit_conductor.profiling.records import FAILED, UP_TO_DATE
from doit_conductor.profiling.store import metrics_root, promote_baseline

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow

RUN1 = "20240101T000000.000000Z-1"
RUN2 = "20240102T000000.000000Z-2"
RUN3 = "20240103T000000.000000Z-3"

COLD = [
    record("load-config", 0.2, start=0.0, worker=0, peak_rss_bytes=40_000_000),
    record("render", 2.0, ["load-config"], start=0.2, worker=1, peak_rss_bytes=60_000_000,
           counters={"template_cache_misses": 10, "files_rendered": 30}),
    record("compile", 1.0, ["render"], start=2.2, worker=1, counters={"files_compiled": 30}),
    record("docs", 0.5, ["load-config"], start=0.2, worker=2),
]
WARM = [
    record("load-config", 0.2, start=0.0, worker=0, peak_rss_bytes=40_000_000),
    record("render", 0.5, ["load-config"], start=0.2, worker=1, peak_rss_bytes=60_000_000,
           counters={"template_cache_hits": 10, "files_rendered": 30}),
    record("compile", 0.1, ["render"], start=0.7, worker=1,
           counters={"files_compiled": 2, "files_skipped": 28}),
    record("docs", 0.5, ["load-config"], status=UP_TO_DATE),
]
SLOWER = [replace(r, wall_s=0.75, end=r.start + 0.75) if r.name == "render" else r for r in WARM]


def profile_report(project: Path, *args: str) -> subprocess.CompletedProcess:
    return run_doit(project, "profile-report", *args, timeout=120)


def assert_user_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("profile-report: "), result.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_run(tmp_path, summary(RUN1, workers=2, wall=3.5), COLD)
    write_run(tmp_path, summary(RUN2, workers=2, wall=1.0), WARM)
    return tmp_path


def test_default_is_the_latest_run_as_text(project):
    result = profile_report(project)
    assert result.returncode == 0, result.stderr
    assert f"Run {RUN2}" in result.stdout
    assert "Critical path: 0.800 s through 3 task(s)" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 100


def test_project_directory_option(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    for args in (["--dir", str(project)], ["-d", str(project)]):
        result = profile_report(elsewhere, *args)
        assert result.returncode == 0, result.stderr
        assert f"Run {RUN2}" in result.stdout
    # doit's own loader option before the command name means the same.
    before = run_doit(elsewhere, "-d", str(project), "profile-report", timeout=120)
    assert before.returncode == 0, before.stderr
    assert f"Run {RUN2}" in before.stdout


def test_json_of_a_chosen_run(project):
    result = profile_report(project, "--run", RUN1[:9], "--format", "json", "--workers", "1,3")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)["run"]
    assert run["run_id"] == RUN1
    assert run["critical_path"]["tasks"] == ["load-config", "render", "compile"]
    assert run["critical_path"]["duration_s"] == pytest.approx(3.2)
    assert {t["name"]: t["slack_s"] for t in run["tasks"]}["docs"] == pytest.approx(2.5)
    assert [(w["workers"], w["predicted_wall_s"]) for w in run["what_if"]] == [
        (1, pytest.approx(3.7)), (2, pytest.approx(3.2)), (3, pytest.approx(3.2))]
    assert run["what_if"][1]["actual_wall_s"] == 3.5


def test_compare_reproduces_the_before_after_table(project):
    result = profile_report(project, "--compare", RUN2, "--against", RUN1)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split(f"\nCompare {RUN2} against {RUN1}\n")[1].splitlines()
    row = next(line.split() for line in lines if line.strip().startswith("template_cache_hits"))
    assert row[1:] == ["0", "10", "10"]
    row = next(line.split() for line in lines if line.strip().startswith("files_skipped"))
    assert row[1:] == ["0", "28", "28"]
    row = next(line.split() for line in lines if line.strip().startswith("render "))
    assert row[1:4] == ["2.000", "0.500", "-1.500"]
    assert "No regressions." in result.stdout


def test_a_baseline_compared_alone_is_compared_with_the_run_before_its_own(project):
    write_run(project, summary(RUN3, workers=2, wall=1.3), SLOWER)
    assert profile_report(project, "--run", RUN2, "--save-baseline", "b").returncode == 0
    result = profile_report(project, "--compare", "baseline:b")
    assert result.returncode == 0, result.stderr
    assert f"\nCompare baseline:b ({RUN2}) against {RUN1}\n" in result.stdout


def test_regression_gate_exit_codes(project):
    write_run(project, summary(RUN3, workers=2, wall=1.3), SLOWER)
    gated = profile_report(project, "--compare", "latest", "--against", RUN2,
                           "--fail-on-regression", "20", "--format", "json")
    assert gated.returncode == 1
    assert [r["name"] for r in json.loads(gated.stdout)["regressions"]] == ["render"]
    assert "1 task(s) regressed by more than 20%" in gated.stderr
    assert profile_report(project, "--compare", "latest", "--fail-on-regression", "60").returncode == 0
    # render grew by 0.25 s: under a 0.3 s noise floor it is not a regression.
    assert profile_report(project, "--compare", "latest", "--fail-on-regression", "20",
                          "--noise-floor", "0.3").returncode == 0


def test_baselines_save_and_gate(project):
    saved = profile_report(project, "--run", RUN2, "--save-baseline", "main", "--format", "json")
    assert saved.returncode == 0, saved.stderr
    assert "as baseline 'main'" in saved.stderr
    write_run(project, summary(RUN3, workers=2, wall=1.3), SLOWER)
    gated = profile_report(project, "--baseline", "main", "--fail-on-regression", "20")
    assert gated.returncode == 1
    assert f"against baseline:main ({RUN2})" in gated.stdout
    assert_user_error(profile_report(project, "--baseline", "nightly"), "no baseline named 'nightly'")


def test_history(project):
    write_run(project, summary(RUN3, workers=2, wall=1.3), SLOWER)
    result = profile_report(project, "--history", "2", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)["history"]
    assert data["run_ids"] == [RUN2, RUN3]
    assert data["cache_hit_rates"] == [1.0, 1.0]
    assert {t["name"]: t["wall_s"] for t in data["tasks"]}["render"] == [0.5, 0.75]
    text = profile_report(project, "--history", "5")
    assert text.returncode == 0 and "History of 3 run(s)" in text.stdout


def test_output_file_and_trace(project, tmp_path):
    target = tmp_path / "out" / "trace.json"
    result = profile_report(project, "--format", "trace", "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    events = json.loads(target.read_text())["traceEvents"]
    assert {e["name"] for e in events if e["ph"] == "X"} == {"load-config", "render", "compile"}


def test_html_and_trace_go_to_conductor_reports_unless_o_says_otherwise(project):
    reports = project / ".conductor" / "reports"
    html = profile_report(project, "--format", "html")
    assert html.returncode == 0, html.stderr
    assert html.stdout == ""
    assert html.stderr == f"profile-report: wrote .conductor/reports/{RUN2}.html\n"
    assert (reports / f"{RUN2}.html").read_text().startswith("<!doctype html>")
    trace = profile_report(project, "--format", "trace")
    assert json.loads((reports / f"{RUN2}.trace.json").read_text())["traceEvents"]
    compared = profile_report(project, "--format", "html", "--compare", "latest")
    assert compared.returncode == 0, compared.stderr
    assert (reports / f"{RUN2}-vs-{RUN1}.html").is_file()
    # named by the runs, not by the words that chose them
    (reports / f"{RUN2}-vs-{RUN1}.html").unlink()
    assert profile_report(project, "--format", "html", "--compare", RUN2[:8],
                          "--against", "previous").returncode == 0
    assert (reports / f"{RUN2}-vs-{RUN1}.html").is_file()
    profile_report(project, "--format", "html", "--history", "2")
    assert (reports / "history-2.html").is_file()
    # -o is honoured as given (relative to the current directory); '-' is stdout
    named = profile_report(project, "--format", "html", "-o", "report.html")
    assert named.returncode == 0 and named.stderr == ""
    assert (project / "report.html").is_file() and not (reports / "report.html").exists()
    assert profile_report(project, "--format", "html", "-o", "-").stdout.startswith("<!doctype")
    # without --format, the file's name says which (a text report in report.html was a trap)
    for name, start in (("by-name.html", "<!doctype html>"), ("by-name.json", "{"),
                        ("by-name.txt", "Run ")):
        assert profile_report(project, "-o", name).returncode == 0
        assert (project / name).read_text().startswith(start), name
    assert json.loads((project / "by-name.json").read_text())["schema_version"]
    # text and json stay on stdout
    assert profile_report(project).stdout.startswith("Run ")
    assert sorted(p.name for p in reports.iterdir()) == sorted([
        f"{RUN2}.html", f"{RUN2}.trace.json", f"{RUN2}-vs-{RUN1}.html", "history-2.html"])
    assert trace.stdout == ""


def test_no_runs_yet(tmp_path):
    assert_user_error(profile_report(tmp_path), "no runs recorded")


def test_unknown_run_and_bad_options(project):
    assert_user_error(profile_report(project, "--run", "1999"), "no run '1999'")
    assert_user_error(profile_report(project, "--run", "2024"), "ambiguous")
    assert_user_error(profile_report(project, "--workers", "0,2"), "--workers")
    assert_user_error(profile_report(project, "--fail-on-regression", "5"), "needs a comparison")
    assert_user_error(profile_report(project, "--history", "2", "--format", "trace"), "one run")
    assert_user_error(profile_report(project, "--history", "0"), "--history takes a positive N")
    assert_user_error(profile_report(project, "--threshold", "-5"), "0 or more")
    assert_user_error(profile_report(project, "--compare", RUN2, "--fail-on-regression", "-1"),
                      "0 or more")
    # nan compares false with every bound: a gate that could never fail
    for value in ("nan", "inf"):
        assert_user_error(profile_report(project, "--compare", RUN2, "--fail-on-regression",
                                         value), "0 or more")
        assert_user_error(profile_report(project, "--threshold", value), "0 or more")
        assert_user_error(profile_report(project, "--noise-floor", value), "--noise-floor")


def test_an_option_it_cannot_parse_is_one_line_naming_it(project):
    # doit's parser would list the repr of every option, or say it on two lines
    assert_user_error(profile_report(project, "--html"), "unknown option --html",
                      "doit help profile-report")
    assert_user_error(profile_report(project, "--top"), "option --top needs a value")
    assert_user_error(profile_report(project, "--history", "abc"),
                      "option --history takes a whole number, not 'abc'")
    assert_user_error(profile_report(project, "--threshold=high"),
                      "option --threshold takes a number, not 'high'")


def test_garbled_and_other_schema_runs_are_one_line_errors(project):
    run_dir = metrics_root(project) / "runs" / RUN2
    (run_dir / "summary.json").write_text("{not json")
    assert_user_error(profile_report(project), "summary.json", "not valid JSON")
    data = json.loads((metrics_root(project) / "runs" / RUN1 / "summary.json").read_text())
    data["schema_version"] = 99
    (run_dir / "summary.json").write_text(json.dumps(data))
    assert_user_error(profile_report(project), "schema version 99")
    (run_dir / "summary.json").write_text((metrics_root(project) / "runs" / RUN1 /
                                           "summary.json").read_text())
    lines = (run_dir / "tasks.jsonl").read_text().splitlines()
    for bad, words in (({"wall_s": float("nan")}, ("'wall_s' must be a finite number",)),
                       ({"wall_s": -5.0}, ("negative wall_s",)),
                       ({"cpu_user_s": -3.0}, ("negative cpu_user_s",)),
                       ({"peak_rss_bytes": -5}, ("negative peak_rss_bytes",)),
                       ({"status": None}, ("'status'",))):
        task = {**json.loads(lines[0]), **bad}
        if bad == {"status": None}:
            del task["status"]
        (run_dir / "tasks.jsonl").write_text("\n".join([json.dumps(task), *lines[1:]]) + "\n")
        for output in ("text", "html", "json"):
            result = profile_report(project, "--format", output, "-o", str(project / "r.out"))
            assert_user_error(result, "tasks.jsonl:1", *words)
            assert "__init__" not in result.stderr
    # History skips the unreadable run and says so.
    history = profile_report(project, "--history", "5")
    assert history.returncode == 0
    assert f"skipped run {RUN2}" in history.stderr


def test_incomplete_run_and_failed_tasks_are_reported(project):
    failing = [*COLD[:2], record("compile", 0.3, ["render"], start=2.2, worker=1, status=FAILED,
                                 error="tsc exited 2")]
    write_run(project, summary(RUN3, wall=None, completed=False), failing)
    result = profile_report(project)
    assert result.returncode == 0, result.stderr
    assert "INCOMPLETE" in result.stdout
    assert "failed compile: tsc exited 2" in result.stdout
    as_json = profile_report(project, "--format", "json")
    assert "warning: run is incomplete" in as_json.stderr
    assert json.loads(as_json.stdout)["run"]["completed"] is False


NO_OP = [replace(r, status=UP_TO_DATE, start=None, end=None, wall_s=0.0) for r in WARM]


def test_the_gate_refuses_a_run_that_executed_nothing(project):
    """After a no-op `doit` every task is up to date: nothing was measured, so
    "No regressions." would be a pass on nothing.  The gate refuses in one line
    and points at the last run that executed work."""
    assert profile_report(project, "--run", RUN1, "--save-baseline", "main").returncode == 0
    write_run(project, summary(RUN3, workers=2, wall=0.01), NO_OP)
    result = profile_report(project, "--baseline", "main", "--fail-on-regression", "20")
    assert_user_error(result, "--fail-on-regression: nothing to compare",
                      f"{RUN3} executed no task", f"--run {RUN2}")
    assert result.stdout == ""
    # gating the run that did the work still works
    assert profile_report(project, "--run", RUN2, "--baseline", "main",
                          "--fail-on-regression", "20").returncode == 0


def test_saving_a_baseline_of_a_run_that_executed_nothing_is_refused_as_the_gate_would(project):
    write_run(project, summary(RUN3, workers=2, wall=0.01), NO_OP)
    for args in (("--save-baseline", "main"), ("--save-baseline",),
                 ("--history", "2", "--save-baseline", "main")):
        result = profile_report(project, *args)
        assert_user_error(result, f"--save-baseline: run {RUN3} executed no task",
                          f"--run {RUN2} --save-baseline")
        assert result.stdout == ""
    assert not (metrics_root(project) / "baselines").exists()
    saved = profile_report(project, "--run", RUN2, "--save-baseline", "main")
    assert saved.returncode == 0 and "as baseline 'main'" in saved.stderr


def test_the_gate_refuses_a_baseline_that_executed_nothing(project):
    # saved before --save-baseline refused such runs (or copied in by hand)
    write_run(project, summary(RUN3, workers=2, wall=0.01), NO_OP)
    root = metrics_root(project)
    promote_baseline(root, root / "runs" / RUN3, "empty")
    result = profile_report(project, "--run", RUN2, "--baseline", "empty",
                            "--fail-on-regression", "20")
    assert_user_error(result, "nothing to compare", f"baseline:empty ({RUN3}) executed no task")


def test_the_report_of_a_no_op_run_says_so_first(project):
    write_run(project, summary(RUN3, workers=2, wall=0.01), NO_OP)
    result = profile_report(project)
    assert result.returncode == 0, result.stderr
    first = " ".join(result.stdout.split("\n\n")[0].split())
    assert first == (f"Note: run {RUN3} executed no task (all 4 up to date or skipped), so every "
                     f"figure below is 0; the last run that executed work is {RUN2} "
                     f"(doit profile-report --run {RUN2})")
    data = json.loads(profile_report(project, "--format", "json").stdout)
    assert data["notice"].startswith(f"run {RUN3} executed no task")
    assert 'id="notice"' in profile_report(project, "--format", "html", "-o", "-").stdout
    assert "Note:" not in profile_report(project, "--run", RUN2).stdout  # a run that did work
