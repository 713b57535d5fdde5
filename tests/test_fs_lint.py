"""Every open, listing, removal and mode change goes through `doit_conductor.safe_fs`.

An AST lint over `doit_conductor/` and `tasks/`: a call that opens, lists,
walks, deletes or chmods by path (builtin `open`, `os.remove`/`unlink`/`rmdir`/
`listdir`/`walk`/`chmod`/`scandir`, `shutil.rmtree`/`copy*`, `Path.glob`/`rglob`/
`iterdir`/`unlink`/`rmdir`/`chmod`/`open`/`read_*`/`write_*`) is an error outside
the modules allowed below.  Each allowance says why its paths are never the
project's trees.  `os.open` is not listed: every use passes O_NOFOLLOW or
O_EXCL in a directory already checked (fsio, store), or reads /proc.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TREES = ("doit_conductor", "tasks")

OS_CALLS = frozenset({"remove", "unlink", "rmdir", "removedirs", "listdir", "walk", "fwalk",
                      "chmod", "lchmod", "scandir"})
SHUTIL_CALLS = frozenset({"rmtree", "copy", "copy2", "copyfile", "copytree", "move"})
# scratch space goes under .conductor/tmp (emptied by the next run that takes the
# lock), never $TMPDIR, where a killed run's copy of generated code would stay
TEMP_CALLS = frozenset({"mkdtemp", "mkstemp", "TemporaryDirectory", "NamedTemporaryFile",
                        "TemporaryFile"})
PATH_METHODS = frozenset({"glob", "rglob", "iterdir", "unlink", "rmdir", "chmod", "lchmod",
                          "open", "read_bytes", "read_text", "write_bytes", "write_text"})

# module (relative path) -> why its calls never touch the project's trees
ALLOWED = {
    "doit_conductor/safe_fs.py": "the layer itself",
    "doit_conductor/config.py": "reads pyproject.toml at the project root, not a tree",
    "doit_conductor/incremental/racy.py": "reads /proc/self/mountinfo",
    "doit_conductor/glue/dask_job.py":
        "runs on a Dask worker, in a scratch directory of its own (mkdtemp)",
    "doit_conductor/incremental/snapshot.py":
        "lists the directories Python imports from as the import system lists them "
        "(links followed: a venv's site-packages may be one); target directories go "
        "through safe_fs; reads and removes nothing",
    "doit_conductor/scale/action_key.py":
        "hashes the installed doit_conductor package's own sources (site-packages)",
}


def violations(source: str, module: str) -> list[str]:
    """`module:line: call` for every forbidden call in `source`."""
    found = []
    for node in ast.walk(ast.parse(source, module)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = None
        if isinstance(func, ast.Name) and func.id == "open":
            name = "open"
        elif isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            if owner == "os" and func.attr in OS_CALLS:
                name = f"os.{func.attr}"
            elif owner == "shutil" and func.attr in SHUTIL_CALLS:
                name = f"shutil.{func.attr}"
            elif owner not in ("os", "shutil", "safe_fs", "self", "fs", "zipfile", "archive",
                               "tarfile") and func.attr in PATH_METHODS:
                name = f".{func.attr}()"
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                and func.value.id == "tempfile" and func.attr in TEMP_CALLS \
                and not any(k.arg == "dir" for k in node.keywords):
            name = f"tempfile.{func.attr} without dir="   # scratch in $TMPDIR
        if name is not None:
            found.append(f"{module}:{node.lineno}: {name}")
    return found


def project_modules() -> list[Path]:
    return sorted(p for tree in TREES for p in (REPO / tree).rglob("*.py"))


def test_no_file_system_call_outside_the_layer():
    found = []
    for path in project_modules():
        module = path.relative_to(REPO).as_posix()
        if module in ALLOWED:
            continue
        found += violations(path.read_text(encoding="utf-8"), module)
    assert found == [], "file-system calls outside doit_conductor/safe_fs.py:\n" + "\n".join(found)


def test_every_allowance_is_still_needed():
    """An allowance whose module no longer calls anything forbidden goes."""
    idle = [m for m in ALLOWED if m != "doit_conductor/safe_fs.py"
            and not violations((REPO / m).read_text(encoding="utf-8"), m)]
    assert idle == []


@pytest.mark.parametrize("call", [
    "open('output/x')", "os.unlink(path)", "os.remove(path)", "shutil.rmtree(d)",
    "Path(d).glob('*')", "Path(d).rglob('*.py')", "os.walk(root)", "os.chmod(d, 0o700)",
    "os.listdir(d)", "Path(p).read_bytes()", "Path(p).unlink(missing_ok=True)",
    "tempfile.TemporaryDirectory(prefix='x')",
])
def test_the_lint_catches_a_deliberate_violation(call):
    source = f"import os, shutil, tempfile\nfrom pathlib import Path\n\ndef f(path, d, p, root):\n    {call}\n"
    assert violations(source, "tasks/steps/bad.py") == [f"tasks/steps/bad.py:5: {_name(call)}"]


def test_the_layer_calls_pass():
    source = ("from doit_conductor import safe_fs\n"
              "safe_fs.unlink('output/x')\nsafe_fs.entries('output')\nsafe_fs.read_bytes('p')\n")
    assert violations(source, "tasks/steps/good.py") == []
    assert violations("import tempfile\ntempfile.mkdtemp(dir='.conductor/tmp')\n",
                      "tasks/steps/good.py") == []


def _name(call: str) -> str:
    head = call.split("(")[0]
    if head.startswith("tempfile."):
        return f"{head} without dir="
    if head.startswith(("os.", "shutil.")) or head == "open":
        return head
    return f".{call.split(').')[1].split('(')[0]}()"
