"""Task 3's parse of many files on two cores gives what a serial parse gives."""
from __future__ import annotations

import pytest

from doit_conductor import forked
from doit_conductor.codegen import parse_parallel
from doit_conductor.codegen.parse_parallel import PARALLEL_FROM, parse_all
from doit_conductor.codegen.patterns import parse_pattern, pattern_to_json
from doit_conductor.errors import UserError

pytestmark = pytest.mark.slow   # forks a child

KINDS = {"enum": {"python/enum.py.j2": "python/{name}.py"}}
COUNT = PARALLEL_FROM + 51


def enum_file(index: int, values: str = "[RED, GREEN]") -> tuple[str, bytes]:
    name = f"colour_{index:04d}"
    return f"patterns/{name}.yaml", f"name: {name}\nkind: enum\nparams: {{values: {values}}}\n".encode()


@pytest.fixture
def files():
    return [enum_file(i) for i in range(COUNT)]


def counted_forks(monkeypatch) -> list[int]:
    forks = []
    real = forked.start
    monkeypatch.setattr(forked, "start", lambda work: forks.append(1) or real(work))
    return forks


def test_many_files_parse_to_the_serial_entries_in_order(files, monkeypatch):
    forks = counted_forks(monkeypatch)
    entries = parse_all(files, KINDS)
    assert forks == [1]
    serial = [pattern_to_json(parse_pattern(raw, source, KINDS)) for source, raw in files]
    assert entries == serial
    assert [list(entry) for entry in entries] == [list(entry) for entry in serial]  # key order


def test_a_child_that_dies_leaves_its_half_to_this_process(files, monkeypatch):
    import os
    parent = os.getpid()
    real = parse_parallel._parse_reporting

    def dying(*args):
        if os.getpid() != parent:
            os._exit(9)
        return real(*args)

    monkeypatch.setattr(parse_parallel, "_parse_reporting", dying)
    forks = counted_forks(monkeypatch)
    assert [e["name"] for e in parse_all(files, KINDS)] == [
        f"colour_{i:04d}" for i in range(COUNT)]
    assert forks == [1]


def test_the_first_error_in_file_order_is_reported(files):
    late, early = COUNT - 3, COUNT // 2 + 1          # both in the helper's half
    files[late] = enum_file(late, "[RED, RED]")
    files[early] = enum_file(early, "[lower]")
    with pytest.raises(UserError) as raised:
        parse_all(files, KINDS)
    assert (raised.value.file, raised.value.line) == (files[early][0], 3)
    files[3] = enum_file(3, "[RED, RED]")            # and one in this process's half
    with pytest.raises(UserError) as raised:
        parse_all(files, KINDS)
    assert raised.value.file == files[3][0]
    assert str(raised.value) == f"{files[3][0]}:3: params.values: lists a value twice"


def test_few_files_are_parsed_without_forking(monkeypatch):
    monkeypatch.setattr(forked, "start", None)   # would fail if used
    few = [enum_file(i) for i in range(PARALLEL_FROM - 1)]
    assert [e["name"] for e in parse_all(few, KINDS)] == [f"colour_{i:04d}" for i in range(len(few))]


def test_off_the_main_thread_nothing_forks(files, monkeypatch):
    import threading
    monkeypatch.setattr(forked, "start", None)   # would fail if used
    result = []
    worker = threading.Thread(target=lambda: result.append(parse_all(files, KINDS)))
    worker.start()
    worker.join()
    assert len(result) == 1 and len(result[0]) == COUNT
