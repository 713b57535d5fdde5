"""Task 7 on an edit keeps the plan entries of unchanged patterns: what it writes
must be what a plan made from nothing writes, and a changed pattern colliding
with a kept one must be refused as before."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from doit_conductor import layout, state_entries
from tests.support.projects import Project

from tests.codegen.test_bad_input import assert_one_line_error


def settle_here(project: Project) -> None:
    """One edit built in this directory: the plan a copied project was built
    with was made in another one (path lengths are checked as absolute paths),
    so its first task 7 here plans everything; after this one, task 7 keeps
    what it can."""
    path = project.path("patterns/order_status.yaml")
    path.write_text(path.read_text() + "\n")
    project.doit("codegen", check=True)


def plan_state(project: Project) -> dict[str, bytes]:
    """plan.json and every batch plan, by path."""
    state = {layout.PLAN: project.path(layout.PLAN).read_bytes()}
    for plan in sorted(project.path(layout.BATCH_PLANS).iterdir()):
        state[str(plan.relative_to(project.root))] = plan.read_bytes()
    return state


def planned_from_nothing(project: Project, scratch: Path) -> dict[str, bytes]:
    """The plan state of a copy of `project` whose task 7 had nothing to reuse."""
    copy = Project(scratch)
    shutil.copytree(project.root, scratch, symlinks=True)
    copy.path(layout.BATCH_INDEX).unlink()  # a missing target: task 7 runs, from nothing
    copy.doit("codegen", check=True)
    return plan_state(copy)


def test_an_edit_plans_what_a_plan_from_nothing_does(built, tmp_path):
    settle_here(built)
    path = built.path("patterns/products.yaml")
    path.write_text(path.read_text().replace("{name: stock, type: int}",
                                             "{name: stock, type: int}\n    - {name: barcode_text, type: str}"))
    built.doit("codegen", check=True)
    assert b"barcode_text" in built.path(layout.BATCH_PLANS).joinpath(
        built.batch_of("products").split(":", 1)[1] + ".json").read_bytes()
    assert plan_state(built) == planned_from_nothing(built, tmp_path / "a")


def test_a_dependency_edit_and_a_kinds_edit_plan_what_a_plan_from_nothing_does(built, tmp_path):
    settle_here(built)
    # orders depends on users: its batch plan carries users' validated entry
    path = built.path("patterns/users.yaml")
    path.write_text(path.read_text().replace("Registered shop users", "Registered users"))
    built.doit("codegen", check=True)
    assert plan_state(built) == planned_from_nothing(built, tmp_path / "b")
    # the kinds table moves every enum's SQL file: no entry may be kept
    path = built.path("templates/kinds.yaml")
    path.write_text(path.read_text().replace("sql/enum.sql.j2: sql/{name}.sql",
                                             "sql/enum.sql.j2: sql/enums/{name}.sql"))
    built.doit("codegen", check=True)
    state = plan_state(built)
    assert b"output/sql/enums/currency.sql" in state[layout.PLAN]
    assert state == planned_from_nothing(built, tmp_path / "c")


def collide(project: Project) -> str:
    """user_role's SQL file on currency's path: the error line a build gives."""
    path = project.path("patterns/user_role.yaml")
    path.write_text(path.read_text().replace(
        "kind: enum\n", "kind: enum\noutputs: {sql/enum.sql.j2: sql/currency.sql}\n", 1))
    result = project.doit()
    pattern = r"patterns/\w+\.yaml:\d+: output output/sql/currency\.sql is produced twice.*"
    assert_one_line_error(result, pattern)
    return re.search(pattern, result.stdout + result.stderr).group(0)


def test_a_changed_pattern_colliding_with_a_kept_one_is_refused_as_from_nothing(built, project):
    settle_here(built)
    before = built.tree()
    assert collide(built) == collide(project)  # same pattern named, same words
    assert built.tree() == before


def index_state(project: Project) -> tuple:
    """The index's entries as bytes, its rest without the stat of each source
    (a copy has other inodes and ctimes), and the graph's bytes."""
    index = state_entries.read(str(project.path(layout.PATTERNS)), "patterns",
                               lambda entry: True, lambda rest: True)
    sources = {path: known["digest"] for path, known in index.rest.pop("sources").items()}
    return index.entries, index.rest, sources, project.path(layout.GRAPH).read_bytes()


def test_an_edit_indexes_what_an_index_from_nothing_does(built, tmp_path):
    """Task 3 keeps the bytes of unchanged entries and the graph entries written
    with them: what it writes after an edit is what parsing every pattern writes."""
    for name, old, new in (("products", "{name: stock, type: int}",
                            "{name: stock, type: int}\n    - {name: shelf, type: str}"),
                           ("users", "Registered shop users", "Registered users"),
                           ("currency", "", "depends_on: [order_status]\n")):
        path = built.path(f"patterns/{name}.yaml")
        path.write_text(path.read_text().replace(old, new) if old else path.read_text() + new)
        built.doit("codegen", check=True)
    copy = Project(tmp_path / "nothing")
    shutil.copytree(built.root, copy.root, symlinks=True)
    copy.path(layout.PATTERNS).unlink()   # a missing target: task 3 parses every pattern
    copy.doit("codegen", check=True)
    assert b"shelf" in built.path(layout.PATTERNS).read_bytes()
    assert index_state(built) == index_state(copy)
