"""[tool.conductor] validation: defaults, and errors with file and line."""
from __future__ import annotations

import pytest

from doit_conductor.config import Config, load_config
from doit_conductor.errors import UserError

GOOD = """[project]
name = "x"

[tool.conductor]
line_length = 88

[tool.conductor.validators]
".ts" = "tsc --noEmit {file}"
"""


def write(tmp_path, text):
    (tmp_path / "pyproject.toml").write_text(text)
    return tmp_path


def test_defaults_without_pyproject(tmp_path):
    assert load_config(tmp_path) == Config()


def test_memory_sampling_is_asked_for_in_the_metrics_table(tmp_path):
    assert load_config(tmp_path).sample_memory is False
    text = GOOD + "\n[tool.conductor.metrics]\nsample_memory = true\n"
    assert load_config(write(tmp_path, text)).sample_memory is True


def test_values_are_read(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.line_length == 88 and config.validators == {".ts": "tsc --noEmit {file}"}


@pytest.mark.parametrize("text, expected", [
    (GOOD.replace("line_length = 88", "line_lenght = 88"),
     "pyproject.toml:5: [tool.conductor] unknown key 'line_lenght'"),
    (GOOD.replace("line_length = 88", 'line_length = "88"'),
     "pyproject.toml:5: [tool.conductor] 'line_length' must be int, got str"),
    (GOOD.replace('"tsc --noEmit {file}"', '"tsc"'),
     "pyproject.toml:8: [tool.conductor] validators: '.ts' needs an extension"),
    (GOOD + "\n[tool.conductor.metrics]\nkeep = 3\n",
     "pyproject.toml:11: [tool.conductor] unknown key 'metrics.keep'"),
    (GOOD + "\n[tool.conductor.metrics]\nkeep_runs = 0\n",
     "pyproject.toml:11: [tool.conductor] 'metrics.keep_runs' must be at least 1"),
    (GOOD + "\n[tool.conductor.lock]\nwait = \"no\"\n",
     "pyproject.toml:11: [tool.conductor] 'lock.wait' must be bool, got str"),
    (GOOD.replace("line_length = 88", "line_length = 8"),
     "pyproject.toml:5: [tool.conductor] 'line_length' must be at least 20"),
    (GOOD.replace("line_length = 88", 'output_dir = "../elsewhere"'),
     "pyproject.toml:5: [tool.conductor] 'output_dir' must be a relative path"),
    ("[tool.conductor\n", "pyproject.toml:1: invalid TOML"),
])
def test_errors_name_file_and_line(tmp_path, text, expected):
    with pytest.raises(UserError) as info:
        load_config(write(tmp_path, text))
    assert str(info.value).startswith(expected)
