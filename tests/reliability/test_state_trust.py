"""State on disk is verified before use, and hand edits are never lost.

Every state file carries a digest of its content and is checked for its shape;
one that fails is removed with one warning and rebuilt by its task in the same
run.  A valid state file copied back from an older build is rebuilt too, never
used.  Codegen batch records may only name files inside output/.  Deleting any file
under .conductor/ is recovered by the next `doit`.  Hand edits are found by
content, each set-aside copy keeps a name of its own, and the aggregate outputs
(SHA256SUMS, docs, schema.sql) are checked too."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from doit_conductor import state_files
from tests.reliability.conftest import run, stray_temps

STATE = ".conductor/state"
RECORDS = ".conductor/cache/batches"


def reencode(path: Path, change) -> None:
    """Rewrite a state file's content as valid JSON (what an editor does), keeping
    the old digest: the edit must be caught although the JSON parses."""
    raw = path.read_bytes()
    head = len(b'{"digest":"') + 32 + len(b'","state":')
    data = change(json.loads(raw[head:-2]))
    path.write_bytes(raw[:head] + json.dumps(data).encode() + b"}\n")


def warnings(result, fragment: str) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines()
            if line.startswith("WARNING: ") and fragment in line]


def record_of(project, pattern: str) -> Path:
    """The codegen batch record that holds `pattern`."""
    for path in sorted(project.path(RECORDS).glob("*.json")):
        if pattern in state_files.read_state(path)["patterns"]:
            return path
    raise AssertionError(f"no batch record holds {pattern}")


def assert_recovered(project, reference, result, *, outside: Path | None = None) -> None:
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "Traceback" not in text
    assert project.tree() == reference.tree()
    assert not project.path(".conductor/hand-edits").exists(), text
    assert stray_temps(project.root) == []
    for name in ("dodo.py", "pyproject.toml", "patterns/users.yaml"):
        assert project.path(name).read_bytes() == reference.path(name).read_bytes()
    again = run(project)
    assert again.returncode == 0 and "WARNING" not in again.stdout + again.stderr


def _describe_currency(data):
    data["patterns"]["currency"]["description"] = "Edited in the index"
    return data


def _rename_output(data):
    data[0]["outputs"][0]["path"] = data[0]["outputs"][0]["path"].replace(".", "_renamed.", 1)
    return data


EDITS = {
    "patterns.json changes a description": ("patterns.json", _describe_currency),
    "plan.json renames an output": ("plan.json", _rename_output),
    "order.json reversed": ("order.json", lambda d: d[::-1]),
}


@pytest.mark.parametrize("case", ["patterns.json changes a description",
                                  pytest.param("plan.json renames an output", marks=pytest.mark.stress),
                                  pytest.param("order.json reversed", marks=pytest.mark.stress)])
def test_valid_json_edits_of_state_are_caught(fresh, reference, case):
    name, change = EDITS[case]
    reencode(fresh.path(f"{STATE}/{name}"), change)
    result = run(fresh)
    assert len(warnings(result, f"{STATE}/{name}: digest mismatch")) == 1, result.stderr
    assert_recovered(fresh, reference, result)


def test_wrong_typed_manifest_entry_with_a_good_digest_is_caught(fresh, reference):
    """Even a forged digest does not get a wrong-shaped file used."""
    path = fresh.path(".conductor/cache/compile.manifest")
    document = state_files.read_state(path)
    first = next(iter(document["files"]))
    document["files"][first]["size"] = "big"
    path.write_bytes(state_files.encode_state(document))
    result = run(fresh)
    assert len(warnings(result, "compile.manifest: not the shape")) == 1, result.stderr
    assert_recovered(fresh, reference, result)


@pytest.mark.parametrize("named", ["dodo.py", pytest.param("../outside.txt", marks=pytest.mark.stress)])
def test_record_naming_files_outside_output_is_refused(fresh, reference, tmp_path, named):
    """Even with a valid digest (forged), a batch record cannot make scan-output
    move files that are not generated outputs."""
    (tmp_path / "outside.txt").write_text("not yours\n")
    path = record_of(fresh, "currency")
    document = state_files.read_state(path)
    files = document["patterns"]["currency"]["files"]
    files[named] = dict(next(iter(files.values())), checksum="0" * 32)
    path.write_bytes(state_files.encode_state(document))
    assert run(fresh, "forget", "scan-output").returncode == 0
    result = run(fresh)
    assert len(warnings(result, f"{path.name}: not the shape")) == 1, result.stderr
    assert (tmp_path / "outside.txt").read_text() == "not yours\n"
    assert_recovered(fresh, reference, result)


def test_garbage_record_does_not_drop_its_patterns(fresh, reference):
    """It used to drop currency from the wheel, schema.sql, api.json and
    SHA256SUMS, exit 0, and stay that way."""
    path = record_of(fresh, "currency")
    path.write_text('{"files": {}}\n')
    result = run(fresh)
    assert len(warnings(result, f"{path.name}: not a conductor state file")) == 1
    assert_recovered(fresh, reference, result)


# -- state copied back from an older build (issue 25) ----------------------------

def _edit_description(project) -> None:
    source = project.path("patterns/users.yaml")
    source.write_text(source.read_text().replace("Registered shop users", "People who shop"))


def _drop_a_template(project) -> None:
    source = project.path("patterns/users.yaml")
    source.write_text(source.read_text().replace(
        "kind: entity\n", "kind: entity\ntemplates: [python/entity.py.j2, sql/entity.sql.j2]\n"))


def _add_a_dependency(project) -> None:
    source = project.path("patterns/currency.yaml")
    source.write_text(source.read_text() + "depends_on: [order_status]\n")


def _users_batch_plan(project) -> str:
    from doit_conductor import layout
    return layout.batch_plan_file(record_of(project, "users").stem)


ROLLBACKS = {
    # state file copied back, the edit made between the two builds
    "patterns.json": (lambda p: f"{STATE}/patterns.json", _edit_description),
    "plan.json": (lambda p: f"{STATE}/plan.json", _drop_a_template),
    "pattern-graph.json": (lambda p: f"{STATE}/pattern-graph.json", _add_a_dependency),
    "a batch plan": (_users_batch_plan, _edit_description),
}


@pytest.mark.parametrize("case", ["patterns.json", "plan.json", "pattern-graph.json",
                                  pytest.param("a batch plan", marks=pytest.mark.stress)])
def test_an_older_valid_state_file_copied_back_is_rebuilt(fresh, case):
    """A rolled-back patterns.json published the old description, a rolled-back
    plan.json the old output names, with exit 0, and every later run said "up to
    date": the digest said the file was intact, not that it was the current one."""
    where, edit = ROLLBACKS[case]
    state = fresh.path(where(fresh))
    older = state.read_bytes()
    edit(fresh)
    assert run(fresh).returncode == 0
    assert state.read_bytes() != older, "the edit must change the state file"
    current = fresh.tree()
    state.write_bytes(older)
    result = run(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert fresh.tree() == current
    assert "WARNING" not in result.stdout + result.stderr
    again = run(fresh)
    assert again.returncode == 0 and fresh.tree() == current


def _deletable(project) -> list[str]:
    root = project.path(".conductor")
    return sorted(str(p.relative_to(project.root)) for p in root.rglob("*")
                  if p.is_file() and "metrics" not in p.parts and "reports" not in p.parts)


SAMPLE = [f"{STATE}/batches/*", ".conductor/cache/compile.manifest", f"{RECORDS}/*"]


@pytest.mark.parametrize("pattern", [SAMPLE[0], *(pytest.param(p, marks=pytest.mark.stress)
                                                  for p in SAMPLE[1:])])
def test_deleting_a_file_under_conductor_is_recovered(fresh, reference, pattern):
    [path] = sorted(fresh.root.glob(pattern))[:1]   # the layout still has one
    path.unlink()
    assert_recovered(fresh, reference, run(fresh))


@pytest.mark.stress
def test_deleting_any_file_under_conductor_is_recovered(fresh, reference):
    """Every file, one at a time (about 40 runs)."""
    for relative in _deletable(fresh):
        path = fresh.path(relative)
        if not path.exists():
            continue
        path.unlink()
        result = run(fresh)
        assert result.returncode == 0, (relative, result.stdout + result.stderr)
        assert fresh.tree() == reference.tree(), relative


# -- hand edits ------------------------------------------------------------------

def edit_keeping_size_and_mtime(path: Path) -> None:
    info = path.stat()
    data = bytearray(path.read_bytes())
    index = data.index(b"NOT NULL")
    data[index:index + 8] = b"NOT NUL!"
    path.write_bytes(bytes(data))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def set_aside(project) -> list[Path]:
    root = project.path(".conductor/hand-edits")
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_same_size_edit_with_mtime_restored_is_found(fresh, reference):
    target = fresh.path("output/sql/users.sql")
    edit_keeping_size_and_mtime(target)
    edited = target.read_bytes()
    result = run(fresh)
    assert "output/sql/users.sql was edited by hand" in result.stderr, result.stderr
    assert [p.read_bytes() for p in set_aside(fresh)] == [edited]
    assert result.returncode == 0 and fresh.tree() == reference.tree()


@pytest.mark.parametrize("new", ["EUX", "EURO"], ids=["same size", "new size"])
def test_an_input_edited_with_its_mtime_put_back_is_rebuilt(fresh, reference, new):
    """`touch -r` after an edit: doit's checkers trust the unchanged mtime, ours
    must not (the size or the ctime moved)."""
    source = fresh.path("patterns/currency.yaml")
    before = source.stat()
    source.write_text(source.read_text().replace("[EUR,", f"[{new},"))
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    result = run(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"'{new.lower()}'" in fresh.path("output/sql/currency.sql").read_text()
    assert f'"{new.lower()}"' in fresh.path("output/schemas/currency.schema.json").read_text()
    assert fresh.did_nothing(run(fresh))


@pytest.mark.parametrize("which", ["batch record", "doit.db"])
def test_a_rolled_back_record_or_db_sets_nothing_aside(fresh, which):
    """A state file restored from before the last build (a backup, a copy of
    .conductor/) must not make the files that build wrote pass for hand edits."""
    rolled_back = (record_of(fresh, "currency") if which == "batch record"
                   else fresh.path(".conductor/doit.db"))
    saved = rolled_back.read_bytes()
    source = fresh.path("patterns/currency.yaml")
    source.write_text(source.read_text().replace("[EUR,", "[EUX,"))
    assert run(fresh).returncode == 0
    built = fresh.tree()
    rolled_back.write_bytes(saved)
    result = run(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "edited by hand" not in result.stderr and set_aside(fresh) == [], result.stderr
    assert fresh.tree() == built
    again = run(fresh)
    assert again.returncode == 0 and "edited by hand" not in again.stderr, again.stderr
    assert set_aside(fresh) == [] and fresh.tree() == built
    assert fresh.did_nothing(run(fresh))


def test_every_hand_edit_keeps_its_own_copy(fresh, reference):
    target = fresh.path("output/python/conductor_models/currency.py")
    versions = []
    for n in range(3):
        target.write_text(target.read_text() + f"# my change {n}\n")
        versions.append(target.read_bytes())
        assert run(fresh).returncode == 0
    assert sorted(p.read_bytes() for p in set_aside(fresh)) == sorted(versions)
    assert fresh.tree() == reference.tree()


@pytest.mark.parametrize("aggregate", ["output/SHA256SUMS",
                                       pytest.param("output/docs/users.md", marks=pytest.mark.stress)])
def test_edits_of_aggregate_outputs_are_found(fresh, reference, aggregate):
    target = fresh.path(aggregate)
    target.write_bytes(target.read_bytes() + b"\n")
    edited = target.read_bytes()
    result = run(fresh)
    assert f"{aggregate} was edited by hand" in result.stderr, result.stderr
    assert [p.read_bytes() for p in set_aside(fresh)] == [edited]
    assert result.returncode == 0 and fresh.tree() == reference.tree()


def test_a_same_size_edit_with_its_mtime_put_back_is_found(fresh, reference):
    """The hand-edit check of an aggregate reads it again only when its stat
    moved since it was last read; an edit that keeps the size and puts the
    mtime back still moves the ctime."""
    import time

    from doit_conductor.incremental import racy
    target = fresh.path("output/SHA256SUMS")
    fresh.path(".conductor/noop/snapshot").unlink()   # a walk: the check reads it now
    assert run(fresh).returncode == 0
    time.sleep(racy.window_ns(target.stat().st_dev, racy.fine_devices()) / 1e9 + 0.2)
    before = target.stat()
    data = target.read_bytes()
    target.write_bytes(data[:-2] + (b"0" if data[-2:-1] != b"0" else b"1") + data[-1:])
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_size == before.st_size
    result = run(fresh)
    assert "output/SHA256SUMS was edited by hand" in result.stderr, result.stderr
    assert result.returncode == 0 and fresh.tree() == reference.tree()


# -- the reader and writer -------------------------------------------------------

def test_state_round_trip_and_refusals(tmp_path):
    path = tmp_path / ".conductor" / "state" / "order.json"
    assert state_files.write_state(path, ["a", "b"])
    assert not state_files.write_state(path, ["a", "b"])  # unchanged: not rewritten
    assert state_files.read_state(path) == ["a", "b"]
    json.loads(path.read_bytes())  # still JSON for people and tools
    path.write_bytes(path.read_bytes().replace(b'"a"', b'"z"'))
    with pytest.raises(state_files.StateError, match="digest mismatch"):
        state_files.read_state(path)
    assert not path.exists()  # removed: its task runs again
    path.write_bytes(state_files.encode_state({"not": "a list"}))
    with pytest.raises(state_files.StateError, match="not the shape"):
        state_files.read_state(path)


def test_sweep_reads_only_changed_files_and_a_restored_mtime_hides_nothing(tmp_path):
    """The DB keeps each state file's identity as the last run left it; the next
    sweep verifies only files whose identity changed.  An edit that keeps the size
    and puts the mtime back still changes the ctime, so it is still verified."""
    conductor = tmp_path / ".conductor"
    (conductor / "state").mkdir(parents=True)
    good, edited = conductor / "state" / "a.json", conductor / "state" / "b.json"
    state_files.write_state(good, {"value": 1})
    state_files.write_state(edited, {"value": 2})
    trusted = state_files.identities(str(conductor))
    assert set(trusted) == {str(good), str(edited)}

    before = edited.stat()
    raw = edited.read_bytes()
    edited.write_bytes(raw[:-4] + raw[-4:].replace(b"2", b"3"))   # same size
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert edited.stat().st_size == before.st_size
    warnings = []
    removed = state_files.sweep(str(conductor), warnings.append, trusted=trusted)
    assert removed == [str(edited)] and len(warnings) == 1 and not edited.exists()
    assert good.exists()


def test_a_hand_edit_made_after_scan_output_looked_is_kept_by_the_batch(fresh):
    """scan-output judges at the start of a run; an edit made after that, to a
    file the run then regenerates, was overwritten and lost.  Simulated by a
    memo that has learned the edited file's stat as holding the generated
    content (as if scan-output had looked just before the edit)."""
    target = fresh.path("output/python/conductor_models/currency.py")
    target.write_text(target.read_text() + "# mine\n")
    edited = target.read_bytes()
    memo_path = fresh.path(".conductor/cache/untouched.json")
    memo = state_files.read_state(memo_path, lambda _: True)
    key = "output/python/conductor_models/currency.py"
    info = os.stat(target)
    memo["files"][key][:5] = [info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino,
                              info.st_dev]
    state_files.write_state(memo_path, memo)
    source = fresh.path("patterns/currency.yaml")
    source.write_text(source.read_text().replace("description: ", "description: Edited. ", 1))
    result = run(fresh, "-v", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "-- scan-output" in result.stdout   # it did not look again
    assert f"{key} was edited by hand" in result.stdout + result.stderr
    assert [p.read_bytes() for p in set_aside(fresh)] == [edited]
    assert b"# mine" not in target.read_bytes() and b"Edited." in target.read_bytes()


def test_a_hand_edit_of_a_file_whose_record_was_dropped_is_kept(fresh, reference):
    """Task 13 drops the record of a batch whose file it found differing from a
    clean render (a hand edit made while the run went on): the next run's
    scan-output had no record to judge the file by, and codegen overwrote it.
    The merged manifest still says what the file held."""
    target = fresh.path("output/python/conductor_models/currency.py")
    target.write_text(target.read_text() + "# mine\n")
    edited = target.read_bytes()
    batch = fresh.batch_of("currency").split(":", 1)[1]
    fresh.path(f".conductor/cache/batches/{batch}.json").unlink()
    result = run(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "output/python/conductor_models/currency.py was edited by hand" in result.stderr
    assert [p.read_bytes() for p in set_aside(fresh)] == [edited]
    assert fresh.tree() == reference.tree()


def test_a_hand_edit_made_after_scan_output_looked_is_kept_when_its_record_is_gone(fresh,
                                                                                  reference):
    """Both at once: the record dropped (by task 13, say) and the edit made
    after scan-output looked (simulated as above).  The batch judges the file
    by the merged manifest, as scan-output does."""
    target = fresh.path("output/python/conductor_models/currency.py")
    target.write_text(target.read_text() + "# mine\n")
    edited = target.read_bytes()
    memo_path = fresh.path(".conductor/cache/untouched.json")
    memo = state_files.read_state(memo_path, lambda _: True)
    info = os.stat(target)
    memo["files"]["output/python/conductor_models/currency.py"][:5] = [
        info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino, info.st_dev]
    state_files.write_state(memo_path, memo)
    batch = fresh.batch_of("currency").split(":", 1)[1]
    fresh.path(f".conductor/cache/batches/{batch}.json").unlink()
    result = run(fresh, "-v", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "-- scan-output" in result.stdout   # it did not look again
    assert [p.read_bytes() for p in set_aside(fresh)] == [edited]
    assert fresh.tree() == reference.tree()
