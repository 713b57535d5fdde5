"""Phase 1 actions: record the environment (task 1) and validate the config (task 2)."""
from __future__ import annotations

import platform
import shutil
import sqlite3
import sys
from importlib import metadata

from doit_conductor import layout
from doit_conductor.glue.actions import user_action
from doit_conductor.config import config_to_json, load_config
from doit_conductor.state_files import write_state

PACKAGES = ("doit", "jinja2", "pyyaml", "xxhash", "psutil")
TOOLS = ("tsc", "ruff", "git")


def environment_record() -> dict:
    """Interpreter, package and tool versions: what the generated output depends on
    besides the repository's files.  No timestamps, so an unchanged environment
    leaves env.json (and everything downstream) untouched."""
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "state_version": layout.STATE_VERSION,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": sys.platform,
        "sqlite": sqlite3.sqlite_version,
        "packages": packages,
        "tools": {tool: shutil.which(tool) is not None for tool in TOOLS},
    }


@user_action
def check_env() -> None:
    write_state(layout.ENV, environment_record())


@user_action
def load_settings() -> None:
    # the state version rides along so every task reading config.json re-runs
    # when state formats change
    write_state(layout.CONFIG, {**config_to_json(load_config(".")),
                                          "state_version": layout.STATE_VERSION})
