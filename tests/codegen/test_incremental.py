"""Task 8's promises, through the real `doit`: incremental work, template caching,
pruning and byte-identical output however the build is run."""
from __future__ import annotations

import os
import random
import re
import shutil

import pytest

from tests.support.projects import copy_project
from doit_conductor.state_files import decode_state

ENTITY_OR_ENDPOINT = {"users", "products", "orders", "order_items",
                      "create_order", "get_user", "list_products"}
ENUMS = {"currency", "order_status", "user_role"}


def ran(project) -> set[str]:
    """Patterns codegen built (inside the batch sub-tasks that ran)."""
    return project.built_patterns()


def generated(tree: dict) -> dict:
    """The part of output/ that codegen itself writes (tasks 9-22 add more)."""
    return {p: v for p, v in tree.items()
            if p.startswith(("python/", "sql/")) or p.endswith(".schema.json")}


def changed_files(before: dict, after: dict) -> set[str]:
    return {path for path in set(before) | set(after) if before.get(path) != after.get(path)}


def test_second_build_renders_compiles_and_checks_nothing(built):
    result = built.doit("codegen", check=True)
    statuses = built.statuses()
    assert statuses and set(statuses.values()) == {"up-to-date"}, result.stdout
    counters = [r.counters for r in built.last_run().values()]
    assert not any(c.get("files_rendered") for c in counters)


def test_editing_one_pattern_regenerates_exactly_its_files(built):
    before = generated(built.mtimes())
    source = built.path("patterns/currency.yaml")
    source.write_text(source.read_text().replace("[EUR, USD, GBP, CHF]", "[EUR, USD, GBP, CHF, JPY]"))
    built.doit("codegen", check=True)
    assert ran(built) == {"currency"}
    assert changed_files(before, generated(built.mtimes())) == {
        "python/conductor_models/currency.py", "python/tests/test_currency.py",
        "sql/currency.sql", "schemas/currency.schema.json"}
    records = [r for r in built.last_run().values() if "pattern_s:currency" in r.counters]
    assert len(records) == 1 and records[0].counters["files_compiled"] == 4
    # one batch ran (and the closing step), every other stayed up to date
    batches = {n for n, s in built.statuses("codegen:_batch-").items() if s == "ran"}
    assert batches == {built.batch_of("currency")}
    # the dependency graph is as it was: its check and order are not redone
    assert built.statuses()["resolve-patterns"] == "up-to-date"


def test_an_edit_to_the_dependency_graph_is_checked_again(built):
    source = built.path("patterns/currency.yaml")
    source.write_text(source.read_text() + "depends_on: [order_status]\n")
    built.doit("codegen", check=True)
    assert built.statuses()["resolve-patterns"] == "ran"
    other = built.path("patterns/order_status.yaml")
    other.write_text(other.read_text() + "depends_on: [currency]\n")
    result = built.doit("codegen")
    said = result.stdout + result.stderr
    assert result.returncode != 0 and "patterns/currency.yaml" in said
    assert "depends_on cycle: currency -> order_status -> currency" in said


def test_a_one_pattern_selection_builds_that_pattern_only(built):
    before = generated(built.mtimes())
    currency = built.path("patterns/currency.yaml")
    currency.write_text(currency.read_text().replace("[EUR, USD, GBP, CHF]",
                                                     "[EUR, USD, GBP, CHF, JPY]"))
    users = built.path("patterns/users.yaml")
    users.write_text(users.read_text().replace("max_length: 60", "max_length: 70"))
    built.doit("codegen:currency", check=True)
    assert ran(built) == {"currency"}
    assert {p for p in changed_files(before, generated(built.mtimes()))
            if "users" in p} == set()
    # up to date right after, and the whole codegen then builds what is left
    again = built.doit("codegen:currency", check=True)
    # nothing at all: the manifest follows what the one pattern wrote (the scan
    # of task 5 used to find it stale and run once more)
    assert built.did_nothing(again), again.stdout
    built.doit("codegen", check=True)
    # users and the patterns that read its data, not currency again
    assert "users" in ran(built) and "currency" not in ran(built)


def test_the_manifest_merged_from_changed_fragments_is_the_full_merge(built, monkeypatch):
    from doit_conductor.codegen.manifest import merge_manifest
    source = built.path("patterns/currency.yaml")
    source.write_text(source.read_text().replace("[EUR, USD, GBP, CHF]", "[EUR, USD, GBP, CHF, JPY]"))
    built.doit("codegen", check=True)
    assert built.statuses()["codegen:_manifest"] == "ran"
    manifest = built.path(".conductor/cache/compile.manifest")
    merged = manifest.read_bytes()
    entry = decode_state(merged)["files"]["output/sql/currency.sql"]
    stat = built.path("output/sql/currency.sql").stat()
    assert (entry["mtime_ns"], entry["size"]) == (stat.st_mtime_ns, stat.st_size)
    monkeypatch.chdir(built.root)
    manifest.unlink()
    merge_manifest(".conductor/cache")
    assert manifest.read_bytes() == merged


def test_editing_a_partial_rerenders_exactly_the_patterns_that_reach_it(built):
    before = generated(built.tree())
    partial = built.path("templates/_partials/field_checks.py.j2")
    partial.write_text(partial.read_text().replace('": required"', '": is required"'))
    built.doit("codegen", check=True)
    # field_checks is included by the entity and endpoint modules, never by enums
    assert ran(built) == ENTITY_OR_ENDPOINT
    changed = changed_files(before, generated(built.tree()))
    assert changed and all(re.match(r"python/(conductor_models|tests)/", p) for p in changed)
    assert not any(name in p for p in changed for name in ENUMS)


def test_a_template_change_that_renders_the_same_compiles_nothing(built):
    before = generated(built.mtimes())
    template = built.path("templates/sql/enum.sql.j2")
    template.write_text(template.read_text() + "{# a comment renders as nothing #}\n")
    built.doit("codegen", check=True)
    assert ran(built) == ENUMS
    records = built.last_run()
    assert not any(r.counters.get("files_compiled", 0) for r in records.values())
    assert generated(built.mtimes()) == before  # identical content is not rewritten


def test_touching_files_without_changing_them_reruns_nothing(built):
    for path in [*built.path("patterns").iterdir(), *built.path("templates").rglob("*.j2")]:
        os.utime(path)
    built.doit(check=True)
    assert set(built.statuses().values()) == {"up-to-date"}
    built.doit(check=True)
    assert set(built.statuses().values()) == {"up-to-date"}


def test_removing_a_pattern_prunes_its_outputs_and_says_so(built):
    built.path("patterns/create_order.yaml").unlink()
    result = built.doit("codegen", check=True)
    tree = generated(built.tree())
    assert not [p for p in tree if "create_order" in p]
    assert "pruned output/python/conductor_models/create_order.py" in result.stderr
    manifest = built.path(".conductor/cache/compile.manifest").read_text()
    assert "create_order" not in manifest


def test_a_template_a_pattern_stops_using_is_pruned(built):
    source = built.path("patterns/users.yaml")
    source.write_text(source.read_text().replace(
        "kind: entity\n", "kind: entity\ntemplates: [python/entity.py.j2, sql/entity.sql.j2]\n"))
    result = built.doit("codegen", check=True)
    assert "pruned output/schemas/users.schema.json" in result.stderr
    assert not built.path("output/schemas/users.schema.json").exists()
    assert built.path("output/sql/users.sql").exists()


@pytest.mark.slow
def test_output_is_identical_however_it_is_built(tmp_path):
    # the reference: sequential, no template cache, from nothing
    slow = copy_project(tmp_path / "slow")
    config = slow.path("pyproject.toml")
    config.write_text(config.read_text().replace("enabled = true", "enabled = false"))
    slow.doit("codegen", check=True)
    reference = generated(slow.tree())
    assert len(reference) == 37
    assert not list(slow.path(".conductor/cache/templates").glob("*.jbc"))

    for workers in ("1", "3"):
        fresh = copy_project(tmp_path / f"n{workers}")
        fresh.doit("-n", workers, "codegen", check=True)
        assert generated(fresh.tree()) == reference, f"-n {workers}"

    # edits and reverts, three times over, rebuilt warm in parallel each time
    warm = fresh
    pattern = warm.path("patterns/orders.yaml")
    partial = warm.path("templates/_partials/types.j2")
    original_pattern, original_partial = pattern.read_text(), partial.read_text()
    for _ in range(3):
        pattern.write_text(original_pattern.replace("max_length: 500", "max_length: 400"))
        partial.write_text(original_partial.replace('"REAL"', '"DOUBLE"'))
        warm.doit("-n", "3", "codegen", check=True)
        assert generated(warm.tree()) != reference
        pattern.write_text(original_pattern)
        partial.write_text(original_partial)
        warm.doit("-n", "3", "codegen", check=True)
        assert generated(warm.tree()) == reference


def test_template_cache_survives_a_restart_and_misses_on_change(built):
    shutil.rmtree(built.path("output"))
    built.doit("codegen", check=True)
    records = built.last_run().values()
    hits = sum(r.counters.get("template_cache_hits", 0) for r in records)
    misses = sum(r.counters.get("template_cache_misses", 0) for r in records)
    assert hits > 0 and misses == 0

    template = built.path("templates/json/enum.schema.json.j2")
    template.write_text(template.read_text().replace('"enum":', '"enum" :'))
    built.doit("codegen", check=True)
    records = built.last_run().values()
    assert sum(r.counters.get("template_cache_misses", 0) for r in records) >= 1


def test_a_corrupted_cache_entry_is_rebuilt_not_used(built):
    reference = generated(built.tree())
    entries = sorted(built.path(".conductor/cache/templates").glob("*.jbc"))
    for entry in entries:
        data = entry.read_bytes()
        entry.write_bytes(data[: len(data) // 2])      # truncated
    shutil.rmtree(built.path("output"))
    built.doit("codegen", check=True)
    assert generated(built.tree()) == reference
    records = built.last_run().values()
    assert sum(r.counters.get("template_cache_misses", 0) for r in records) >= len(entries)
    # rebuilt: the next fresh process hits again
    shutil.rmtree(built.path("output"))
    built.doit("codegen", check=True)
    assert sum(r.counters.get("template_cache_misses", 0)
               for r in built.last_run().values()) == 0


def test_cache_gc_bounds_the_cache(built):
    cache = built.path(".conductor/cache/templates")
    assert len(list(cache.glob("*.jbc"))) > 3
    result = built.doit("cache-gc", "--max-entries", "3", check=True)
    assert "removed" in result.stdout
    assert len(list(cache.glob("*.jbc"))) == 3
    built.doit("cache-gc", "--max-entries", "100", "--max-bytes", "1", check=True)
    assert list(cache.glob("*.jbc")) == []


def test_manifest_lists_every_generated_file_with_its_checksum(built):
    from doit_conductor.codegen.outputs import content_checksum
    manifest = decode_state(built.path(".conductor/cache/compile.manifest").read_bytes())
    assert manifest["version"] == 2
    assert {p.removeprefix("output/") for p in manifest["files"]} == set(generated(built.tree()))
    for path, entry in manifest["files"].items():
        data = built.path(path).read_bytes()
        assert entry["checksum"] == content_checksum(data) and entry["size"] == len(data)


def test_manifest_is_current_within_the_run_that_changed_a_file(built):
    source = built.path("patterns/users.yaml")
    source.write_text(source.read_text().replace("max_length: 60", "max_length: 70"))
    built.doit(check=True)
    statuses = built.statuses()
    assert statuses["codegen:_manifest"] == "ran"
    assert statuses["generated-tests"] == "ran" and statuses["sql-schema"] == "ran"


def test_only_the_changed_pattern_file_is_reparsed(built):
    source = built.path("patterns/users.yaml")
    source.write_text(source.read_text().replace("Registered shop users", "Shop users"))
    built.doit("validate-patterns", check=True)
    counters = built.last_run()["validate-patterns"].counters
    # the nine others keep their entry of the previous index: not even read
    assert counters["patterns_parsed"] == 1

    # validation checks template names against the kinds table: all re-validated
    kinds = built.path("templates/kinds.yaml")
    kinds.write_text(kinds.read_text() + "# a comment changes the table's digest\n")
    built.doit("validate-patterns", check=True)
    assert built.last_run()["validate-patterns"].counters["patterns_parsed"] == 10


def test_external_checks_from_config_run_and_fail_cleanly(built):
    config = built.path("pyproject.toml")
    text = config.read_text()
    before = generated(built.tree())
    config.write_text(text.replace("[tool.conductor.checks]\n",
                                   '[tool.conductor.checks]\n".sql" = "grep -q PRIMARY {file}"\n'))
    shutil.rmtree(built.path("output/sql"))
    built.doit("codegen", check=True)
    assert generated(built.tree()) == before
    assert sum(r.counters.get("external_checks", 0) for r in built.last_run().values()) == 7

    config.write_text(text.replace("[tool.conductor.checks]\n",
                                   '[tool.conductor.checks]\n".sql" = "grep -q NO_SUCH_TEXT {file}"\n'))
    shutil.rmtree(built.path("output/sql"))
    result = built.doit("codegen")
    assert result.returncode != 0
    assert re.search(r"output/sql/\w+\.sql: quality check failed \(grep\): exit status 1",
                     result.stdout + result.stderr)
    assert not built.path("output/sql").exists()


def _with_checks(project, checks: str) -> None:
    config = project.path("pyproject.toml")
    config.write_text(config.read_text().replace("[tool.conductor.checks]\n",
                                                 "[tool.conductor.checks]\n" + checks))


def test_changed_checks_apply_to_files_whose_bytes_did_not_change(built):
    """A file that renders the same is not compiled or written again, but checks
    that moved since it passed must pass too: a build from nothing runs them."""
    before = generated(built.mtimes())
    config = built.path("pyproject.toml")
    text = config.read_text()
    _with_checks(built, '".sql" = "grep -q Generated {file}"\n')   # every file passes
    built.doit("codegen", check=True)
    assert sum(r.counters.get("external_checks", 0) for r in built.last_run().values()) == 7
    assert generated(built.mtimes()) == before
    assert built.did_nothing(built.doit("codegen", check=True))
    config.write_text(text.replace("line_length = 100", "line_length = 60"))
    result = built.doit("codegen")
    assert result.returncode != 0
    assert re.search(r"line is \d+ characters, over the limit of 60", result.stdout + result.stderr)
    assert generated(built.mtimes()) == before


def test_external_checks_run_while_the_other_outputs_are_checked(built, tmp_path):
    # The schema's check (the pattern's first output) waits for a mark the check
    # of its last output, the SQL, leaves: run one after the other, the first
    # would give up after 10 s and fail the build.
    marks = tmp_path / "marks"
    marks.mkdir()
    waits = (f"sh -c 'n=0; until [ -e \\\"$0/sql\\\" ]; do n=$((n+1)); [ $n -gt 200 ] && exit 1; "
             f"sleep 0.05; done' {marks} {{file}}")
    _with_checks(built, f'".json" = "{waits}"\n".sql" = "touch {marks}/sql {{file}}"\n')
    users = built.path("patterns/users.yaml")
    users.write_text(users.read_text().replace("Registered shop users", "Shop users"))
    result = built.doit("codegen:users")
    assert result.returncode == 0, result.stdout + result.stderr
    assert built.last_run()["codegen:users"].counters["external_checks"] == 2
    assert list(built.path(".conductor/tmp").iterdir()) == []


def test_a_failure_in_process_stops_the_external_checks_and_is_reported(built):
    import psutil
    before = generated(built.tree())
    # would hold the build for ten minutes if it were waited for; the shell's
    # child too, which holds the output pipe open
    pause = f"{600 + random.random():.6f}"
    _with_checks(built, f'".json" = "sh -c \'sleep {pause}\' {{file}}"\n')
    products = built.path("patterns/products.yaml")
    products.write_text(products.read_text().replace("{name: stock, type: int}",
                                                     "{name: class, type: int}"))
    result = built.doit("codegen:products", timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stdout + result.stderr
    assert "output/python/conductor_models/products.py:" in result.stdout + result.stderr
    assert generated(built.tree()) == before
    assert list(built.path(".conductor/tmp").iterdir()) == []
    left = [process.pid for process in psutil.process_iter(["cmdline"])
            if pause in " ".join(process.info["cmdline"] or [])]
    assert left == [], "the check's processes outlived the build"


def test_parallel_failure_names_the_pattern_and_keeps_other_outputs(built):
    before = generated(built.tree())
    source = built.path("patterns/products.yaml")
    source.write_text(source.read_text().replace("{name: stock, type: int}",
                                                 "{name: class, type: int}"))
    result = built.doit("-n", "3", "codegen")
    assert result.returncode != 0 and "Traceback" not in result.stdout + result.stderr
    assert re.search(r"ERROR: codegen:_batch-[\w-]+: output/python/conductor_models/products.py:",
                     result.stdout), result.stdout
    assert generated(built.tree()) == before


def test_manifest_stays_accurate_after_a_failed_run(built):
    from doit_conductor.codegen.outputs import content_checksum
    users = built.path("patterns/users.yaml")
    users.write_text(users.read_text().replace("max_length: 60", "max_length: 70"))
    products = built.path("patterns/products.yaml")
    products.write_text(products.read_text().replace("{name: stock, type: int}",
                                                     "{name: class, type: int}"))
    assert built.doit("codegen", "--continue").returncode != 0
    assert "users" in built.built_patterns()
    manifest = decode_state(built.path(".conductor/cache/compile.manifest").read_bytes())
    for path, entry in manifest["files"].items():
        assert entry["checksum"] == content_checksum(built.path(path).read_bytes()), path
