"""`$` matches before a trailing newline: a check written `re.match(r"^...$", s)`
accepts "value\\n".  Every anchored check must use `fullmatch` (or `\\Z`); this
lint finds a `$`-ended pattern used with `match` or `search` in our code."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from doit_conductor.profiling import store

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted([*REPO.joinpath("doit_conductor").rglob("*.py"), *REPO.joinpath("tasks").rglob("*.py")])


def dollar_ended(text: str) -> bool:
    stripped = text.rstrip(")")
    return stripped.endswith("$") and not stripped.endswith("\\$")


def anchored_patterns(tree: ast.Module) -> dict[str, str]:
    """Names bound to a `$`-ended pattern: `X = r"...$"` or `X = re.compile(r"...$")`."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            value = node.value
            if isinstance(value, ast.Call) and value.args:
                value = value.args[0]
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and \
                    dollar_ended(value.value):
                found[node.targets[0].id] = value.value
    return found


def loose_uses(path: Path, root: Path = REPO) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = anchored_patterns(tree)

    def anchored(node: ast.expr) -> bool:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return dollar_ended(node.value)
        return isinstance(node, ast.Name) and node.id in names

    bad = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("match", "search")):
            continue
        owner = node.func.value
        if isinstance(owner, ast.Name) and owner.id == "re":
            hit = bool(node.args) and anchored(node.args[0])
        else:
            hit = anchored(owner)
        if hit:
            bad.append(f"{path.relative_to(root)}:{node.lineno}")
    return bad


def test_no_dollar_anchored_pattern_is_used_with_match_or_search():
    assert [use for path in SOURCES for use in loose_uses(path)] == []


def test_the_lint_finds_the_mistake_it_is_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('import re\nNAME = re.compile(r"^[a-z]+$")\nRAW = r"^x$"\n'
                      'NAME.match(s)\nre.match(RAW, s)\nre.search(r"a$", s)\nNAME.fullmatch(s)\n')
    assert sorted(loose_uses(sample, tmp_path)) == ["sample.py:4", "sample.py:5", "sample.py:6"]


@pytest.mark.parametrize("name", ["nightly\n", "main\n"])
def test_a_baseline_name_with_a_trailing_newline_is_refused(name):
    with pytest.raises(store.RecordError):
        store._check_baseline_name(name)
