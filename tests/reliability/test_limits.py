"""Limits on what a template produces, and no traceback for the remaining bad
inputs of the attack run: one line naming the template and the pattern (or the
file), a non-zero exit, other outputs intact, and the clean build after undoing."""
from __future__ import annotations

import errno
import json
import os
import subprocess

import pytest

from doit_conductor.profiling import store
from tests.reliability.conftest import assert_one_line_error, run, set_conductor, stray_temps

ENUM_TEMPLATE = "templates/python/enum.py.j2"


def inject(project, text: str) -> bytes:
    path = project.path(ENUM_TEMPLATE)
    saved = path.read_bytes()
    path.write_text(path.read_text().replace("{% block body %}", "{% block body %}\n" + text, 1))
    return saved


def assert_untouched_then_clean(project, reference, restore) -> None:
    assert project.tree() == reference.tree()
    assert stray_temps(project.root) == []
    restore()
    again = run(project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert project.tree() == reference.tree()


TEMPLATE_CASES = {
    "recursive macro": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}\n# {{ f(0) }}\n", "",
                        "templates nest deeper than 100 levels"),
    "a gigabyte of output": ("{% for i in range(99999) %}{% for j in range(99999) %}"
                             "# {{ 'x' * 90 }}\n{% endfor %}{% endfor %}\n", "",
                             "output over 8388608 bytes"),
    "an endless loop": ("{% for i in range(99999) %}{% for j in range(99999) %}"
                        "{% endfor %}{% endfor %}\n", "max_render_s = 1",
                        "rendering took over 1s"),
}


@pytest.mark.parametrize("case", TEMPLATE_CASES)
def test_runaway_templates_stop_with_one_line(fresh, reference, case):
    text, limits, needle = TEMPLATE_CASES[case]
    pyproject = fresh.path("pyproject.toml").read_bytes()
    if limits:
        set_conductor(fresh, "limits", limits)
    saved = inject(fresh, text)
    result = run(fresh)
    # the first enum its batch renders (all three use the template) stops the run
    assert_one_line_error(result, "ERROR: codegen:_batch-", f": {ENUM_TEMPLATE}: rendering "
                                  "patterns/", ".yaml stopped:", needle)

    def restore():
        fresh.path(ENUM_TEMPLATE).write_bytes(saved)
        fresh.path("pyproject.toml").write_bytes(pyproject)
    assert_untouched_then_clean(fresh, reference, restore)


def test_output_per_pattern_is_limited(fresh, reference):
    pyproject = fresh.path("pyproject.toml").read_bytes()
    set_conductor(fresh, "limits", "max_pattern_bytes = 4000")
    result = run(fresh)
    line = assert_one_line_error(result, "ERROR: codegen:", "produces over 4000 bytes",
                                 "max_pattern_bytes")
    assert "templates/" in line and "patterns/" in line
    assert_untouched_then_clean(
        fresh, reference, lambda: fresh.path("pyproject.toml").write_bytes(pyproject))


def test_unknown_limit_is_an_error(fresh, reference):
    pyproject = fresh.path("pyproject.toml").read_bytes()
    set_conductor(fresh, "limits", "max_output = 10")
    assert_one_line_error(run(fresh), "pyproject.toml:", "unknown key 'limits.max_output'")
    assert_untouched_then_clean(
        fresh, reference, lambda: fresh.path("pyproject.toml").write_bytes(pyproject))


@pytest.mark.parametrize("field,value", [("wall_s", "long"), ("counts", [1, 2])])
def test_wrong_typed_run_record_is_one_line(fresh, field, value):
    newest = store.list_runs(store.metrics_root(fresh.root))[-1]
    path = newest / store.SUMMARY
    data = json.loads(path.read_bytes())
    data[field] = value
    path.write_text(json.dumps(data))
    report = run(fresh, "profile-report", "--run", newest.name)
    text = report.stdout + report.stderr
    assert report.returncode != 0 and "Traceback" not in text, text
    assert len(report.stderr.strip().splitlines()) == 1, text
    assert f"{newest.name}/summary.json" in report.stderr and f"'{field}'" in report.stderr


def test_read_only_conductor_directory(fresh, reference):
    def mount(*args: str) -> None:
        result = subprocess.run(["mount", *args], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount here ({result.stderr.strip()})")
    state = fresh.path(".conductor")
    mount("--bind", str(state), str(state))
    try:
        mount("-o", "remount,bind,ro", str(state))
        for command in [(), ("forget", "docs")]:
            result = run(fresh, *command)
            assert_one_line_error(result, "ERROR: .conductor/lock: cannot open the run lock: "
                                          + os.strerror(errno.EROFS))
    finally:
        subprocess.run(["umount", "-l", str(state)], capture_output=True)
    assert_untouched_then_clean(fresh, reference, lambda: None)
