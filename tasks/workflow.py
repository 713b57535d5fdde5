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

import functools
import sys

from doit import create_after
from doit.tools import config_changed

from doit_conductor import layout
from doit_conductor.glue import selection
from doit_conductor.lazy import lazy_module

# Executed when a task creator first uses them, not when dodo.py is imported:
# the fast no-op ends the run before any task is created (see doit_conductor/lazy.py).
codegen_actions = lazy_module("tasks.steps.codegen")
config = lazy_module("doit_conductor.config")
artifacts = lazy_module("tasks.steps.artifacts")
inputs_and_plan = lazy_module("tasks.steps.inputs_and_plan")
pattern_index = lazy_module("tasks.steps.pattern_index")
prepare = lazy_module("tasks.steps.prepare")
fresh_state = lazy_module("tasks.steps.fresh_state")


@functools.cache
def _settings():
    """Paths the task definitions need at load time (read when doit first asks for
    a task, not when this module is imported).  A broken config must not stop
    `doit list`; task 2 reports it properly, so fall back to defaults here."""
    return config.project_config(".")


# `doit clean`: targets and the folders they leave empty (doit's `True` keeps both
# a target directory with files and the emptied output/ tree).
def _remove_targets(task, dryrun: bool = False):
    from tasks.steps.cleaning import remove_targets
    # its TaskFailed (a refused link) is what doit's clean prints
    return remove_targets(task, dryrun)


CLEAN = [_remove_targets]

def _meta(number: int, phase: int) -> dict:
    return {"number": number, "phase": phase}


def task_check_env():
    """Record interpreter, package and tool versions (.conductor/state/env.json)."""
    return {
        "basename": "check-env",
        "actions": [prepare.check_env],
        "uptodate": [config_changed(f"{sys.version}|{sys.executable}|{layout.STATE_VERSION}"),
                     fresh_state.StateWritten()],
        "targets": [layout.ENV],
        "meta": _meta(1, 1),
        "clean": CLEAN,
    }


def task_load_config():
    """Read and validate [tool.conductor] (unknown keys are errors)."""
    return {
        "basename": "load-config",
        "actions": [prepare.load_settings],
        "file_dep": [config.PYPROJECT, layout.ENV],
        "uptodate": [fresh_state.StateWritten()],
        "targets": [layout.CONFIG],
        "meta": _meta(2, 1),
        "clean": CLEAN,
    }


def task_validate_patterns():
    """Parse and validate every pattern file against its schema."""
    templates = _settings().templates_dir
    return {
        "basename": "validate-patterns",
        "actions": [pattern_index.validate_patterns],
        "file_dep": list(_pattern_files())
                    + [layout.CONFIG, f"{templates}/kinds.yaml"],
        "uptodate": [fresh_state.StateWritten()],
        "targets": [layout.PATTERNS, layout.GRAPH],
        "meta": _meta(3, 2),
        "clean": CLEAN,
    }


def task_lint_templates():
    """Parse every template, record what each includes."""
    return {
        "basename": "lint-templates",
        "actions": [inputs_and_plan.lint_templates],
        "file_dep": inputs_and_plan.template_files(_settings().templates_dir)
                    + [layout.CONFIG, f"{_settings().templates_dir}/kinds.yaml"],
        "uptodate": [fresh_state.StateWritten()],
        "targets": [layout.TEMPLATES],
        "meta": _meta(4, 2),
        "clean": CLEAN,
    }


def task_scan_output():
    """Hash generated files that moved; set hand edits aside."""
    return {
        "basename": "scan-output",
        "actions": [inputs_and_plan.scan_output],
        "file_dep": [layout.CONFIG],
        "uptodate": [inputs_and_plan.outputs_untouched, fresh_state.StateWritten()],
        "targets": [layout.SCAN],
        "meta": _meta(5, 2),
        "clean": CLEAN,
    }


def task_resolve_patterns():
    """Pattern dependency order; cycles and unknown names are errors."""
    return {
        "basename": "resolve-patterns",
        "actions": [inputs_and_plan.resolve_patterns],
        "file_dep": [layout.GRAPH],
        "task_dep": ["lint-templates", "scan-output"],
        "uptodate": [fresh_state.StateWritten()],
        "targets": [layout.ORDER],
        "meta": _meta(6, 3),
        "clean": CLEAN,
    }


def task_plan_codegen():
    """Pattern x template -> output path; collisions and escapes are errors."""
    return {
        "basename": "plan-codegen",
        "actions": [inputs_and_plan.plan_outputs],
        "file_dep": [layout.PATTERNS, layout.ORDER, layout.TEMPLATES, layout.CONFIG],
        # the batch plans are read by codegen sub-tasks created after this task
        # ran (create_after), so they need not be listed one by one
        "uptodate": [fresh_state.StateWritten(layout.BATCH_PLANS)],
        "targets": [layout.PLAN, layout.CODEGEN_SETTINGS, layout.BATCH_INDEX, layout.BATCH_PLANS],
        "meta": _meta(7, 3),
        "clean": CLEAN,
    }


@functools.cache
def _pattern_files() -> tuple[str, ...]:
    return tuple(pattern_index.pattern_files(_settings().patterns_dir))


def _pattern_names() -> list[str]:
    # pattern file name == pattern name (task 3 enforces it), so the names are
    # known without reading any pattern
    return [path.rsplit("/", 1)[-1][:-len(".yaml")] for path in _pattern_files()]


def _record(batch: str) -> str:
    return f"{layout.RECORDS}/{batch}.json"


# What a codegen batch's output depends on beyond its action arguments and
# file_dep (doit_conductor.scale.action_key): the code that renders, validates
# and writes, and the libraries that parse and render.  Its file_dep, the
# batch's plan, holds everything else it reads.
_CODEGEN_CODE = ["doit_conductor.codegen", "tasks.steps.codegen"]
_CODEGEN_LIBRARIES = ["jinja2", "markupsafe", "pyyaml"]


def _shippable(batch: str) -> dict:
    """What `codegen:<batch>` reads beyond its file_dep, for `--executor dask --ship`
    (doit_conductor.glue.dask_runner): the templates and its previous record;
    its template bytecode cache stays on the worker."""
    return {"inputs": [_settings().templates_dir, _record(batch)],
            "scratch_ok": [f"{layout.CACHE}/templates"]}


def _cacheable(batch: str, settings: dict) -> dict:
    """The action-cache declaration of `codegen:<batch>` (used only when a run
    enables the cache)."""
    return {"code": _CODEGEN_CODE, "libraries": _CODEGEN_LIBRARIES,
            "settings": layout.STATE_VERSION,
            "restore": (codegen_actions.restore_batch, [settings, batch, _record(batch)])}


@create_after(executed="plan-codegen")
def task_codegen():
    """Render, compile, check and write every pattern's files, in batches."""
    from doit_conductor.codegen import batches
    from doit_conductor.state_files import StateError, read_state
    try:
        plan = read_state(layout.PLAN)
        settings = read_state(layout.CODEGEN_SETTINGS)
    except StateError:
        plan, settings = [], None   # not planned yet (`doit list` on a fresh clone)
    if settings is None:
        yield {"basename": "codegen", "name": None, "meta": _meta(8, 3)}
        return
    depends_on = {entry["name"]: entry["depends_on"] for entry in plan}
    # task 7's grouping, unless the graph has moved since (then the same as it)
    assignment = inputs_and_plan.batch_assignment(depends_on,
                                                  inputs_and_plan.read_batch_index())[0]
    batch_deps = batches.batch_dependencies(assignment, depends_on)
    by_name = {entry["name"]: entry for entry in plan}
    rebuild = {} if settings.get("incremental", True) else {"uptodate": [False]}
    # One sub-task per batch does the work of `doit codegen`.
    for batch, names in assignment.items():
        yield {
            "basename": "codegen",
            "name": batch,
            "doc": f"generate the files of {len(names)} pattern{'' if len(names) == 1 else 's'}",
            "actions": [(codegen_actions.build_batch, [batch, settings, None])],
            # the batch's plan changes when any input of its patterns does; the
            # settings tell build_batch why it runs (see there)
            "file_dep": [layout.batch_plan_file(batch), layout.CODEGEN_SETTINGS],
            # plan-codegen wrote the file_dep (one of its target directory's files)
            "task_dep": ["plan-codegen", *(f"codegen:{dep}" for dep in batch_deps[batch])],
            "targets": [*(o["path"] for name in names for o in by_name[name]["outputs"]),
                        _record(batch)],
            "meta": {"conductor_cache": _cacheable(batch, settings),
                     "conductor_ship": _shippable(batch), "conductor_patterns": len(names)},
            # `incremental = false`: every pattern is rebuilt (and compiled) every run
            **rebuild,
            "clean": CLEAN,
        }
    # `doit codegen:<pattern>` builds one pattern (and those it depends on): the
    # same action restricted to it, updating its batch's record.  Not part of
    # `doit codegen` (the group below lists only the batches), and without
    # targets of its own (its batch declares them).  Created only when the
    # command could select one (`selection.may_select`): every other command
    # and `doit list` see them.
    home = {name: batch for batch, names in assignment.items() for name in names}
    for entry in plan if selection.may_select("codegen") else ():
        yield {
            "basename": "codegen",
            "name": entry["name"],
            "doc": f"generate the files of {entry['source']}",
            "actions": [(codegen_actions.build_batch, [home[entry["name"]], settings,
                                                       [entry["name"]]])],
            "task_dep": ["plan-codegen", *(f"codegen:{dep}" for dep in entry["depends_on"])],
            "uptodate": [False] if rebuild else [codegen_actions.PatternBuilt(
                home[entry["name"]], entry["name"], settings,
                [o["path"] for o in entry["outputs"]])],
        }
    # doit drops a group task's own actions, so the closing step is a sub-task
    # too; its name cannot clash with a pattern's (those start with a letter).
    # Its file_dep on every batch record re-merges the manifest in the same run
    # as any change, before tasks 9-22 look at it.
    yield {
        "basename": "codegen",
        "name": "_manifest",
        "doc": "merge compile.manifest; prune what no pattern produces any more",
        "actions": [(codegen_actions.finish_codegen, [list(assignment), len(plan), settings])],
        "file_dep": [layout.PLAN, layout.CODEGEN_SETTINGS, *map(_record, assignment)],
        "task_dep": [f"codegen:{batch}" for batch in assignment],
        "targets": [layout.MANIFEST],
        "clean": CLEAN,
    }
    # The group comes last: doit replaces the group it made from the sub-tasks
    # (which lists every one of them, the one-pattern ones included) by this
    # one.  It has no work of its own (doit drops a group's actions), so it is
    # up to date by definition rather than "run" on every invocation.
    yield {"basename": "codegen", "name": None, "doc": task_codegen.__doc__,
           "task_dep": [*(f"codegen:{batch}" for batch in assignment), "codegen:_manifest"],
           "uptodate": [True], "meta": _meta(8, 3)}


# -- phases 4 and 5: verify and publish (tasks 9-22) ---------------------------
# Generated files are not listed as file_dep: the list is only known once task 8
# ran.  Instead each task depends on `codegen` and its `GeneratedFiles` check
# compares the checksums compile.manifest holds for the part of the output it
# reads, so e.g. a SQL template edit re-runs the SQL check and not the tests.

@functools.cache
def _products() -> artifacts.Products:
    return artifacts.Products(_settings().output_dir, _settings().package_version)


def _out() -> str:
    return _settings().output_dir


def _doc_templates() -> list[str]:
    return [f"{_settings().templates_dir}/docs/pattern.md.j2",
            f"{_settings().templates_dir}/docs/index.md.j2"]


def _doc_pages() -> list[str]:
    return _products().doc_pages(_pattern_names())


def _verify(number: int, basename: str, doc: str, action, prefix: str, **extra) -> dict:
    task = {
        "basename": basename,
        "doc": doc,
        "actions": [action],
        "task_dep": ["codegen", *extra.pop("task_dep", [])],
        "file_dep": extra.pop("file_dep", []),
        "uptodate": [artifacts.GeneratedFiles(prefix, contents=extra.pop("contents", True)),
                     artifacts.TargetsIntact(_out())],
        "meta": _meta(number, 4 if number <= 13 else 5),
        "clean": CLEAN,
    }
    task.update(extra)
    return task


def task_import_check():
    """Import every generated module on its own in a fresh interpreter."""
    from tasks.steps import verify
    return _verify(9, "import-check", task_import_check.__doc__,
                   (verify.import_check, [_products().python_dir, _products().models_dir]),
                   _products().models_dir + "/", file_dep=[layout.ENV],
                   targets=[artifacts.IMPORT_CHECK])


def task_generated_tests():
    """Run the generated unittest suite in a fresh interpreter."""
    from tasks.steps import verify
    return _verify(10, "generated-tests", task_generated_tests.__doc__,
                   (verify.generated_tests, [_products().python_dir]),
                   _products().python_dir + "/", file_dep=[layout.ENV],
                   targets=[artifacts.GENERATED_TESTS])


def task_sql_schema():
    """Load all generated SQL into SQLite in dependency order, check foreign keys."""
    from tasks.steps import verify
    return _verify(11, "sql-schema", task_sql_schema.__doc__,
                   (verify.sql_schema, [_out(), _products().schema_sql]), f"{_out()}/sql/",
                   file_dep=[layout.ORDER, layout.ENV],
                   targets=[_products().schema_sql, artifacts.SQL_SCHEMA])


def task_schema_catalog():
    """Check every generated JSON schema; write the catalog by $id."""
    from tasks.steps import verify
    return _verify(12, "schema-catalog", task_schema_catalog.__doc__,
                   (verify.schema_catalog, [f"{_out()}/schemas", _products().schema_index]),
                   f"{_out()}/schemas/", targets=[_products().schema_index])


def task_reproducibility():
    """A clean, uncached, sequential re-render equals output/ byte for byte."""
    from tasks.steps import verify
    # the sources too: a stale cache could leave the output unchanged by an edit
    return _verify(13, "reproducibility", task_reproducibility.__doc__,
                   verify.reproducibility, f"{_out()}/",
                   file_dep=[layout.PLAN, layout.CODEGEN_SETTINGS, layout.ENV,
                             *_pattern_files(),
                             *inputs_and_plan.template_files(_settings().templates_dir)],
                   targets=[artifacts.REPRODUCIBILITY])


def task_api_surface():
    """Public classes, functions and constants of the package (ast) -> api.json."""
    from tasks.steps import publish
    return _verify(14, "api-surface", task_api_surface.__doc__,
                   (publish.api_surface_json, [_products().python_dir, _products().models_dir,
                                               _products().api]),
                   _products().models_dir + "/", targets=[_products().api, artifacts.API_SOURCES])


def task_docs():
    """A Markdown reference page per pattern and an index (output/docs)."""
    from tasks.steps import publish
    return {
        "basename": "docs",
        "actions": [(publish.docs, [_settings().templates_dir, _settings().sandbox, _products().docs_dir])],
        # layout.TEMPLATES: the digests of the templates the docs templates
        # include, import or extend, which the pages are rendered with too
        "file_dep": [layout.PATTERNS, layout.PLAN, layout.TEMPLATES, *_doc_templates()],
        # the pages describe and link the generated files: none for a failed codegen
        "task_dep": ["codegen"],
        "targets": [*_doc_pages(), artifacts.DOCS_PAGES],
        "uptodate": [artifacts.TargetsIntact(_out())],
        "meta": _meta(15, 5),
        "clean": CLEAN,
    }


def task_docs_links():
    """Every relative link and anchor in the docs resolves."""
    from tasks.steps import publish
    return _verify(16, "docs-links", task_docs_links.__doc__,
                   (publish.docs_links, [_products().docs_dir]), f"{_out()}/", contents=False,
                   file_dep=_doc_pages(), targets=[artifacts.DOCS_LINKS])


def task_package():
    """A reproducible wheel of conductor_models, once its imports and tests pass."""
    from tasks.steps import publish
    return _verify(17, "package", task_package.__doc__,
                   (publish.package, [_products().models_dir, _products().wheel,
                                      _settings().package_version]),
                   _products().models_dir + "/", task_dep=["import-check", "generated-tests"],
                   file_dep=[layout.CONFIG], targets=[_products().wheel])


def task_checksums():
    """SHA256SUMS of every file under output/."""
    from tasks.steps import publish
    return _verify(18, "checksums", task_checksums.__doc__,
                   (publish.checksums, [_out(), _products().checksums]), f"{_out()}/",
                   file_dep=[_products().schema_sql, _products().schema_index, _products().api,
                             _products().wheel, *_doc_pages()],
                   targets=[_products().checksums])


def task_verify_package():
    """Unpack the wheel, check RECORD, import every module from it."""
    from tasks.steps import publish
    return {
        "basename": "verify-package",
        "actions": [(publish.verify_package, [_products().wheel])],
        "file_dep": [_products().wheel],
        "targets": [artifacts.VERIFY_PACKAGE],
        "meta": _meta(19, 5),
        "clean": CLEAN,
    }


def task_code_stats():
    """Files, lines and bytes per format and per pattern kind."""
    from tasks.steps import publish
    return _verify(20, "code-stats", task_code_stats.__doc__,
                   (publish.code_stats, [_out()]), f"{_out()}/", file_dep=[layout.GRAPH],
                   targets=[artifacts.CODE_STATS])


def task_change_summary():
    """Files and API symbols changed since the previous run (breaking flagged)."""
    from tasks.steps import publish
    return _verify(21, "change-summary", task_change_summary.__doc__,
                   (publish.change_summary, [_products().api]), f"{_out()}/",
                   file_dep=[_products().api],
                   targets=[artifacts.CHANGES_MD, artifacts.CHANGES_JSON,
                            artifacts.CHANGE_SNAPSHOT])


def _report_inputs() -> dict[str, str]:
    return {
        "import_check": artifacts.IMPORT_CHECK, "generated_tests": artifacts.GENERATED_TESTS,
        "sql_schema": artifacts.SQL_SCHEMA, "schema_catalog": _products().schema_index,
        "reproducibility": artifacts.REPRODUCIBILITY, "api": _products().api,
        "docs_links": artifacts.DOCS_LINKS, "verify_package": artifacts.VERIFY_PACKAGE,
        "code_stats": artifacts.CODE_STATS, "changes": artifacts.CHANGES_JSON,
    }


def task_run_report():
    """The final human-readable report (.conductor/reports/workflow.md)."""
    from tasks.steps import publish
    return {
        "basename": "run-report",
        "actions": [(publish.run_report, [_report_inputs(), _products().checksums])],
        "file_dep": [*_report_inputs().values(), _products().checksums],
        "targets": [artifacts.WORKFLOW_REPORT],
        "meta": _meta(22, 5),
        "clean": CLEAN,
    }


# What dodo.py's `import *` takes: the task creators.  doit probes every other
# name of dodo's namespace for `create_doit_tasks`, which would execute the lazy
# modules above whether or not the run needs them.
__all__ = [name for name in dir() if name.startswith("task_")]
