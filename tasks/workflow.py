"""The workflow: 22 tasks in 5 phases, as doit task creators.

    phase 1 setup       1 check-env -> 2 load-config
    phase 2 inputs      3 validate-patterns | 4 lint-templates | 5 scan-output
    phase 3 generate    6 resolve-patterns -> 7 plan-codegen -> 8 codegen
    phase 4 verify      9-13, concurrent where their inputs allow
    phase 5 publish     14-22

Every task names its inputs (`file_dep`) and outputs (`targets`) so a second
`doit` with nothing changed executes nothing.  Actions are module-level functions
taking plain data (picklable for `doit -n`).  This module is imported on every
`doit` invocation, so it imports nothing heavy: jinja2 and yaml load only inside
actions.
"""
from __future__ import annotations

import json
import sys

from doit import create_after
from doit.tools import config_changed

from tasks import layout
from tasks.codegen import task_actions as pipeline
from tasks.config import PYPROJECT, load_config
from tasks.errors import UserError
from tasks.steps import analyse, prepare


def _settings():
    """Paths the task definitions need at load time.  A broken config must not stop
    `doit list`; task 2 reports it properly, so fall back to defaults here."""
    try:
        return load_config(".")
    except UserError:
        from tasks.config import Config
        return Config()


CONFIG = _settings()


def _meta(number: int, phase: int) -> dict:
    return {"number": number, "phase": phase}


def task_check_env():
    """1 check-env: record interpreter, package and tool versions (.conductor/state/env.json)."""
    return {
        "basename": "check-env",
        "actions": [prepare.check_env],
        "uptodate": [config_changed(f"{sys.version}|{sys.executable}|{layout.STATE_VERSION}")],
        "targets": [layout.ENV],
        "meta": _meta(1, 1),
        "clean": True,
    }


def task_load_config():
    """2 load-config: read and validate [tool.conductor] (unknown keys are errors)."""
    return {
        "basename": "load-config",
        "actions": [prepare.load_settings],
        "file_dep": [PYPROJECT, layout.ENV],
        "targets": [layout.CONFIG],
        "meta": _meta(2, 1),
        "clean": True,
    }


def task_validate_patterns():
    """3 validate-patterns: parse and validate every pattern file against its schema."""
    templates = CONFIG.templates_dir
    return {
        "basename": "validate-patterns",
        "actions": [analyse.validate_patterns],
        "file_dep": analyse.pattern_files(CONFIG.patterns_dir)
                    + [layout.CONFIG, f"{templates}/kinds.yaml"],
        "targets": [layout.PATTERNS],
        "meta": _meta(3, 2),
        "clean": True,
    }


def task_lint_templates():
    """4 lint-templates: parse every template, record what each includes."""
    return {
        "basename": "lint-templates",
        "actions": [analyse.lint_templates],
        "file_dep": analyse.template_files(CONFIG.templates_dir)
                    + [layout.CONFIG, f"{CONFIG.templates_dir}/kinds.yaml"],
        "targets": [layout.TEMPLATES],
        "meta": _meta(4, 2),
        "clean": True,
    }


def task_scan_output():
    """5 scan-output: hash generated files that moved; set hand edits aside."""
    return {
        "basename": "scan-output",
        "actions": [analyse.scan_output],
        "file_dep": [layout.CONFIG],
        "uptodate": [analyse.outputs_untouched],
        "targets": [layout.SCAN],
        "meta": _meta(5, 2),
        "clean": True,
    }


def task_resolve_patterns():
    """6 resolve-patterns: pattern dependency order; cycles and unknown names are errors."""
    return {
        "basename": "resolve-patterns",
        "actions": [analyse.resolve_patterns],
        "file_dep": [layout.PATTERNS],
        "task_dep": ["lint-templates", "scan-output"],
        "targets": [layout.ORDER],
        "meta": _meta(6, 3),
        "clean": True,
    }


def task_plan_codegen():
    """7 plan-codegen: pattern x template -> output path; collisions and escapes are errors."""
    return {
        "basename": "plan-codegen",
        "actions": [analyse.plan_outputs],
        "file_dep": [layout.PATTERNS, layout.ORDER, layout.TEMPLATES, layout.CONFIG],
        "targets": [layout.PLAN, layout.CODEGEN_SETTINGS],
        "meta": _meta(7, 3),
        "clean": True,
    }


@create_after(executed="plan-codegen")
def task_codegen():
    """8 codegen: render, compile, check and write each pattern's files (one sub-task each)."""
    try:
        with open(layout.PLAN, "rb") as handle:
            plan = json.load(handle)
        with open(layout.CODEGEN_SETTINGS, "rb") as handle:
            settings = json.load(handle)
    except (OSError, ValueError):
        plan, settings = [], None   # not planned yet (`doit list` on a fresh clone)
    if settings is None:
        yield {"basename": "codegen", "name": None, "meta": _meta(8, 3)}
        return
    templates = settings["templates_dir"]
    names = [entry["name"] for entry in plan]
    # The group comes first: doit would replace a group defined after its
    # sub-tasks.  It has no work of its own (doit drops a group's actions), so it
    # is up to date by definition rather than "run" on every invocation.
    yield {"basename": "codegen", "name": None, "doc": task_codegen.__doc__,
           "uptodate": [True], "meta": _meta(8, 3)}
    for entry in plan:
        yield {
            "basename": "codegen",
            "name": entry["name"],
            "doc": f"generate the files of {entry['source']}",
            "actions": [(pipeline.build_pattern, [entry, settings])],
            "teardown": [(pipeline.merge_manifest_once, [settings])],
            "file_dep": [entry["source"], *entry["dep_sources"],
                         *(f"{templates}/{t}" for t in entry["templates"]),
                         layout.CODEGEN_SETTINGS],
            "task_dep": [f"codegen:{dep}" for dep in entry["depends_on"]],
            "targets": [o["path"] for o in entry["outputs"]],
            "clean": True,
        }
    # doit drops a group task's own actions, so the closing step is a sub-task
    # too; its name cannot clash with a pattern's (those start with a letter).
    yield {
        "basename": "codegen",
        "name": "_manifest",
        "doc": "prune outputs of removed patterns; merge compile.manifest",
        "actions": [(pipeline.finish_codegen, [names, settings])],
        "file_dep": [layout.PLAN, layout.CODEGEN_SETTINGS],
        "task_dep": [f"codegen:{name}" for name in names],
        "targets": [layout.MANIFEST],
        "clean": True,
    }
