"""`safe_fs`: paths resolved without following links, special files never read."""
from __future__ import annotations

import os
import stat

import pytest

from doit_conductor import safe_fs
from doit_conductor.errors import UserError


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A project in `tmp_path/project` (the working directory) and someone else's
    directory next to it."""
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "secret").write_text("secret\n")
    (outside / "deep" / "f").write_text("deep\n")
    project = tmp_path / "project"
    (project / "out" / "a").mkdir(parents=True)
    (project / "out" / "a" / "f").write_text("mine\n")
    (project / "out" / "dirlink").symlink_to(outside, target_is_directory=True)
    (project / "out" / "filelink").symlink_to(outside / "secret")
    os.mkfifo(project / "out" / "fifo")
    monkeypatch.chdir(project)
    return outside


def snapshot(directory) -> dict[str, str]:
    return {str(p.relative_to(directory)): p.read_text() if p.is_file() else "dir"
            for p in sorted(directory.rglob("*"))}


def test_reads_a_regular_file(tree):
    assert safe_fs.read_bytes("out/a/f") == b"mine\n"
    assert safe_fs.read_text(os.path.abspath("out/a/f")) == "mine\n"


@pytest.mark.parametrize("path, what", [
    ("out/dirlink/secret", "out/dirlink: is a symbolic link"),
    ("out/filelink", "out/filelink: is a symbolic link, not a regular file"),
    ("out/fifo", "out/fifo: is a FIFO, not a regular file"),
    ("out/a", "out/a: is a directory, not a regular file"),
    ("out/fifo/x", "out/fifo: is not a directory"),
])
def test_refuses_what_is_not_a_regular_file_reached_without_links(tree, path, what):
    with pytest.raises(UserError) as raised:
        safe_fs.read_bytes(path)
    assert str(raised.value).startswith(what)


def test_a_missing_file_is_file_not_found_with_its_path(tree):
    with pytest.raises(FileNotFoundError) as raised:
        safe_fs.read_bytes("out/a/missing")
    assert raised.value.filename == "out/a/missing"


def test_a_bounded_read_stops_at_the_bound(tree):
    with pytest.raises(UserError, match="larger than 3 bytes"):
        safe_fs.read_bytes("out/a/f", limit=3)
    assert safe_fs.read_bytes("out/a/f", limit=5) == b"mine\n"


def test_listing_and_walking_describe_links_without_following(tree):
    kinds = {e.name: e.kind for e in safe_fs.entries("out")}
    assert kinds == {"a": "directory", "dirlink": "link", "filelink": "link", "fifo": "other"}
    assert [e.path for e in safe_fs.walk("out")] == [
        "out/a", "out/a/f", "out/dirlink", "out/fifo", "out/filelink"]
    assert safe_fs.entries("missing") == []


def test_names_lists_without_following_or_entering_a_link(tree):
    listed = []
    with safe_fs.listings_observed(listed.append):
        assert safe_fs.names("out") == ["a", "dirlink", "fifo", "filelink"]
    assert listed == ["out"]
    assert safe_fs.names("missing") == []
    with pytest.raises(UserError):
        safe_fs.names("out/dirlink")


def test_lstats_gives_each_entry_its_own_stat(tree):
    found = safe_fs.lstats("out")
    assert sorted(found) == ["a", "dirlink", "fifo", "filelink"]
    assert stat.S_ISLNK(found["filelink"].st_mode) and stat.S_ISLNK(found["dirlink"].st_mode)
    assert found["a"].st_ino == os.lstat("out/a").st_ino
    assert safe_fs.lstats("missing") == {}
    with pytest.raises(UserError):
        safe_fs.lstats("out/dirlink")


def test_removal_deletes_links_as_links(tree):
    before = snapshot(tree)
    safe_fs.unlink("out/filelink")
    safe_fs.remove("out/dirlink")
    safe_fs.remove("out")
    assert not os.path.lexists("out")
    assert snapshot(tree) == before


def test_emptying_a_linked_directory_is_refused(tree):
    before = snapshot(tree)
    with pytest.raises(UserError, match="out/dirlink: is a symbolic link"):
        safe_fs.empty("out/dirlink")
    with pytest.raises(UserError, match="out/dirlink: is a symbolic link"):
        safe_fs.unlink("out/dirlink/secret")
    assert snapshot(tree) == before


def test_chmod_of_a_link_is_refused_before_any_change(tree):
    tree.chmod(0o755)
    with pytest.raises(UserError):
        safe_fs.chmod_dir("out/dirlink", 0o700)
    assert stat.S_IMODE(tree.stat().st_mode) == 0o755
    assert stat.S_IMODE(safe_fs.chmod_dir("out/a", 0o700).st_mode) == 0o700


def test_a_lock_file_is_created_never_truncated_never_followed(tree):
    fd = safe_fs.open_lock("state/lock")
    os.write(fd, b"holder\n")
    os.close(fd)
    os.close(safe_fs.open_lock("state/lock"))
    assert open("state/lock").read() == "holder\n"
    with pytest.raises(UserError, match="out/filelink: is a symbolic link"):
        safe_fs.open_lock("out/filelink")
    with pytest.raises(UserError, match="out/fifo: is a FIFO"):
        safe_fs.open_lock("out/fifo")
    os.link(tree / "secret", "state/hardlock")   # the same file by another name
    with pytest.raises(UserError, match="state/hardlock: has 1 other hard link"):
        safe_fs.open_lock("state/hardlock")
    assert (tree / "secret").read_text() == "secret\n"


def test_make_dirs_refuses_a_link_on_the_way(tree):
    with pytest.raises(UserError, match="out/dirlink: is a symbolic link"):
        safe_fs.make_dirs("out/dirlink/new")
    assert not (tree / "new").exists()
    safe_fs.make_dirs("out/b/c")
    assert os.path.isdir("out/b/c")


def test_a_root_is_followed_but_nothing_below_it(tree, tmp_path):
    store = tmp_path / "store-link"
    store.symlink_to(tree, target_is_directory=True)   # the user's own choice of store
    assert safe_fs.read_bytes("secret", root=store) == b"secret\n"
    (tree / "ab").symlink_to(tree / "deep", target_is_directory=True)
    with pytest.raises(UserError, match="ab: is a symbolic link"):
        safe_fs.entries("ab", root=store)


def test_holds_is_false_for_anything_but_a_regular_file(tree):
    assert safe_fs.holds("out/a/f", b"mine\n")
    assert not safe_fs.holds("out/filelink", b"secret\n")
    assert not safe_fs.holds("out/fifo", b"")
    assert not safe_fs.holds("out/missing", b"")


def test_a_batch_resolves_each_directory_once_and_closes_them(tree):
    for name in "bcd":
        (tree.parent / "project" / "out" / "a" / name).write_text(name)
    open_fds = len(os.listdir("/proc/self/fd"))
    with safe_fs.batch():
        assert [safe_fs.read_bytes(f"out/a/{n}") for n in "bcd"] == [b"b", b"c", b"d"]
        with pytest.raises(UserError, match="out/dirlink: is a symbolic link"):
            safe_fs.read_bytes("out/dirlink/secret")
        with pytest.raises(UserError, match="out/fifo: is a FIFO"):
            safe_fs.read_bytes("out/fifo")
    assert len(os.listdir("/proc/self/fd")) == open_fds
