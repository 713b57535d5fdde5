"""The HTML page's markup: every name and message from a run is text, never markup."""
from __future__ import annotations

from html.parser import HTMLParser

from tests.support.records import record, summary

from doit_conductor.profiling.records import FAILED
from doit_conductor.report.analysis import Report, analyse_run
from doit_conductor.report.compare import compare_runs
from doit_conductor.report.history import history
from doit_conductor.report.render_html import render_html

HOSTILE = 'evil<script>alert("x")</script>&\'quote'
ERROR = 'broke on <b>"this"</b> & that'
RECORDS = [
    record("config", 1.0, start=0.0, worker=1),
    record(HOSTILE, 2.0, ["config"], start=1.0, worker=1, status=FAILED, error=ERROR,
           counters={"template_cache_hits": 1}),
]


class Page(HTMLParser):
    """What a browser's parser makes of the page: its elements and text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.bars: list[dict[str, str | None]] = []
        self.cells: list[str] = []
        self.text = ""
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "rect" and (dict(attrs).get("class") or "").split()[:1] == ["bar"]:
            self.bars.append(dict(attrs))
        if tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text += data
        if self._cell is not None:
            self._cell.append(data)


def _pages() -> dict[str, str]:
    run = analyse_run("r<1>", summary("r<1>", workers=1, wall=3.0), RECORDS)
    older = [record("config", 1.0, start=0.0), record(HOSTILE, 1.0, ["config"], start=1.0)]
    return {
        "run": render_html(Report(run=run, notice=f"about {HOSTILE}")),
        "comparison": render_html(Report(comparison=compare_runs(
            "old", older, 2.0, "new", RECORDS, 3.0))),
        "history": render_html(Report(history=history([("a", 2.0, older), ("b", 3.0, RECORDS)]))),
    }


def test_task_names_and_errors_are_escaped_on_every_page():
    for name, html in _pages().items():
        page = Page(html)
        # the page's own sorting script is its only one; the name added none
        assert page.tags.count("script") == 1, name
        assert "<script>alert" not in html and '"x")' not in html, name
        assert HOSTILE in page.cells, f"{name}: the name is not shown as text in a table cell"


def test_a_hostile_name_stays_one_attribute_of_its_bar():
    html = _pages()["run"]
    page = Page(html)
    assert [bar["data-task"] for bar in page.bars] == ["config", HOSTILE]
    # the notice and the error message are shown, as text
    assert page.tags.count("b") == 2  # the run id and the failed task's name, nothing from ERROR
    assert f"failed {HOSTILE}: {ERROR}" in page.text and f"about {HOSTILE}" in page.text
