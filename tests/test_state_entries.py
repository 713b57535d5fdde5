"""A state document written one entry per line: any reader decodes it whole as
before, a reader of entries gets each entry's own bytes, and what it cannot
use is refused and removed as any state file is."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from doit_conductor import state_entries, state_files
from doit_conductor.state_files import StateError

PATH = ".conductor/state/index.json"
names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
text = st.text(st.characters(codec="utf-8"), max_size=12)   # newlines and quotes included
values = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | text,
                      lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(text, inner, max_size=3), max_leaves=8)
rests = st.dictionaries(names.filter(lambda n: n != "patterns"), values, max_size=3)


def is_dict(value: object) -> bool:
    return isinstance(value, dict)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".conductor" / "state").mkdir(parents=True)
    return tmp_path


def encoded(rest: dict, entries: dict) -> bytes:
    return state_entries.encode(rest, "patterns", {name: state_entries.entry_json(value)
                                                   for name, value in entries.items()})


@settings(max_examples=60, deadline=None)
@given(rests, st.dictionaries(names, st.dictionaries(text, values, max_size=3), max_size=6))
def test_the_document_is_the_json_of_the_whole(tmp_path_factory, rest, entries):
    raw = encoded(rest, entries)
    assert state_files.decode_state(raw) == {**rest, "patterns": entries}
    path = tmp_path_factory.mktemp("p") / ".conductor" / "state" / "index.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(raw)
    document = state_entries.read(str(path), "patterns", is_dict, is_dict)
    assert document.rest == rest
    assert {name: document.entry(name) for name in document.entries} == entries
    # the bytes read are the bytes written: kept entries write the same file
    assert state_entries.encode(document.rest, "patterns", document.entries) == raw


def test_a_document_written_whole_is_read_the_same(project):
    whole = {"kinds_digest": "k", "patterns": {"b": {"n": 2}, "a": {"text": "x\ny"}}}
    (project / PATH).write_bytes(state_files.encode_state(whole))
    document = state_entries.read(PATH, "patterns", is_dict, is_dict)
    assert document.rest == {"kinds_digest": "k"}
    assert document.entry("a") == {"text": "x\ny"}
    # written back, it is one entry a line
    assert state_entries.encode(document.rest, "patterns", document.entries).count(b"\n") == 4


def test_an_entry_of_the_wrong_shape_is_refused_and_the_file_removed(project):
    (project / PATH).write_bytes(encoded({}, {"a": {"ok": 1}, "b": ["not", "a", "dict"]}))
    document = state_entries.read(PATH, "patterns", is_dict, is_dict)
    assert document.entry("a") == {"ok": 1}
    with pytest.raises(StateError, match="entry 'b' is not the shape it has"):
        document.entry("b")
    assert not (project / PATH).exists()


def test_a_changed_byte_is_refused_and_the_file_removed(project):
    raw = encoded({"k": 1}, {"a": {"v": "one"}})
    (project / PATH).write_bytes(raw.replace(b'"one"', b'"two"'))
    with pytest.raises(StateError, match="digest mismatch"):
        state_entries.read(PATH, "patterns", is_dict, is_dict)
    assert not (project / PATH).exists()


def test_a_rest_of_the_wrong_shape_is_refused(project):
    (project / PATH).write_bytes(encoded({"k": 1}, {}))
    with pytest.raises(StateError, match="not the shape"):
        state_entries.read(PATH, "patterns", is_dict, lambda rest: "kinds_digest" in rest)
    assert not (project / PATH).exists()


def test_only_plain_names_are_written_one_a_line():
    with pytest.raises(ValueError, match="not a plain name"):
        state_entries.encode({}, "patterns", {'a":{': b"{}"})


def test_entries_written_in_this_process_are_read_without_decoding(project):
    """A library-sized index: what the writer held decoded, a reader of this
    process gets as it was (task 7 after task 3), the rest it decodes."""
    values = {f"p{i:04d}": {"text": "x" * 1000, "n": i} for i in range(600)}
    entries = {name: state_entries.entry_json(value) for name, value in values.items()}
    held = {name: values[name] for name in ("p0001", "p0002")}
    state_entries.write(PATH, {"k": 1}, "patterns", entries, decoded=held)
    document = state_entries.read(PATH, "patterns", is_dict, is_dict)
    assert document.entry("p0001") is values["p0001"]
    assert document.entry("p0003") == values["p0003"] and document.entry("p0003") is not values["p0003"]
    # all of them held: `read_state` gets the whole document without decoding it
    state_entries.write(PATH, {"k": 2}, "patterns", entries, decoded=values)
    assert state_files.read_state(PATH)["patterns"]["p0004"] is values["p0004"]
    state_files.forget_decoded()
    document = state_entries.read(PATH, "patterns", is_dict, is_dict)
    assert document.entry("p0001") == values["p0001"] and document.entry("p0001") is not values["p0001"]


def test_an_entry_that_is_not_json_is_refused_and_the_file_removed(project):
    """Only a file written on purpose with its digest recomputed can hold one."""
    (project / PATH).write_bytes(state_entries.encode({}, "patterns", {"a": b"{", "b": b"{}"}))
    document = state_entries.read(PATH, "patterns", is_dict, is_dict)
    with pytest.raises(StateError, match="entry 'a' is not JSON"):
        document.entry("a")
    assert not (project / PATH).exists()
