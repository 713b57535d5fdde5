"""The HTML report in a real headless browser: it loads cleanly, offline, and draws the run."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.records import record, summary, write_run

from doit_conductor.profiling.records import FAILED, UP_TO_DATE

# Appended to a copy of the report: reports what the page holds into the DOM
# for --dump-dom, after exercising the page's own script (sorting a table).
PROBE = """<script>
document.querySelector('table.sortable th').click();
var bars = document.querySelectorAll('#timeline rect.bar');
var result = {
  bars: bars.length,
  critical: document.querySelectorAll('#timeline rect.bar.critical').length,
  tasks: Array.prototype.map.call(bars, function (b) { return b.getAttribute('data-task'); }),
  compared: document.querySelectorAll('#comparison-chart rect.new').length,
  sections: document.querySelectorAll('section').length
};
var out = document.createElement('pre');
out.id = 'probe';
out.textContent = JSON.stringify(result);
document.body.appendChild(out);
</script>"""


def workflow_records(scale: float) -> list:
    records = [record("load-config", 0.3 * scale, start=0.0, worker=0)]
    for i in range(8):
        records.append(record(f"render:p{i}", (0.5 + i / 10) * scale, ["load-config"],
                              start=0.3 + (i // 3) * 1.5, worker=1 + i % 3))
    records.append(record("render", 0.0, start=4.8, status=UP_TO_DATE))
    records.append(record("compile", 1.0 * scale, ["render"], start=4.8, worker=1))
    records.append(record("docs", 0.4, start=0.3, status=UP_TO_DATE))
    records.append(record("check", 0.2, ["compile"], start=5.8 * scale, worker=2, status=FAILED,
                          error="ruff found 3 problems"))
    return records


def browse(chromium: str, page: Path, profile: Path) -> tuple[dict, list[str]]:
    """Load `page`; the probe's result and every console message chromium logged."""
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"the page did not run its probe:\n{result.stderr[-2000:]}"
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&")), console


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_run(tmp_path, summary("20240101T000000.000000Z-1", workers=3, wall=7.0),
              workflow_records(1.0))
    write_run(tmp_path, summary("20240102T000000.000000Z-2", workers=3, wall=8.0),
              workflow_records(1.2))
    return tmp_path


def report(project: Path, *args: str) -> tuple[str, dict | None]:
    html = subprocess.run([sys.executable, "-m", "doit", "profile-report", "--format", "html",
                           *args], cwd=project, capture_output=True, text=True, timeout=120)
    assert html.returncode == 0, html.stderr
    data = subprocess.run([sys.executable, "-m", "doit", "profile-report", "--format", "json",
                           *args], cwd=project, capture_output=True, text=True, timeout=120)
    return html.stdout, json.loads(data.stdout)


def test_html_report_loads_cleanly_with_one_bar_per_executed_task(chromium, project, tmp_path):
    html, data = report(project, "--compare", "latest", "--against", "previous")
    assert "://" not in html, "the report must not reference any URL"
    page = tmp_path / "report.html"
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    probe, console = browse(chromium, page, tmp_path / "profile")
    assert console == []
    executed = [t["name"] for t in data["run"]["tasks"] if t["status"] in ("ran", "failed")]
    assert probe["bars"] == len(executed) == 11
    assert sorted(probe["tasks"]) == sorted(executed)
    assert probe["critical"] == len(data["run"]["critical_path"]["tasks"]) > 0
    assert probe["compared"] == len(data["comparison"]["tasks"])


def test_history_page_loads_cleanly(chromium, project, tmp_path):
    html, _ = report(project, "--history", "5")
    page = tmp_path / "history.html"
    page.write_text(html.replace("</body>", PROBE.replace(
        "document.querySelector('table.sortable th').click();", "") + "</body>"))
    probe, console = browse(chromium, page, tmp_path / "profile")
    assert console == []
    assert probe["bars"] == 0 and probe["sections"] == 1
