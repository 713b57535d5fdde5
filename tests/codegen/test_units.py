"""Pure pieces of codegen on hand-made input with known answers."""
from __future__ import annotations

import pytest

from doit_conductor.codegen.graph import resolve_order
from doit_conductor.codegen.kinds import load_kinds
from doit_conductor.codegen.patterns import (MAX_PATTERN_BYTES, line_of, parse_pattern,
                                             read_pattern_bytes)
from doit_conductor.codegen.plan import output_path
from doit_conductor.codegen.templates import reference_closure
from doit_conductor.errors import UserError

KINDS = {"enum": {"python/enum.py.j2": "python/{name}.py"},
         "entity": {"python/entity.py.j2": "python/{name}.py"}}


def parse(text: str, source: str = "patterns/colour.yaml"):
    return parse_pattern(text.encode(), source, KINDS)


def error_of(call) -> str:
    with pytest.raises(UserError) as info:
        call()
    return str(info.value)


def test_dependency_order_is_stable_and_dependencies_first():
    deps = {"c": ("a", "b"), "b": ("a",), "a": (), "d": ()}
    assert resolve_order(deps, {n: f"{n}.yaml" for n in deps}) == ["a", "b", "c", "d"]


def test_a_cycle_is_named_in_full():
    deps = {"a": ("b",), "b": ("c",), "c": ("a",), "z": ()}
    message = error_of(lambda: resolve_order(deps, {n: f"patterns/{n}.yaml" for n in deps}))
    assert message == "patterns/a.yaml: depends_on cycle: a -> b -> c -> a"


def test_unknown_dependency():
    message = error_of(lambda: resolve_order({"a": ("ghost",)}, {"a": "patterns/a.yaml"}))
    assert message == "patterns/a.yaml: depends_on names unknown pattern 'ghost'"


def test_graph_errors_name_the_line_where_the_dependency_is_written():
    lines = {("a", "ghost"): 7, ("a", "b"): 4, ("b", "a"): 9}
    def line(name, dep): return lines.get((name, dep))
    message = error_of(lambda: resolve_order({"a": ("ghost",)}, {"a": "patterns/a.yaml"}, line))
    assert message == "patterns/a.yaml:7: depends_on names unknown pattern 'ghost'"
    cycle = {"a": ("b",), "b": ("a",)}
    message = error_of(lambda: resolve_order(cycle, {n: f"patterns/{n}.yaml" for n in cycle}, line))
    assert message == "patterns/a.yaml:4: depends_on cycle: a -> b -> a"
    lines[("c", "c")] = 2
    message = error_of(lambda: resolve_order({"c": ("c",)}, {"c": "patterns/c.yaml"}, line))
    assert message == "patterns/c.yaml:2: depends_on cycle: c -> c"


def test_kinds_table_errors_name_their_line(tmp_path):
    (tmp_path / "python").mkdir()
    (tmp_path / "python/enum.py.j2").write_text("x")
    table = tmp_path / "kinds.yaml"
    table.write_text("enum:\n  python/enum.py.j2: python/{name}.py\n"
                     "  python/gone.py.j2: x/{name}.py\n")
    assert error_of(lambda: load_kinds(str(tmp_path))).startswith(
        f"{table}:3: kind 'enum': template 'python/gone.py.j2' does not exist")
    table.write_text("enum:\n  python/enum.py.j2: python/fixed.py\n")
    assert error_of(lambda: load_kinds(str(tmp_path))).startswith(
        f"{table}:2: kind 'enum': output path 'python/fixed.py' must contain {{name}}")
    table.write_text("# kinds\nenum: [python/enum.py.j2]\n")
    assert error_of(lambda: load_kinds(str(tmp_path))).startswith(
        f"{table}:2: kind 'enum' must map template names to output paths")


def test_line_of_finds_a_value_by_its_key_path(tmp_path):
    source = tmp_path / "p.yaml"
    source.write_text("name: p\nkind: entity\ndepends_on:\n  - q\n  - ghost\nparams:\n"
                      "  fields:\n    - {name: q_id, type: int, references: q}\n")
    def dependency(dep): return lambda path, value: path[:1] == ("depends_on",) and value == dep
    assert line_of(str(source), dependency("ghost")) == 5
    assert line_of(str(source), lambda path, value: path[-1] == "references") == 8
    assert line_of(str(source), dependency("nobody")) is None
    source.write_text("name: [unclosed\n")   # changed since it was parsed: no line, no error
    assert line_of(str(source), dependency("ghost")) is None


def test_reference_closure_follows_chains_and_ignores_cycles():
    direct = {"t": ("a",), "a": ("b", "c"), "b": ("a",), "c": ()}
    assert reference_closure(direct, "t") == ("a", "b", "c")
    assert reference_closure(direct, "c") == ()


@pytest.mark.parametrize("rule", ["../x.py", "a/../../x.py", "/etc/passwd", "a\nb.py",
                                  "a\x00.py", "a b.py", ""])
def test_output_paths_cannot_escape(tmp_path, monkeypatch, rule):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError):
        output_path(rule, "x", "output", "patterns/x.yaml")


def test_output_path_through_a_symlinked_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "sql").symlink_to(tmp_path / "elsewhere")
    assert "symbolic link" in error_of(lambda: output_path("sql/{name}.sql", "x", "output", "p"))
    assert output_path("py/{name}.py", "x", "output", "p") == "output/py/x.py"


def test_output_path_that_is_itself_a_link(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "output" / "sql").mkdir(parents=True)
    (tmp_path / "output" / "sql" / "x.sql").symlink_to(tmp_path / "elsewhere.sql")
    assert "symbolic link" in error_of(lambda: output_path("sql/{name}.sql", "x", "output", "p"))
    # the directory is checked once for the plan; each file in it still is
    checked = {}
    assert output_path("sql/{name}.sql", "y", "output", "p", checked) == "output/sql/y.sql"
    assert "symbolic link" in error_of(
        lambda: output_path("sql/{name}.sql", "x", "output", "p", checked))


def test_output_path_length_counts_the_absolute_path(tmp_path, monkeypatch):
    """Refused exactly when the absolute path leaves no room for the temporary
    name's margin, whether the output directory exists yet or not."""
    monkeypatch.chdir(tmp_path)
    from doit_conductor.codegen.plan import TEMP_NAME_MARGIN, _name_limits
    path_max = _name_limits("output")[1]
    room = path_max - TEMP_NAME_MARGIN - len(f"{tmp_path}/output/d/".encode())
    parts, left = [], room
    while left > 100:
        parts.append("a" * 99)
        left -= 100
    name = "/".join([*parts, "b" * left])   # the absolute path exactly at the limit
    for exists in (False, True):
        if exists:
            (tmp_path / "output" / "d").mkdir(parents=True)
        assert output_path("d/{name}", name, "output", "p").endswith(name)
        assert "too long for the file system" in error_of(
            lambda: output_path("d/{name}", name + "c", "output", "p"))


def test_a_valid_pattern():
    pattern = parse("name: colour\nkind: enum\nparams: {values: [RED, GREEN]}\n")
    assert pattern.params == {"values": ["RED", "GREEN"], "default": None}
    assert pattern.depends_on == () and pattern.templates == ()


@pytest.mark.parametrize("text, expected", [
    ("name: colour\nkind: enum\nparams: {values: [RED, RED]}\n",
     "patterns/colour.yaml:3: params.values: lists a value twice"),
    ("name: color\nkind: enum\nparams: {values: [RED]}\n",
     "patterns/colour.yaml:1: 'name' is 'color' but the file is colour.yaml; they must agree"),
    ("name: colour\nkind: shape\n", "patterns/colour.yaml:2: unknown kind 'shape'"),
    ("- a\n- b\n", "patterns/colour.yaml:1: a pattern must be a YAML mapping"),
    ("", "patterns/colour.yaml:1: empty pattern file"),
    ("name: colour\nkind: enum\nparams:\n  values: [RED]\n  extra: 1\n",
     "patterns/colour.yaml:5: params.extra: unknown key"),
    # duplicate keys: PyYAML would keep the last silently
    ("name: colour\nkind: enum\nkind: entity\n",
     "patterns/colour.yaml:3: duplicate key 'kind' (first on line 2)"),
    ("name: colour\nkind: enum\nparams:\n  values: [RED]\n  \"values\": [BLUE]\n",
     "patterns/colour.yaml:5: duplicate key 'values' (first on line 4)"),
    ("name: colour\nkind: enum\nparams: {values: [RED], default: RED, default: RED}\n",
     "patterns/colour.yaml:3: duplicate key 'default' (first on line 3)"),
    # values PyYAML's constructors raise ValueError on
    ("name: colour\nkind: enum\n\nparams: {values: [RED], default: " + "9" * 5000 + "}\n",
     "patterns/colour.yaml:4: invalid YAML value: ValueError: "),
    ("name: colour\nkind: enum\ndescription: 2020-13-45\n",
     "patterns/colour.yaml:3: invalid YAML value: ValueError: "),
])
def test_pattern_errors_name_file_and_line(text, expected):
    assert error_of(lambda: parse(text)).startswith(expected)


def test_merge_keys_may_be_overridden_and_equal_keys_in_other_mappings_are_fine():
    pattern = parse("name: colour\nkind: enum\nparams:\n  <<: {values: [RED, BLUE], default: RED}\n"
                    "  default: BLUE\n")
    assert pattern.params == {"values": ["RED", "BLUE"], "default": "BLUE"}


def test_yaml_bomb_is_refused_before_it_expands():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    bomb = "name: colour\nkind: enum\n" + "\n".join(lines) + "\n"
    assert "too large or too deeply nested" in error_of(lambda: parse(bomb))


def test_non_utf8_and_nul_bytes():
    raw = b"name: colour\nkind: enum\ndescription: caf\xe9\n"
    message = error_of(lambda: parse_pattern(raw, "patterns/colour.yaml", KINDS))
    assert message == "patterns/colour.yaml:3: not valid UTF-8 (byte 0xe9)"
    assert "NUL" in error_of(lambda: parse("name: colour\nkind: enum\x00\n"))


def test_oversized_pattern_file_is_not_read(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as handle:
        handle.truncate(MAX_PATTERN_BYTES + 1)
    assert "over the 1024 KiB limit" in error_of(lambda: read_pattern_bytes(big, "patterns/big.yaml"))


def endpoint_text(**override: str) -> str:
    params = {"method": "GET", "path": "/users/{id}", "entity": "users", **override}
    return ("name: get_user\nkind: endpoint\ndepends_on: [users]\nparams:\n"
            + "".join(f"  {key}: {value}\n" for key, value in params.items())
            + "  request:\n    - {name: id, type: int}\n")


ENDPOINT_KINDS = {"endpoint": {"python/endpoint.py.j2": "python/{name}.py"}}


@pytest.mark.parametrize("field, line", [("method", 5), ("path", 6), ("entity", 7)])
def test_anchored_checks_refuse_a_trailing_newline(field, line):
    source = "patterns/get_user.yaml"
    assert parse_pattern(endpoint_text().encode(), source, ENDPOINT_KINDS).name == "get_user"
    good = {"method": "GET", "path": "/users/{id}", "entity": "users"}[field]
    # `$` alone would let the newline through
    text = endpoint_text(**{field: f'"{good}\\n"'})
    message = error_of(lambda: parse_pattern(text.encode(), source, ENDPOINT_KINDS))
    assert message.startswith(f"{source}:{line}: params.{field}: "), message


# YAML whose meaning PyYAML's constructors decide: the pattern parser's own
# one-pass construction must give the same data, or leave it to them.
TRICKY_YAML = [
    "name: x\nkind: entity\nparams: {fields: [{name: a, type: int}], note: 'q'}\n",
    "a: 1\nb: 2001-12-14\nc: !!binary aGk=\nd: ~\ne: 1.5\nf: yes\ng: 0x1f\nh: '1'\n",
    "=: 1\n", "1: a\n", "null: a\n", "? !!str 2\n: b\n",
    "a: !!set {x, y}\n", "a: !!omap [x: 1, y: 2]\n", "a: !!pairs [x: 1]\n",
    "a: !!seq [1]\nb: !!map {c: d}\n", "a: !!str 12\n",
    "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n", "a: &x [1, 2]\nb: *x\n",
    "- &s text\n- *s\n", "[[[[[1]]]]]\n",
]


@pytest.mark.parametrize("text", TRICKY_YAML)
def test_pattern_yaml_reads_as_pyyaml_reads_it(text):
    import yaml
    from doit_conductor.codegen.patterns import _load_yaml
    data, _lines = _load_yaml(text, "patterns/x.yaml")
    assert data == yaml.safe_load(text)
    assert type(data) is type(yaml.safe_load(text))


def test_pattern_yaml_aliases_share_their_object_as_in_pyyaml():
    from doit_conductor.codegen.patterns import _load_yaml
    data, _ = _load_yaml("a: &x [1, 2]\nb: *x\n", "p.yaml")
    assert data["a"] is data["b"]


@pytest.mark.parametrize("text", ["a: =\n", "? [a, b]\n: 1\n", "a: !!str {x: 1}\n",
                                  "a: !!map x\n", "a: !!python/name:os.system x\n",
                                  "a: 2001-13-01\n", "&a [1, *a]\n"])
def test_pattern_yaml_pyyaml_refuses_is_a_one_line_error(text):
    from doit_conductor.codegen.patterns import _load_yaml
    with pytest.raises(UserError) as caught:
        _load_yaml(text, "patterns/x.yaml")
    assert "\n" not in str(caught.value)


def test_the_project_patterns_read_as_pyyaml_reads_them():
    import yaml
    from pathlib import Path
    from doit_conductor.codegen.patterns import _load_yaml
    files = sorted((Path(__file__).parents[2] / "patterns").glob("*.yaml"))
    assert files
    for path in files:
        text = path.read_text()
        assert _load_yaml(text, str(path))[0] == yaml.safe_load(text), path
