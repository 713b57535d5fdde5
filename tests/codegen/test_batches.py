"""Batches of patterns: deterministic, stable under edits, ordered by dependency."""
from __future__ import annotations

from doit_conductor.codegen import batches


def library(n: int) -> dict[str, list[str]]:
    """n patterns, each depending on the one three before it (a few levels deep)."""
    return {f"p{i:04d}": [f"p{i - 3:04d}"] if i >= 3 and i % 2 else [] for i in range(n)}


def test_levels_follow_the_longest_dependency_chain():
    assert batches.levels({"a": [], "b": ["a"], "c": ["a", "b"], "d": []}) == \
        {"a": 0, "b": 1, "c": 2, "d": 0}


def test_every_pattern_is_in_exactly_one_batch_and_batches_only_depend_downwards():
    depends_on = library(500)
    assignment = batches.assign(depends_on)
    placed = [name for names in assignment.values() for name in names]
    assert sorted(placed) == sorted(depends_on)
    level = batches.levels(depends_on)
    for batch, deps in batches.batch_dependencies(assignment, depends_on).items():
        assert batch.startswith(batches.PREFIX)
        assert all(level[assignment[d][0]] < level[assignment[batch][0]] for d in deps)
    # a few dozen sub-tasks, not one per pattern
    assert len(assignment) <= batches.BUCKETS * (max(level.values()) + 1)


def test_assignment_is_deterministic_and_an_added_pattern_moves_no_other():
    depends_on = library(300)
    before = batches.assign(depends_on)
    assert batches.assign(dict(reversed(list(depends_on.items())))) == before
    grown = {**depends_on, "zz_new": []}
    after = batches.assign(grown)
    home = {name: batch for batch, names in before.items() for name in names}
    home_after = {name: batch for batch, names in after.items() for name in names}
    assert all(home_after[name] == batch for name, batch in home.items())
    changed = [b for b in after if after[b] != before.get(b)]
    assert changed == [home_after["zz_new"]]


def test_the_input_digest_changes_with_every_input():
    entry = {"name": "a", "source": "patterns/a.yaml", "depends_on": ["b"],
             "dep_sources": ["patterns/b.yaml"], "outputs": [], "templates": ["t.j2"]}
    base = dict(plan_entry=entry,
                source_digest="s", dependency_digests=["d"], template_digests={"t.j2": "1"},
                kinds_digest="k", settings_digest="c")
    digest = batches.pattern_digest(**base)
    assert batches.pattern_digest(**base) == digest
    moved = {**entry, "outputs": [{"template": "t.j2", "path": "output/a.py"}]}
    for key, changed in (("plan_entry", moved), ("plan_entry", {**entry, "depends_on": []}),
                         ("source_digest", "s2"), ("dependency_digests", ["d2"]),
                         ("template_digests", {"t.j2": "2"}), ("kinds_digest", "k2"),
                         ("settings_digest", "c2")):
        assert batches.pattern_digest(**{**base, key: changed}) != digest, key
