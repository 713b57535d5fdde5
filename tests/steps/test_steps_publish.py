"""Pure parts of phase 5 with hand-made inputs: wheel, links, API, changes, stats."""
from __future__ import annotations

import io
import posixpath
from pathlib import PurePosixPath
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from doit_conductor.errors import UserError
from tasks.steps import api_surface, changes, doc_links, publish, wheel

FILES = {"conductor_models/b.py": b"B = 2\n", "conductor_models/a.py": b"A = 1\n"}


def test_wheel_is_byte_identical_and_normalised():
    first = wheel.build_wheel("conductor-models", "1.2.0", FILES, "s")
    assert first == wheel.build_wheel("conductor-models", "1.2.0", dict(reversed(FILES.items())), "s")
    infos = zipfile.ZipFile(io.BytesIO(first)).infolist()
    names = [i.filename for i in infos]
    assert names[:2] == ["conductor_models/a.py", "conductor_models/b.py"]
    assert names[-1] == "conductor_models-1.2.0.dist-info/RECORD"
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    files = wheel.read_wheel(first, "w.whl")
    assert files["conductor_models/a.py"] == b"A = 1\n"
    assert b"Version: 1.2.0" in files["conductor_models-1.2.0.dist-info/METADATA"]
    record = files["conductor_models-1.2.0.dist-info/RECORD"].decode()
    # sha256 of "A = 1\n", urlsafe base64 without padding, as pip writes it
    assert "conductor_models/a.py,sha256=Bu289DNhZaJx5lJAJaZDnDyqMkb9B5bxFncieXB6UyU,6" in record
    assert record.endswith("conductor_models-1.2.0.dist-info/RECORD,,\n")


def _entries(wheel_bytes: bytes) -> list[tuple[str, bytes]]:
    archive = zipfile.ZipFile(io.BytesIO(wheel_bytes))
    return [(info.filename, archive.read(info)) for info in archive.infolist()]


@given(st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\x00"),
                               min_size=1, max_size=12).map(lambda n: f"pkg/{n}.py"),
                       st.binary(max_size=3000) | st.text(max_size=3000).map(str.encode),
                       min_size=1, max_size=8))
def test_wheel_is_the_archive_zipfile_writes(files):
    """build_wheel writes the archive itself; zipfile's, with the same settings,
    is the reference, byte for byte (names beyond ASCII, empty files included)."""
    built = wheel.build_wheel("p", "1", files, "s")
    assert built == wheel.zip_with_zipfile(_entries(built))


def test_a_rebuild_reuses_what_the_archive_before_compressed(monkeypatch):
    """Members whose bytes the earlier archive holds are copied compressed, and
    the archive is the one a build from nothing writes; a member of the earlier
    archive that does not inflate to those bytes is compressed afresh."""
    files = {f"conductor_models/m{i}.py": f"VALUE = {i}\n".encode() * (i + 1) for i in range(6)}
    before = wheel.build_wheel("conductor-models", "1.0", files, "s")
    edited = wheel.wheel_entries(
        "conductor-models", "1.0", {**files, "conductor_models/m2.py": b"VALUE = 'edited'\n"}, "s")
    compressed = []
    real = wheel._compress
    monkeypatch.setattr(wheel, "_compress", lambda data: compressed.append(data) or real(data))
    rebuilt = wheel.archive(edited, previous=before)
    assert rebuilt.data == wheel.archive(edited).data == wheel.zip_with_zipfile(edited)
    # the edited module and RECORD, of 10 members
    assert (rebuilt.compressed, rebuilt.members) == (2, 10)
    assert compressed[0] == b"VALUE = 'edited'\n" and compressed[1].endswith(b"RECORD,,\n")

    # the earlier archive's m3.py deflated from other bytes, its CRC and size kept
    kept = zipfile.ZipFile(io.BytesIO(before)).read("conductor_models/m3.py")
    damaged = before.replace(real(kept), real(kept.replace(b"3", b"4")), 1)
    assert damaged != before
    again = wheel.archive(wheel.wheel_entries("conductor-models", "1.0", files, "s"), damaged)
    assert again.data == before and again.compressed == 1
    assert wheel.archive(edited, previous=b"not a zip").compressed == 10


def rewrite(data: bytes, name: str, content: bytes | None) -> bytes:
    """A copy of the wheel with one member replaced (or dropped when None)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename == name:
                if content is not None:
                    dst.writestr(info, content)
            else:
                dst.writestr(info, src.read(info))
    return out.getvalue()


@pytest.mark.parametrize("member, content, message", [
    ("conductor_models/a.py", b"A = 666\n", "does not match its RECORD"),
    ("conductor_models/a.py", None, "not in the archive"),
    ("conductor_models-1.0.dist-info/WHEEL", None, "WHEEL is missing"),
])
def test_tampered_wheel_is_refused(member, content, message):
    good = wheel.build_wheel("conductor-models", "1.0", FILES, "s")
    with pytest.raises(UserError, match=message) as err:
        wheel.read_wheel(rewrite(good, member, content), "dist/x.whl")
    assert err.value.file == "dist/x.whl"


def test_unsafe_member_names_are_refused():
    with pytest.raises(UserError, match="not a safe relative path"):
        wheel.build_wheel("x", "1", {"../evil.py": b""}, "s")


PAGES = {
    "docs/index.md": "# Index\n\n## Patterns\n\n- [orders](orders.md#fields)\n"
                     "- [ext](https://example.com/x.md) [top](#index)\n"
                     "```\n[not a link](missing.md)\n```\n",
    "docs/orders.md": "# orders\n\n## Fields\n\n## Fields\n\n[again](#fields-1) "
                      "[code](../python/orders.py) [`x`](index.md#patterns)\n",
}


def test_links_resolve_including_repeated_headings():
    checked, broken = doc_links.check_links(PAGES, lambda p: None,
                                            lambda p: p == "python/orders.py")
    assert broken == [] and checked == 5


@pytest.mark.parametrize("link, reason", [
    ("orders.md#field", "docs/orders.md has no heading with anchor #field"),
    ("gone.md", "docs/gone.md does not exist"),
    ("../python/nope.py", "python/nope.py does not exist"),
    ("#nowhere", "docs/index.md has no heading with anchor #nowhere"),
])
def test_broken_links_name_page_line_and_reason(link, reason):
    pages = dict(PAGES)
    pages["docs/index.md"] += f"\nsee [it]({link})\n"
    _, broken = doc_links.check_links(pages, lambda p: None, lambda p: p == "python/orders.py")
    assert [(b.page, b.line, b.reason) for b in broken] == [("docs/index.md", 11, reason)]


def test_slugs_follow_github():
    assert doc_links.slug("POST /orders: Place `it`!") == "post-orders-place-it"
    assert doc_links.anchors("# A b\n## A b\n<a id=\"x\"></a>\n") == {"a-b", "a-b-1", "x"}


MODULE = '''"""doc"""
import dataclasses
from other import Imported

FIELDS = ("a", "b")
_PRIVATE = 1
LIMIT: int = 3


@dataclasses.dataclass(frozen=True)
class Model(Base):
    a: int
    b: str | None = None

    def to_dict(self) -> dict:
        return {}

    @classmethod
    def from_dict(cls, data: dict) -> "Model":
        return cls()

    def _hidden(self):
        pass


def validate(data: dict, *, strict: bool = False) -> list[str]:
    return []
'''


def test_api_of_a_module():
    api = api_surface.module_api(MODULE, "m.py")
    assert api["functions"] == {"validate": "(data: dict, *, strict: bool=False) -> list[str]"}
    assert api["constants"] == {"FIELDS": "= ('a', 'b')", "LIMIT": ": int = 3"}
    model = api["classes"]["Model"]
    assert model["bases"] == ["Base"]
    assert model["methods"] == {"to_dict": "(self) -> dict",
                                "from_dict": "@classmethod (cls, data: dict) -> 'Model'"}
    assert model["attributes"] == {"a": ": int", "b": ": str | None = None"}
    with pytest.raises(UserError) as err:
        api_surface.module_api("x = (\n", "bad.py")
    assert err.value.file == "bad.py" and err.value.line == 1


def test_change_summary_flags_removals_and_signature_changes_as_breaking():
    def api(text: str) -> dict:
        return api_surface.symbols(api_surface.api_document(
            {"pkg.m": ("m.py", api_surface.module_api(text, "m.py"))}))
    before = changes.snapshot({"o/a": {"checksum": "1"}, "o/b": {"checksum": "2"}}, api(MODULE))
    edited = MODULE.replace("strict: bool = False", "strict: bool").replace('"b")', '"b", "c")') \
        .replace("    def to_dict(self) -> dict:\n        return {}\n", "")
    after = changes.snapshot({"o/a": {"checksum": "1"}, "o/b": {"checksum": "3"},
                              "o/c": {"checksum": "4"}}, api(edited))
    diff = changes.diff(before, after)
    assert diff["files"] == {"added": ["o/c"], "removed": [], "changed": ["o/b"]}
    assert diff["breaking"] == ["pkg.m.Model.to_dict", "pkg.m.validate"]
    assert "pkg.m.FIELDS" in diff["api"]["changed"]          # a value, not breaking
    text = changes.render_markdown(diff)
    assert "**BREAKING** `pkg.m.Model.to_dict` removed" in text
    assert changes.diff(None, after)["baseline"] is True
    assert changes.diff(after, after)["breaking"] == []


def test_code_stats_counts_per_format_kind_and_pattern():
    files = {"o/a.py": b"x = 1\n\ny = 2\n", "o/a.sql": b"SELECT 1;\n", "o/b.json": b"{}\n"}
    stats = publish.count_lines(
        {path: publish.line_counts(data) for path, data in files.items()},
        {"o/a.py": "a", "o/a.sql": "a", "o/b.json": "b"}, {"a": "entity", "b": "enum"})
    assert stats["total"] == {"files": 3, "lines": 5, "blank": 1, "bytes": 26}
    assert stats["per_format"]["python"] == {"files": 1, "lines": 3, "blank": 1, "bytes": 13}
    assert stats["per_kind"]["entity"]["lines"] == 4 and stats["per_pattern"]["b"]["files"] == 1


def test_tree_checksums_skip_themselves_and_bytecode(tmp_path):
    (tmp_path / "sub/__pycache__").mkdir(parents=True)
    (tmp_path / "sub/__pycache__/m.pyc").write_bytes(b"junk")
    (tmp_path / "sub/m.py").write_text("A = 1\n")   # sha256 06edbcf4...
    (tmp_path / "SHA256SUMS").write_text("old\n")
    (tmp_path / ".x.py.abc.tmp").write_text("partial")
    text = publish.tree_checksums(str(tmp_path), str(tmp_path / "SHA256SUMS"))
    assert text == "06edbcf4336165a271e6524025a6439c3caa3246fd0796f116772279707a5325  sub/m.py\n"


def test_users_of_a_pattern_are_found_once_for_all_pages():
    patterns = {"c": {"depends_on": ["a", "a", "b"]}, "a": {"depends_on": []},
                "b": {"depends_on": ["a"]}}
    assert publish.users_of(patterns) == {"a": ["b", "c"], "b": ["c"]}


def test_unpacking_keeps_what_is_there_and_removes_what_the_wheel_lacks(tmp_path):
    root = tmp_path / "unpacked"
    files = {"pkg/a.py": b"A = 1\n", "pkg/sub/b.py": b"B = 2\n", "pkg-1.0.dist-info/RECORD": b"r"}
    assert publish.unpack_into(files, str(root)) == 3
    assert {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} == set(files)
    before = (root / "pkg/a.py").stat().st_mtime_ns
    (root / "pkg/planted.py").write_text("import os\n")              # not in the wheel
    (root / "pkg/sub/b.py").write_bytes(b"B = 3\n")                   # not the wheel's bytes
    (root / "pkg/c.py").symlink_to(tmp_path / "outside.py")           # a link, never followed
    (tmp_path / "outside.py").write_text("kept\n")
    (root / "pkg/old").mkdir()
    (root / "pkg/old/gone.py").write_text("")
    assert publish.unpack_into(files, str(root)) == 1
    assert {str(p.relative_to(root)) for p in root.rglob("*")} == {
        "pkg", "pkg/a.py", "pkg/sub", "pkg/sub/b.py", "pkg-1.0.dist-info",
        "pkg-1.0.dist-info/RECORD"}
    assert (root / "pkg/sub/b.py").read_bytes() == b"B = 2\n"
    assert (root / "pkg/a.py").stat().st_mtime_ns == before
    assert (tmp_path / "outside.py").read_text() == "kept\n"


_SNAPSHOT = st.dictionaries(st.sampled_from("abcdef"), st.sampled_from(["def f()", "def g()",
                                                                         "class(A)", "1", "2"]))


@given(_SNAPSHOT, _SNAPSHOT, _SNAPSHOT, _SNAPSHOT)
def test_the_change_summary_is_the_set_difference_of_two_snapshots(files0, files1, api0, api1):
    diff = changes.diff({"version": changes.SNAPSHOT_VERSION, "files": files0, "api": api0},
                        {"version": changes.SNAPSHOT_VERSION, "files": files1, "api": api1})
    for key, old, new in (("files", files0, files1), ("api", api0, api1)):
        assert diff[key] == {"added": sorted(set(new) - set(old)),
                             "removed": sorted(set(old) - set(new)),
                             "changed": sorted(k for k in set(old) & set(new) if old[k] != new[k])}
    assert diff["breaking"] == sorted(
        k for k in api0 if k not in api1
        or (api0[k].startswith(("def ", "class(")) and api0[k] != api1[k]))


_SEGMENTS = st.sampled_from(["a", "b", "docs", "output", "x.py", ".", "..", ""])


@given(st.booleans(), st.lists(_SEGMENTS, max_size=5), st.lists(_SEGMENTS, max_size=5))
def test_relative_paths_are_what_posixpath_relpath_says(absolute, path, start):
    lead = "/" if absolute else ""
    path_text = lead + "/".join(path) or "."
    start_text = lead + "/".join(start)
    assert publish.relative_path(path_text, start_text) == posixpath.relpath(
        path_text, start_text or ".")


@given(st.lists(st.text(alphabet="ab.", min_size=1, max_size=6).filter(
    lambda part: part not in (".", "..")), min_size=1, max_size=4))
def test_code_stats_reads_a_files_format_as_pathlib_would(parts):
    """code-stats' format of a generated file (a plain relative path, as the
    manifest holds): its suffix as PurePosixPath has it."""
    path = "/".join(parts)
    assert publish._suffix(path) == PurePosixPath(path).suffix


def test_unpacking_over_a_link_removes_the_link_not_what_it_points_to(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kept.txt").write_text("kept\n")
    root = tmp_path / "unpacked"
    root.symlink_to(outside)
    assert publish.unpack_into({"pkg/a.py": b"A = 1\n"}, str(root)) == 1
    assert not root.is_symlink() and (root / "pkg/a.py").read_bytes() == b"A = 1\n"
    assert [p.name for p in outside.iterdir()] == ["kept.txt"]
