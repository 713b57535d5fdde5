"""After a failed run, the next successful one leaves output/ as a build from
nothing would: what the failed run left half-done is finished, not forgotten."""
from __future__ import annotations

import re

import pytest

from doit_conductor.state_files import read_state
from tests.reliability.conftest import make_workspace, run

pytestmark = pytest.mark.slow


def batch_patterns(project, level: int) -> dict[str, list[str]]:
    """The codegen batches of one dependency level, with their patterns."""
    return {path.stem: [p["name"] for p in read_state(path)["patterns"]]
            for path in sorted(project.path(".conductor/state/batches").glob(f"_batch-{level}-*"))}


def test_a_pattern_removed_in_a_failed_run_is_pruned_by_the_next(tmp_path):
    """A pattern leaves a batch that is rebuilt (a bucket of a level with more
    than 16 patterns keeps its other patterns), and the run fails in a later
    batch, so its closing step never prunes.  The next run's scan rebuilds the
    manifest from the batch records, which no longer list the pattern's files:
    they used to be forgotten there, and stayed in output/ for good."""
    project = make_workspace(tmp_path / "w", patterns=60)
    assert run(project, "codegen").returncode == 0
    sources = {p.stem: p.read_text() for p in project.path("patterns").glob("*.yaml")}
    bucket = next(names for names in batch_patterns(project, 0).values() if len(names) > 2)
    victim = next(name for name in bucket
                  if not any(re.search(rf"\b{name}\b", text)
                             for other, text in sources.items() if other != name))
    edited = next(name for name in bucket if name != victim)
    broken = next(names[0] for names in batch_patterns(project, 1).values())
    assert project.path(f"output/sql/{victim}.sql").exists()

    project.path(f"patterns/{victim}.yaml").unlink()
    project.path(f"patterns/{edited}.yaml").write_text(
        re.sub(r"(?m)^description: .*$", "description: edited", sources[edited]))
    project.path(f"patterns/{broken}.yaml").write_text(
        re.sub(r"(?m)^description: .*$", 'description: "{{ jinja }}"', sources[broken]))
    failed = run(project, "codegen")
    assert failed.returncode != 0 and broken in failed.stdout + failed.stderr

    project.path(f"patterns/{broken}.yaml").write_text(sources[broken])
    fixed = run(project, "codegen")
    assert fixed.returncode == 0, fixed.stderr
    left = [str(p) for p in project.path("output").rglob(f"*{victim}*")]
    assert left == []
    assert f"pruned output/sql/{victim}.sql" in fixed.stderr
    assert run(project, "codegen").stdout.startswith("up to date")
