"""Hostile or broken input: each case is one clear line naming the file (and
line where there is one), a non-zero exit, no traceback, every other output
byte-identical and nothing half-written in output/."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.reliability.conftest import assert_one_line_error, run, stray_temps

CURRENCY = "patterns/currency.yaml"
ENUM_TEMPLATE = "templates/python/enum.py.j2"


def append(project, relative: str, text: str) -> None:
    path = project.path(relative)
    path.write_text(path.read_text() + text)


def assert_untouched(project, reference, outside: Path | None = None) -> None:
    assert project.tree() == reference.tree()
    assert stray_temps(project.path("output")) == []
    if outside is not None:
        assert not any(outside.iterdir()), list(outside.iterdir())


PATTERN_CASES = {
    "traversal in outputs": ('outputs:\n  python/enum.py.j2: "../../evil_{name}.py"\n',
                             ("patterns/currency.yaml:7:", "'../../evil_currency.py'")),
    "absolute path in outputs": ('outputs:\n  python/enum.py.j2: "/tmp/evil_{name}.py"\n',
                                 ("patterns/currency.yaml:7:", "'/tmp/evil_currency.py'")),
    "NUL in an output path": ('outputs:\n  python/enum.py.j2: "a\\0b_{name}.py"\n',
                              ("patterns/currency.yaml:7:", "control character")),
    "newline in an output path": ('outputs:\n  python/enum.py.j2: "a\\nb_{name}.py"\n',
                                  ("patterns/currency.yaml:7:", "control character")),
}


@pytest.mark.parametrize("case", PATTERN_CASES)
def test_output_paths_that_would_escape(fresh, reference, case):
    text, needles = PATTERN_CASES[case]
    append(fresh, CURRENCY, text)
    assert_one_line_error(run(fresh), "ERROR: plan-codegen:", *needles)
    assert_untouched(fresh, reference)
    assert not Path("/tmp/evil_currency.py").exists()


def test_symlinked_directory_inside_output(fresh, reference, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    sql = fresh.path("output/sql")
    saved = {p.name: p.read_bytes() for p in sql.iterdir()}
    shutil.rmtree(sql)
    sql.symlink_to(outside, target_is_directory=True)
    result = run(fresh, "-a")  # force every task to look again
    # scan-output, the first task to look into output/, refuses the link by name
    assert_one_line_error(result, "ERROR: scan-output: output/sql: is a symbolic link")
    assert not any(outside.iterdir())
    sql.unlink()
    sql.mkdir()
    for name, data in saved.items():
        (sql / name).write_bytes(data)
    assert_untouched(fresh, reference)


def test_pattern_name_with_a_newline(fresh, reference):
    path = fresh.path(CURRENCY)
    path.write_text(path.read_text().replace("name: currency", 'name: "curr\\nency"'))
    line = assert_one_line_error(run(fresh), "patterns/currency.yaml:1:", "'name' must match")
    assert "curr\\nency" in line
    assert_untouched(fresh, reference)


def test_pattern_file_name_with_a_newline(fresh, reference):
    fresh.path("patterns/evil\nname.yaml").write_text("name: evil\nkind: enum\nparams:\n"
                                                      "  values: [A]\n")
    assert_one_line_error(run(fresh), "patterns/evil\\nname.yaml:1:", "must agree")
    assert_untouched(fresh, reference)


BILLION_LAUGHS = "".join(
    f"{k}: &{k} [{', '.join([f'*{p}'] * 9)}]\n" for p, k in zip("abcdef", "bcdefg")
).replace("b: &b [*a", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a", 1) + "name: currency\n"


@pytest.mark.parametrize("case", ["billion laughs", "deep nesting", "50 MB", "non-UTF-8",
                                  "NUL byte"])
def test_hostile_pattern_files(fresh, reference, case):
    path = fresh.path(CURRENCY)
    original = path.read_bytes()
    if case == "billion laughs":
        path.write_text(BILLION_LAUGHS)
        needles = ("patterns/currency.yaml:", "too large or too deeply nested")
    elif case == "deep nesting":
        path.write_bytes(original + b"description: " + b"[" * 5000 + b"]" * 5000 + b"\n")
        needles = ("patterns/currency.yaml:", "too large or too deeply nested")
    elif case == "50 MB":
        path.write_bytes(original + b"#" + b"x" * (50 << 20) + b"\n")
        needles = ("patterns/currency.yaml:", "MB, over the")
    elif case == "non-UTF-8":
        path.write_bytes(original + b"description: caf\xe9\n")
        needles = ("patterns/currency.yaml:6:", "not valid UTF-8 (byte 0xe9)")
    else:
        path.write_bytes(original + b"description: a\x00b\n")
        needles = ("patterns/currency.yaml:6:", "NUL")
    assert_one_line_error(run(fresh), "ERROR: validate-patterns:", *needles)
    assert_untouched(fresh, reference)


@pytest.mark.parametrize("expression", ["''.__class__.__mro__",
                                        "cycler.__init__.__globals__.os.popen('id').read()"])
def test_template_reaching_for_python_internals(fresh, reference, expression):
    path = fresh.path(ENUM_TEMPLATE)
    path.write_text(path.read_text().replace(
        "{% block body %}", "{% block body %}\n# {{ " + expression + " }}\n", 1))
    assert_one_line_error(run(fresh), f"{ENUM_TEMPLATE}:9:",
                          "unsafe operation blocked by the sandbox while rendering patterns/")
    assert_untouched(fresh, reference)


# -- a disk that will not take the writes ------------------------------------

def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here ({result.stderr.strip()})")


@pytest.fixture
def mounts():
    mounted: list[Path] = []
    yield mounted
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def change_currency(project) -> None:
    path = project.path(CURRENCY)
    path.write_text(path.read_text().replace("CHF]", "CHF, JPY]"))


def test_read_only_output(fresh, reference, mounts):
    output = fresh.path("output")
    _mount("--bind", str(output), str(output))
    mounts.append(output)
    _mount("-o", "remount,bind,ro", str(output))
    change_currency(fresh)
    assert_one_line_error(run(fresh), f"ERROR: {fresh.batch_of('currency')}: output/",
                          f"cannot write generated file: {os.strerror(errno.EROFS)}")
    assert_untouched(fresh, reference)


def test_full_output_disk(fresh, reference, mounts, tmp_path):
    output = fresh.path("output")
    kept = tmp_path / "kept"
    shutil.move(output, kept)
    output.mkdir()
    _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(output))
    mounts.append(output)
    shutil.copytree(kept, output, dirs_exist_ok=True)
    with pytest.raises(OSError):
        with open(output / ".filler", "wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    change_currency(fresh)
    result = run(fresh)
    assert_one_line_error(result, f"ERROR: {fresh.batch_of('currency')}: output/",
                          f"cannot write generated file: {os.strerror(errno.ENOSPC)}")
    (output / ".filler").unlink()
    assert_untouched(fresh, reference)


def test_full_disk_everywhere(reference, mounts, tmp_path):
    """The whole project on a full disk: state, DB and metrics cannot be written
    either; still one line each, the old DB intact, no traceback."""
    root = tmp_path / "disk"
    root.mkdir()
    _mount("-t", "tmpfs", "-o", "size=16m", "tmpfs", str(root))
    mounts.append(root)
    shutil.copytree(reference.root, root / "project", symlinks=True)
    from tests.support.projects import Project
    project = Project(root / "project")
    db_before = project.path(".conductor/doit.db").read_bytes()
    change_currency(project)
    with pytest.raises(OSError):
        with open(root / "filler", "wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    result = run(project)
    assert_one_line_error(result, "ERROR: validate-patterns: .conductor/state/patterns.json:",
                          os.strerror(errno.ENOSPC))
    assert_one_line_error(result, "ERROR: .conductor/doit.db: cannot save the dependency DB")
    assert project.path(".conductor/doit.db").read_bytes() == db_before
    assert project.tree() == reference.tree()
    assert stray_temps(project.root) == []
    # Space again: the next run finishes the job.
    (root / "filler").unlink()
    again = run(project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert b"JPY" in project.path("output/python/conductor_models/currency.py").read_bytes()
