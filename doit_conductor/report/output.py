"""Where `doit profile-report` writes its report.

The rule (docs/profile-report.md, "Where the report goes"):

* `-o FILE` writes FILE, as given (relative to the current directory, like any
  command's output option); `-o -` is stdout;
* without `--format`, the format is the one `-o FILE`'s name says (`.html`,
  `.trace.json`, `.json`), else text;
* without `-o`, text and json go to stdout (to read or to pipe), html and trace
  (a page and a Chrome trace, useless on a terminal) go to
  `.conductor/reports/` of the project (`--dir`), git-ignored with the rest of
  `.conductor/`, named after what they show:
  `<run-id>.html`, `<new>-vs-<old>.html`, `history-<N>.html`, `<run-id>.trace.json`.

Pure: names in, a path (or None for stdout) out.
"""
from __future__ import annotations

import re
from pathlib import Path

from doit_conductor import layout

STDOUT = "-"
TO_FILE_BY_DEFAULT = {"html": ".html", "trace": ".trace.json"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
BY_SUFFIX = ((".trace.json", "trace"), (".json", "json"), (".html", "html"), (".htm", "html"))


def format_for(output: str) -> str:
    """The format a report file's name asks for (`report.html`: html); text otherwise."""
    name = output.lower()
    return next((fmt for suffix, fmt in BY_SUFFIX if name.endswith(suffix)), "text")


def report_path(format: str, output: str, project_dir: Path, *, run_id: str | None,
                against: str | None = None, history: int = 0) -> Path | None:
    """The file the report goes to; None: stdout.

    `run_id`: the run reported (the new one of a comparison); `against`: the
    run or `baseline:NAME` it is compared with; `history`: N of `--history N`.
    """
    if output:
        return None if output == STDOUT else Path(output)
    suffix = TO_FILE_BY_DEFAULT.get(format)
    if suffix is None:
        return None
    if history:
        stem = f"history-{history}"
    elif against:
        stem = f"{run_id}-vs-{against}"
    else:
        stem = run_id or "report"
    return Path(project_dir) / layout.REPORTS / (_UNSAFE.sub("-", stem).strip(".-") + suffix)
