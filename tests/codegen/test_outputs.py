"""Generated files on disk, on hand-made trees: atomic writes, the symbolic-link
refusal, fragments and the incremental merge of compile.manifest."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from doit_conductor.codegen import finish, outputs

from doit_conductor.codegen import manifest
from doit_conductor.codegen.outputs import OutputTree
from doit_conductor.codegen.manifest import FileEntry
from doit_conductor.errors import UserError
from doit_conductor.fsio import atomic_write, holds, write_if_changed
from doit_conductor.state_files import decode_state

CACHE = ".conductor/cache"


def entry(checksum: str, size: int = 1, mtime_ns: int = 1) -> FileEntry:
    return FileEntry(checksum=checksum, size=size, mtime_ns=mtime_ns, last_compiled=1.0,
                     template="t.j2", validator="none")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- fsio -----------------------------------------------------------------------

def test_atomic_write_creates_directories_and_leaves_no_temporary_file(workdir):
    info = atomic_write("a/b/c.txt", b"hello")
    assert (workdir / "a/b/c.txt").read_bytes() == b"hello"
    assert os.listdir(workdir / "a/b") == ["c.txt"]
    assert info.st_size == 5 and info.st_mtime_ns == os.stat("a/b/c.txt").st_mtime_ns


def test_atomic_write_gives_the_umask_mode(workdir):
    old = os.umask(0o027)
    try:
        atomic_write("f.txt", b"x")
    finally:
        os.umask(old)
    assert os.stat("f.txt").st_mode & 0o777 == 0o640


def test_write_if_changed_leaves_an_identical_file_alone(workdir):
    assert write_if_changed("f.txt", b"one")
    before = os.stat("f.txt").st_mtime_ns
    assert not write_if_changed("f.txt", b"one")
    assert os.stat("f.txt").st_mtime_ns == before
    assert write_if_changed("f.txt", b"one!")  # a longer file is not a prefix match
    assert write_if_changed("f.txt", b"on")
    assert (workdir / "f.txt").read_bytes() == b"on"


def test_holds(workdir):
    (workdir / "f").write_bytes(b"abc")
    assert holds("f", b"abc") and holds("f", b"abc", size=3)
    assert not holds("f", b"abcd") and not holds("f", b"ab") and not holds("missing", b"")
    assert not holds(workdir, b"")  # a directory holds no bytes


# -- OutputTree -----------------------------------------------------------------

def test_output_tree_refuses_a_symlinked_directory_and_a_symlinked_file(workdir):
    (workdir / "output/sql").mkdir(parents=True)
    (workdir / "elsewhere").mkdir()
    tree = OutputTree("output")
    assert tree.inspect("output/sql/a.sql") is None
    (workdir / "output/python").symlink_to(workdir / "elsewhere")
    with pytest.raises(UserError, match="symbolic link out of output/"):
        tree.inspect("output/python/a.py")
    (workdir / "output/sql/b.sql").symlink_to(workdir / "elsewhere/b.sql")
    with pytest.raises(UserError, match="output/sql/b.sql: refusing to write through"):
        tree.inspect("output/sql/b.sql")


def test_a_directory_replaced_by_a_symlink_after_its_check_is_refused(workdir):
    (workdir / "output/sql").mkdir(parents=True)
    (workdir / "elsewhere").mkdir()
    tree = OutputTree("output")
    tree.write("output/sql/a.sql", b"x", tree.inspect("output/sql/a.sql"))
    (workdir / "output/sql/a.sql").unlink()
    (workdir / "output/sql").rmdir()
    (workdir / "output/sql").symlink_to(workdir / "elsewhere")
    with pytest.raises(UserError, match="symbolic link"):
        tree.inspect("output/sql/a.sql")
    assert list((workdir / "elsewhere").iterdir()) == []


def test_output_tree_writes_only_what_changed(workdir):
    tree = OutputTree("output")
    written = tree.write("output/x/a.txt", b"one", tree.inspect("output/x/a.txt"))
    assert written is not None and written.st_size == 3
    assert tree.write("output/x/a.txt", b"one", tree.inspect("output/x/a.txt")) is None
    assert tree.write("output/x/a.txt", b"two", tree.inspect("output/x/a.txt")) is not None
    assert (workdir / "output/x/a.txt").read_bytes() == b"two"


def test_prune_removes_files_and_emptied_directories_but_not_the_root(workdir):
    tree = OutputTree("output")
    for path in ("output/a/b/one.txt", "output/a/two.txt"):
        tree.write(path, b"x", None)
    assert outputs.prune(["output/a/b/one.txt", "output/a/missing.txt"], "output") == \
        ["output/a/b/one.txt"]
    assert not (workdir / "output/a/b").exists() and (workdir / "output/a/two.txt").exists()
    assert outputs.prune(["output/a/two.txt"], "output") == ["output/a/two.txt"]
    assert (workdir / "output").is_dir() and not (workdir / "output/a").exists()


# -- batch records -----------------------------------------------------------------

def files(digest: str = "d", **paths: str) -> manifest.PatternFiles:
    return manifest.PatternFiles(digest, {f"output/{p}": entry(c) for p, c in paths.items()})


def test_record_round_trip_and_its_bytes(workdir):
    assert manifest.load_record(CACHE, "b").data is None
    data = manifest.write_record(CACHE, "b", {"p": files(a="c1")}, None)
    loaded = manifest.load_record(CACHE, "b")
    assert loaded.patterns == {"p": files(a="c1")} and loaded.data == data
    assert loaded.mtime_ns == os.stat(f"{CACHE}/batches/b.json").st_mtime_ns
    # told what is on disk, an identical record is not written again
    before = loaded.mtime_ns
    assert manifest.write_record(CACHE, "b", loaded.patterns, loaded.data) == data
    assert os.stat(f"{CACHE}/batches/b.json").st_mtime_ns == before


def test_a_garbled_record_reads_as_empty_and_is_reported(workdir, caplog):
    path = workdir / CACHE / "batches/b.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"version": 1, "batch": "b", "patterns": {"p": {"chec')
    loaded = manifest.load_record(CACHE, "b")
    assert loaded.patterns == {} and loaded.data == path.read_bytes()
    assert "unreadable codegen record" in caplog.text


def test_a_record_naming_a_file_outside_output_reads_as_empty(workdir, caplog):
    manifest.write_record(CACHE, "b", {"p": manifest.PatternFiles("d", {"dodo.py": entry("x")})},
                         None)
    assert manifest.load_record(CACHE, "b", "output").patterns == {}
    assert "not a file inside the output directory" in caplog.text


def test_a_record_vouches_for_a_file_only_by_an_exact_older_stat(workdir):
    (workdir / "f").write_bytes(b"abc")
    info = os.lstat("f")
    recorded = entry("c", size=3, mtime_ns=info.st_mtime_ns)
    record = manifest.BatchRecord({}, b"", info.st_mtime_ns + 1)
    assert record.vouches_for(recorded, info)
    assert not record.vouches_for(entry("c", size=4, mtime_ns=info.st_mtime_ns), info)
    assert not record.vouches_for(entry("c", size=3, mtime_ns=info.st_mtime_ns - 1), info)
    # written in the record's own timestamp: a change could keep size and mtime
    same_tick = manifest.BatchRecord({}, b"", info.st_mtime_ns)
    assert not same_tick.vouches_for(recorded, info)
    # an unfinished write (a crash between the two record writes): read the file
    assert not record.vouches_for(dataclasses.replace(recorded, previous="old"), info)


# -- compile.manifest -------------------------------------------------------------

def manifest_bytes() -> bytes:
    with open(os.path.join(CACHE, manifest.MANIFEST), "rb") as handle:
        return handle.read()


def full_merge_bytes(workdir) -> bytes:
    os.unlink(os.path.join(CACHE, manifest.MANIFEST))
    manifest.merge_manifest(CACHE)
    return manifest_bytes()


def test_incremental_merge_equals_a_full_merge_and_names_what_it_dropped(workdir):
    manifest.write_record(CACHE, "x", {"a": files(a0="a0", a1="a1"), "b": files(b0="b0")}, None)
    manifest.write_record(CACHE, "y", {"c": files(c0="c0", c1="c1", c2="c2")}, None)
    assert manifest.merge_manifest(CACHE).changed
    # b changes a file and gains one; c is removed; d is new in a new batch
    manifest.write_record(CACHE, "x", {"a": files(a0="a0", a1="a1"),
                                      "b": files(b0="new", b9="b9")}, b"")
    manifest.drop_record(CACHE, "y")
    manifest.write_record(CACHE, "z", {"d": files(d0="d0")}, None)
    merged = manifest.merge_manifest(CACHE, ["x", "y", "z"])
    assert merged.changed
    assert merged.dropped == ("output/c0", "output/c1", "output/c2")
    incremental = manifest_bytes()
    files_ = decode_state(incremental)["files"]
    assert sorted(files_) == ["output/a0", "output/a1", "output/b0", "output/b9", "output/d0"]
    assert files_["output/b0"]["checksum"] == "new" and files_["output/b0"]["pattern"] == "b"
    assert files_["output/b0"]["batch"] == "x"
    assert incremental == full_merge_bytes(workdir)
    assert not manifest.merge_manifest(CACHE, []).changed  # nothing changed: not rewritten


def test_a_pattern_moved_to_another_batch_is_not_dropped(workdir):
    manifest.write_record(CACHE, "x", {"a": files(a="a")}, None)
    manifest.merge_manifest(CACHE)
    manifest.write_record(CACHE, "x", {}, b"")
    manifest.write_record(CACHE, "y", {"a": files(a="a")}, None)
    assert manifest.merge_manifest(CACHE, ["x", "y"]).dropped == ()


def test_a_failed_batch_merge_adds_and_replaces_but_drops_nothing(workdir):
    manifest.write_record(CACHE, "x", {"a": files(a="a", gone="g")}, None)
    manifest.merge_manifest(CACHE)
    manifest.write_record(CACHE, "x", {"a": files(a="a2")}, b"")
    merged = manifest.merge_manifest(CACHE, ["x"], keep_others=True)
    assert merged.dropped == ()
    listed = decode_state(manifest_bytes())["files"]
    assert listed["output/a"]["checksum"] == "a2" and "output/gone" in listed
    # the closing step's merge then lets it go, for pruning
    assert manifest.merge_manifest(CACHE, ["x"]).dropped == ("output/gone",)


@pytest.mark.parametrize("damage", ["missing", "garbled", "wrong version", "entry without batch"])
def test_incremental_merge_falls_back_to_a_full_merge(workdir, damage):
    for name in ("a", "b"):
        manifest.write_record(CACHE, name, {name: files(**{name: name})}, None)
    manifest.merge_manifest(CACHE)
    expected = manifest_bytes()
    path = os.path.join(CACHE, manifest.MANIFEST)
    if damage == "missing":
        os.unlink(path)
    elif damage == "garbled":
        Path(path).write_bytes(expected[:-20])
    elif damage == "wrong version":
        Path(path).write_text(json.dumps({"version": 99, "files": {}}))
    else:
        Path(path).write_text(json.dumps({"version": manifest.MANIFEST_VERSION,
                                          "files": {"output/a": {"pattern": "a"}}}))
    manifest.merge_manifest(CACHE, ["b"])  # says only b changed: a must come back too
    assert manifest_bytes() == expected


def test_changed_batches_reads_doit_changed_list():
    record = f"{CACHE}/batches/_batch-0-01.json"
    assert finish.changed_batches([record, f"{CACHE}/batches/_batch-1-02.json"], CACHE) == \
        ["_batch-0-01", "_batch-1-02"]
    assert finish.changed_batches([], CACHE) == []
    assert finish.changed_batches(None, CACHE) is None
    # the plan or the settings changed: merge everything
    assert finish.changed_batches([record, ".conductor/state/plan.json"], CACHE) is None
    assert finish.changed_batches([".conductor/state/codegen-settings.json"], CACHE) is None


@pytest.mark.slow   # starts an interpreter
def test_restoring_and_closing_codegen_import_no_renderer():
    """What runs after a build whose every pattern came from the action cache."""
    import subprocess
    import sys
    code = ("import sys, doit_conductor.codegen.restore, doit_conductor.codegen.finish; "
            "print(sorted(m for m in ('jinja2', 'yaml', 'doit_conductor.codegen.render') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_a_missing_batch_plan_is_a_user_error_naming_it(workdir):
    """Read where codegen's sub-tasks read it: the error names the missing file."""
    from doit_conductor import layout
    from doit_conductor.codegen import pipeline
    from doit_conductor.state_files import StateError
    with pytest.raises(StateError) as raised:
        pipeline.read_batch_plan(layout.batch_plan_file("_batch-0-00"))
    assert raised.value.file == layout.batch_plan_file("_batch-0-00")


def test_the_closing_step_turns_a_user_error_into_a_one_line_failure(workdir):
    """codegen:_manifest refuses to write through a symbolic `.conductor`, as a
    failed task (doit shows its message alone), not a traceback."""
    from doit.exceptions import TaskFailed
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, workdir / ".conductor")
    settings = dict(templates_dir="templates", output_dir="output", cache_dir=CACHE,
                    sandbox=True, line_length=100, validators={}, checks={}, kinds_digest="",
                    cache_max_entries=10, cache_max_bytes=1 << 20)
    from tasks.steps import codegen as codegen_actions
    result = codegen_actions.finish_codegen([], 0, settings, None)
    assert isinstance(result, TaskFailed)
    assert "symbolic link" in result.message and "\n" not in result.message.strip()


# -- a batch record restored from an older state (rollback.py) ----------------

def test_a_record_older_than_the_manifest_is_found_and_rewritten_from_it(workdir):
    from doit_conductor.codegen import rollback
    write_if_changed("output/a.sql", b"new")
    new, old = outputs.content_checksum(b"new"), outputs.content_checksum(b"old")
    merged = {"output/a.sql": manifest._manifest_entry(entry(new, size=3), "p", "b"),
              "output/other.sql": manifest._manifest_entry(entry("x"), "q", "c")}
    # the record agrees with the manifest, or knows the content: not outdated
    assert not rollback.outdated({"output/a.sql": entry(new, size=3)}, merged)
    assert not rollback.outdated({"output/a.sql": dataclasses.replace(entry(old), previous=new)},
                                 merged)
    # a hand edit: neither knows the content
    assert not rollback.outdated({"output/a.sql": entry(old)},
                                 {"output/a.sql": manifest._manifest_entry(entry("zz"), "p", "b")})
    records = {"b": {"p": manifest.PatternFiles("digest", {"output/a.sql": entry(old)})}}
    assert rollback.repair_outdated(CACHE, records, merged, "output") == \
        [manifest.record_path(CACHE, "b")]
    # b's entries only, with no input digest: the batch renders p again next time
    assert records["b"] == {"p": manifest.PatternFiles("", {"output/a.sql": entry(new, size=3)})}
    assert manifest.load_record(CACHE, "b", "output").patterns == records["b"]
    # a manifest entry naming a file outside output/ is not copied into a record
    merged["../evil.sql"] = manifest._manifest_entry(entry(new), "p", "b")
    assert "../evil.sql" not in rollback.from_manifest("b", merged, "output")["p"].files


def test_a_new_generated_file_is_created_in_place_and_an_old_one_replaced(workdir):
    """Fewer syscalls per file (issue 24): temporary file and rename only where a
    reader could otherwise see old content half replaced."""
    from doit_conductor.fsio import create_new
    tree = OutputTree("output")
    path = "output/sub/new.txt"
    info = tree.write(path, b"one\n", tree.inspect(path))
    assert Path(path).read_bytes() == b"one\n" and info.st_size == 4
    with pytest.raises(FileExistsError):
        create_new(path, b"two\n")
    assert Path(path).read_bytes() == b"one\n"
    inode = os.stat(path).st_ino
    tree.write(path, b"two\n", tree.inspect(path))   # replaced: a new inode (rename)
    assert Path(path).read_bytes() == b"two\n" and os.stat(path).st_ino != inode
    assert sorted(os.listdir("output/sub")) == ["new.txt"]


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed file", "named temporary"])
def test_create_new_leaves_one_entry_and_never_writes_through_a_link(workdir, monkeypatch,
                                                                     unnamed):
    """Both ways of creating a new file (an unnamed file linked into place, or,
    where the file system cannot make one, a named temporary file): the file
    appears whole under its name and nothing else appears; a link standing at
    the name is an existing file, never followed."""
    from doit_conductor import fsio
    monkeypatch.setattr(fsio, "_unnamed_files", fsio._unnamed_files and unnamed)
    info = fsio.create_new("out/deep/new.py", b"x = 1\n")
    assert (workdir / "out/deep/new.py").read_bytes() == b"x = 1\n"
    assert info.st_size == 6 and os.stat("out/deep/new.py").st_ino == info.st_ino
    assert os.listdir("out/deep") == ["new.py"]
    outside = workdir / "outside.txt"
    os.symlink(outside, "out/deep/planted.py")
    with pytest.raises(FileExistsError) as raised:
        fsio.create_new("out/deep/planted.py", b"y")
    assert raised.value.filename == "out/deep/planted.py"
    assert not outside.exists()
    assert sorted(os.listdir("out/deep")) == ["new.py", "planted.py"]


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed file", "named temporary"])
def test_a_new_file_goes_where_an_absolute_path_outside_the_project_leads(
        workdir, tmp_path_factory, monkeypatch, unnamed):
    """Outside the project a path is the user's choice (`check_real_directory`),
    a linked directory on the way included; both ways of creating the file
    leave it alone beside what was there."""
    from doit_conductor import fsio
    if unnamed and not fsio._unnamed_files:
        pytest.skip("this system makes no unnamed files")
    monkeypatch.setattr(fsio, "_unnamed_files", fsio._unnamed_files and unnamed)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "real").mkdir()
    (elsewhere / "linked").symlink_to(elsewhere / "real")
    fsio.create_new(str(elsewhere / "linked" / "report.txt"), b"r")
    assert (elsewhere / "real" / "report.txt").read_bytes() == b"r"
    assert os.listdir(elsewhere / "real") == ["report.txt"]


def test_create_new_falls_back_where_unnamed_files_are_unsupported(workdir, monkeypatch):
    """A file system without O_TMPFILE (EOPNOTSUPP) gets a named temporary file
    instead, for this file and every later one of the process."""
    import errno

    from doit_conductor import fsio
    if not fsio._unnamed_files:
        pytest.skip("this system makes no unnamed files")
    real_open = os.open

    def no_tmpfile(path, flags, *args, **kwargs):
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(errno.EOPNOTSUPP, "Operation not supported", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(fsio.os, "open", no_tmpfile)
    monkeypatch.setattr(fsio, "_unnamed_files", True)
    fsio.create_new("out/a.py", b"a")
    assert fsio._unnamed_files is False
    fsio.create_new("out/b.py", b"b")
    assert sorted(os.listdir("out")) == ["a.py", "b.py"]
    assert (workdir / "out/a.py").read_bytes() == b"a"


def test_create_new_falls_back_where_the_unnamed_file_cannot_be_linked(workdir, monkeypatch):
    """No /proc of ours to link from (EXDEV, ENOENT): the named temporary file's
    way, and the file is there whole, with nothing else beside it."""
    import errno

    from doit_conductor import fsio
    if not fsio._unnamed_files:
        pytest.skip("this system makes no unnamed files")
    real_link = os.link

    def no_proc(src, dst, **kwargs):
        if str(src).startswith("/proc/"):
            raise OSError(errno.EXDEV, "Invalid cross-device link", src)
        return real_link(src, dst, **kwargs)

    monkeypatch.setattr(fsio.os, "link", no_proc)
    monkeypatch.setattr(fsio, "_unnamed_files", True)
    fsio.create_new("out/a.py", b"a")
    assert fsio._unnamed_files is False
    assert os.listdir("out") == ["a.py"] and (workdir / "out/a.py").read_bytes() == b"a"


def test_a_file_written_in_the_records_own_tick_is_judged_by_its_content(workdir):
    (workdir / "f").write_bytes(b"abc")
    info = os.lstat("f")
    recorded = FileEntry(checksum=outputs.content_checksum(b"abc"), size=3,
                         mtime_ns=info.st_mtime_ns, last_compiled=1.0, template="t.j2",
                         validator="none")
    same_tick = manifest.BatchRecord({}, b"", info.st_mtime_ns)
    assert not same_tick.vouches_for(recorded, info)
    assert manifest.recorded_file_intact(same_tick, "f", recorded, info)
    (workdir / "f").write_bytes(b"abd")   # same size, other content
    assert not manifest.recorded_file_intact(same_tick, "f", recorded, os.lstat("f"))
    assert not manifest.recorded_file_intact(same_tick, "f", recorded, None)
