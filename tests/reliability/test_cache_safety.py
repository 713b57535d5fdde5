"""The template bytecode cache: created private to the user (0700), and entries
that are not ours (another owner) or not intact (checksum) are refused, never
executed, and replaced."""
from __future__ import annotations

import marshal
import os
import stat

import pytest
import xxhash

from tests.reliability.conftest import run
from doit_conductor.codegen.bytecode_cache import MAGIC

TEMPLATES_CACHE = ".conductor/cache/templates"
NOBODY = 65534


def entries(project):
    return sorted(project.path(TEMPLATES_CACHE).glob("*.jbc"))


def rerender(project):
    assert run(project, "forget", "codegen").returncode == 0
    return run(project, "codegen")


def cache_hits(project) -> int:
    return sum(r.counters.get("template_cache_hits", 0) for r in project.last_run().values())


def test_cache_directory_is_private(fresh):
    directory = fresh.path(TEMPLATES_CACHE)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    os.chmod(directory, 0o777)
    result = rerender(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_cache_directory_of_another_user_is_not_used(fresh, reference):
    directory = fresh.path(TEMPLATES_CACHE)
    os.chown(directory, NOBODY, NOBODY)
    result = rerender(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "template cache directory belongs to another user; not using it" in result.stderr
    assert cache_hits(fresh) == 0
    assert fresh.tree() == reference.tree()


def test_entries_of_another_owner_are_refused_and_replaced(fresh, reference):
    for entry in entries(fresh):
        os.chown(entry, NOBODY, NOBODY)
    result = rerender(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "template cache entry refused (not a file of this user)" in result.stderr
    assert cache_hits(fresh) == 0
    assert fresh.tree() == reference.tree()
    assert all(entry.stat().st_uid == os.getuid() for entry in entries(fresh))
    assert rerender(fresh).returncode == 0 and cache_hits(fresh) > 0


def plant(entry, marker, *, valid_checksum: bool) -> None:
    """Replace an entry with code that would leave `marker` if it ever ran."""
    code = compile(f"open({str(marker)!r}, 'w').close()", "<planted>", "exec")
    payload = marshal.dumps(code)
    checksum = xxhash.xxh3_64_hexdigest(payload if valid_checksum else b"other")
    entry.write_bytes(MAGIC + checksum.encode() + b"\n" + payload)


@pytest.mark.parametrize("how", ["wrong checksum", "wrong owner"])
def test_planted_code_never_runs(fresh, reference, tmp_path, how):
    marker = tmp_path / "planted-code-ran"
    for entry in entries(fresh):
        plant(entry, marker, valid_checksum=how == "wrong owner")
        if how == "wrong owner":
            os.chown(entry, NOBODY, NOBODY)
    result = rerender(fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists()
    reason = "checksum mismatch" if how == "wrong checksum" else "not a file of this user"
    assert f"template cache entry refused ({reason})" in result.stderr
    assert fresh.tree() == reference.tree()


def test_control_an_intact_entry_of_ours_is_executed(fresh, tmp_path):
    """Why the checks matter: the same planted entry, intact and ours, does run."""
    marker = tmp_path / "planted-code-ran"
    for entry in entries(fresh):
        plant(entry, marker, valid_checksum=True)
    rerender(fresh)
    assert marker.exists()
