"""`.ci/run`: the README's two commands, verbatim, in a virtualenv made fresh each
time (so CI tests the newest dependency versions pyproject.toml allows), with
chromium installed first for the HTML report's browser tests."""
from __future__ import annotations

import pytest

import re

from tests.support.projects import REPO

# every test here runs doit (or another interpreter) in a subprocess
pytestmark = pytest.mark.slow


def readme_commands() -> list[str]:
    """The commands of README's 'The two commands' block, without their comments."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"## The two commands.*?```sh\n(.*?)```", text, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_commands_in_a_fresh_virtualenv_after_installing_chromium():
    """The contract, not the wording: README's two commands (set up and run the
    workflow; run the tests) are what .ci/run runs, in that order, inside a
    virtualenv it makes anew, after chromium is installed."""
    script = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#")]
    setup, tests = readme_commands()
    assert "pip install" in setup and "doit" in setup and tests.startswith("pytest")

    def position(predicate) -> int:
        return next(i for i, line in enumerate(script) if predicate(line))
    venv = position(lambda line: "-m venv" in line)
    activated = position(lambda line: "bin/activate" in line)
    chromium = position(lambda line: "apt-get" in line and "chromium" in line)
    assert chromium < venv < activated < position(lambda line: setup in line) \
        < position(lambda line: line.startswith(tests))
    assert any("rm -rf" in line and ".ci-venv" in line for line in script[:venv])
    assert ".ci-venv/" in (REPO / ".gitignore").read_text().splitlines()


def test_the_docs_say_how_to_install_the_plugin_without_pypi():
    text = (REPO / "docs" / "profiling.md").read_text()
    assert "$ pip install doit-conductor\n" not in text  # nothing by that name is published
    for way in ("pip install /path/to/doit-conductor", "pip install /path/to/doit_conductor-",
                "git+https://", "pip wheel --no-deps -w dist ."):
        assert way in text, way
    assert "pip install /path/to/doit-conductor" in (REPO / "README.md").read_text()
