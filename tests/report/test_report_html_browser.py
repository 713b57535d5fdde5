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

# Appended to a copy of the report: exercises the page's own script (clicks
# every sortable header of every table, checking after each click that the
# table is sorted by that column) and reports what the page holds into the DOM
# for --dump-dom.
PROBE = """<script>
var clicks = 0, unsorted = [], indicator = [], keyboard = [];
function keys(table, column) {
  return Array.prototype.map.call(table.tBodies[0].rows, function (row) {
    var cell = row.cells[column], v = cell.dataset.v;
    return v === undefined ? cell.textContent : parseFloat(v);
  });
}
function ordered(values, descending) {
  for (var i = 1; i < values.length; i++) {
    if (descending ? values[i - 1] < values[i] : values[i - 1] > values[i]) { return false; }
  }
  return true;
}
document.querySelectorAll('table.sortable').forEach(function (table, t) {
  table.querySelectorAll('thead th').forEach(function (th) {
    var where = 'table ' + t + ' column ' + th.cellIndex, button = th.querySelector('button');
    // keyboard: a real button in the tab order, which takes the focus
    if (!button || button.type !== 'button' || button.tabIndex !== 0) {
      keyboard.push(where + ': no button'); return;
    }
    button.focus();
    if (document.activeElement !== button) { keyboard.push(where + ': cannot be focused'); }
    // click() is what Enter and Space do on a focused button
    [['descending', '\\u25bc'], ['ascending', '\\u25b2']].forEach(function (expected) {
      button.click();
      clicks += 1;
      if (!ordered(keys(table, th.cellIndex), expected[0] === 'descending')) {
        unsorted.push(where + ' ' + expected[0]);
      }
      var marked = Array.prototype.filter.call(th.parentNode.cells, function (cell) {
        return cell.getAttribute('aria-sort') !== 'none';
      });
      var arrow = th.querySelector('.arrow');
      if (th.getAttribute('aria-sort') !== expected[0] || marked.length !== 1 || !arrow
          || arrow.textContent.trim() !== expected[1] || arrow.getAttribute('aria-hidden') !== 'true') {
        indicator.push(where + ' ' + expected[0]);
      }
    });
  });
});
var bars = document.querySelectorAll('#timeline rect.bar');
function chart(id) {
  var svg = document.getElementById(id);
  if (!svg) { return null; }
  if (svg.tagName.toLowerCase() !== 'svg') { return {text: svg.textContent}; }
  return {
    titles: Array.prototype.map.call(svg.querySelectorAll('.axis-title'),
                                     function (e) { return e.textContent; }),
    yticks: Array.prototype.map.call(svg.querySelectorAll('.y-tick'),
                                     function (e) { return e.textContent; }),
    xticks: Array.prototype.map.call(svg.querySelectorAll('.x-tick'),
                                     function (e) { return e.textContent; }),
    dots: svg.querySelectorAll('circle.dot').length
  };
}
var result = {
  tables: document.querySelectorAll('table.sortable').length,
  headers: document.querySelectorAll('table.sortable thead th').length,
  clicks: clicks, unsorted: unsorted, indicator: indicator, keyboard: keyboard,
  labels: Array.prototype.map.call(document.querySelectorAll('#timeline text.label'),
                                   function (e) { return e.textContent; }),
  whatif: chart('what-if'),
  bars: bars.length,
  critical: document.querySelectorAll('#timeline rect.bar.critical').length,
  tasks: Array.prototype.map.call(bars, function (b) { return b.getAttribute('data-task'); }),
  compared: document.querySelectorAll('#comparison-chart rect.new').length,
  sections: document.querySelectorAll('section').length,
  wall: chart('history-wall'), rate: chart('history-rate')
};
var out = document.createElement('pre');
out.id = 'probe';
out.textContent = JSON.stringify(result);
document.body.appendChild(out);
</script>"""


def workflow_records(scale: float) -> list:
    records = [record("load-config", 0.3 * scale, start=0.0, worker=0,
                      counters={"template_cache_hits": int(10 * scale),
                                "template_cache_misses": 2})]
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
                           "-o", "-", *args], cwd=project, capture_output=True, text=True, timeout=120)
    assert html.returncode == 0, html.stderr
    data = subprocess.run([sys.executable, "-m", "doit", "profile-report", "--format", "json",
                           *args], cwd=project, capture_output=True, text=True, timeout=120)
    return html.stdout, json.loads(data.stdout)


def open_page(chromium: str, html: str, tmp_path: Path, name: str) -> dict:
    """The probe's findings on `html`; fails on any console message (errors included)."""
    assert "://" not in html, "the report must not reference any URL"
    page = tmp_path / f"{name}.html"
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    probe, console = browse(chromium, page, tmp_path / f"profile-{name}")
    assert console == [], f"{name} page: {console}"
    # every header of every table is a button that takes the keyboard focus; pressing it
    # twice sorted its own table descending then ascending, and aria-sort and the arrow
    # said so on that header alone
    assert probe["keyboard"] == [], f"{name} page: headers out of keyboard reach: {probe['keyboard']}"
    assert probe["tables"] > 0 and probe["clicks"] == 2 * probe["headers"], name
    assert probe["unsorted"] == [], f"{name} page: not sorted after a click: {probe['unsorted']}"
    assert probe["indicator"] == [], f"{name} page: sort direction not shown: {probe['indicator']}"
    return probe


def test_run_page_sorts_every_table_and_draws_one_bar_per_executed_task(chromium, project,
                                                                          tmp_path):
    html, data = report(project)
    probe = open_page(chromium, html, tmp_path, "run")
    assert probe["tables"] >= 7  # critical path, what-if, top x2, tasks, groups, counters
    executed = [t["name"] for t in data["run"]["tasks"] if t["status"] in ("ran", "failed")]
    assert probe["bars"] == len(executed) == 11
    assert sorted(probe["tasks"]) == sorted(executed)
    assert probe["critical"] == len(data["run"]["critical_path"]["tasks"]) > 0
    # labels inside the bars: whole names or a sub-task's own part, never cut (`va~rns`)
    assert probe["labels"] and all(
        label in executed or any(name.endswith(":" + label) for name in executed)
        for label in probe["labels"]), probe["labels"]
    # the what-if chart has both axes, titled, with seconds along the bottom
    what_if = probe["whatif"]
    assert what_if["titles"] == ["workers", "wall time, seconds"]
    assert what_if["xticks"][0] == "0 s" and len(what_if["xticks"]) >= 3
    assert all(tick.endswith(" s") for tick in what_if["xticks"])


def test_comparison_page_sorts_every_table(chromium, project, tmp_path):
    html, data = report(project, "--compare", "latest", "--against", "previous")
    probe = open_page(chromium, html, tmp_path, "comparison")
    assert probe["tables"] >= 9  # the run's, the comparison's and its counters
    assert probe["compared"] == len(data["comparison"]["tasks"])


def test_history_page_sorts_and_its_charts_have_labelled_axes(chromium, project, tmp_path):
    html, data = report(project, "--history", "5")
    probe = open_page(chromium, html, tmp_path, "history")
    assert probe["bars"] == 0 and probe["sections"] == 1
    assert data["history"]["shortfall"] == "2 of the 5 asked for: only 2 run(s) are recorded"
    wall, rate = probe["wall"], probe["rate"]
    assert wall["titles"] == ["wall time, seconds", "run, oldest first"]
    assert wall["yticks"][0] == "0 s" and len(wall["yticks"]) >= 3
    assert all(tick.endswith(" s") for tick in wall["yticks"])
    assert rate["titles"] == ["template cache hit rate, % of lookups", "run, oldest first"]
    assert rate["yticks"][0] == "0%" and rate["yticks"][-1] == "100%"
    assert wall["dots"] == 2 and rate["dots"] == 2  # both runs have a value: none blank


def test_history_without_template_cache_says_so_instead_of_a_blank_chart(chromium, tmp_path):
    write_run(tmp_path, summary("20240101T000000.000000Z-1", wall=1.0),
              [record("only", 0.5, start=0.0, worker=0)])
    html, _ = report(tmp_path, "--history", "3")
    probe = open_page(chromium, html, tmp_path, "history-no-cache")
    assert probe["rate"] == {"text": "no run here looked up the template cache "
                                     "(no template cache counters)"}
    assert probe["wall"]["dots"] == 1
