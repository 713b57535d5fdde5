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

from doit_conductor import layout
from tasks.steps import codegen as codegen_actions
from doit_conductor.codegen.plan import template_set_file
from doit_conductor.config import PYPROJECT, load_config
from doit_conductor.errors import UserError
from tasks.steps import artifacts, inputs_and_plan, prepare
from tasks.steps.artifacts import GeneratedFiles


def _settings():
    """Paths the task definitions need at load time.  A broken config must not stop
    `doit list`; task 2 reports it properly, so fall back to defaults here."""
    try:
        return load_config(".")
    except UserError:
        from doit_conductor.config import Config
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
        "actions": [inputs_and_plan.validate_patterns],
        "file_dep": inputs_and_plan.pattern_files(CONFIG.patterns_dir)
                    + [layout.CONFIG, f"{templates}/kinds.yaml"],
        "targets": [layout.PATTERNS],
        "meta": _meta(3, 2),
        "clean": True,
    }


def task_lint_templates():
    """4 lint-templates: parse every template, record what each includes."""
    return {
        "basename": "lint-templates",
        "actions": [inputs_and_plan.lint_templates],
        "file_dep": inputs_and_plan.template_files(CONFIG.templates_dir)
                    + [layout.CONFIG, f"{CONFIG.templates_dir}/kinds.yaml"],
        "targets": [layout.TEMPLATES],
        "meta": _meta(4, 2),
        "clean": True,
    }


def task_scan_output():
    """5 scan-output: hash generated files that moved; set hand edits aside."""
    return {
        "basename": "scan-output",
        "actions": [inputs_and_plan.scan_output],
        "file_dep": [layout.CONFIG],
        "uptodate": [inputs_and_plan.outputs_untouched],
        "targets": [layout.SCAN],
        "meta": _meta(5, 2),
        "clean": True,
    }


def task_resolve_patterns():
    """6 resolve-patterns: pattern dependency order; cycles and unknown names are errors."""
    return {
        "basename": "resolve-patterns",
        "actions": [inputs_and_plan.resolve_patterns],
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
        "actions": [inputs_and_plan.plan_outputs],
        "file_dep": [layout.PATTERNS, layout.ORDER, layout.TEMPLATES, layout.CONFIG],
        "targets": [layout.PLAN, layout.CODEGEN_SETTINGS, layout.TEMPLATE_SETS],
        "meta": _meta(7, 3),
        "clean": True,
    }


def _fragment(pattern: str) -> str:
    return f"{layout.FRAGMENTS}/{pattern}.json"


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
            "actions": [(codegen_actions.build_pattern, [entry, settings])],
            # the template-set file changes when any template read or the settings do
            "file_dep": [entry["source"], *entry["dep_sources"],
                         template_set_file(entry["templates"])],
            "task_dep": [f"codegen:{dep}" for dep in entry["depends_on"]],
            "targets": [*(o["path"] for o in entry["outputs"]), _fragment(entry["name"])],
            # `incremental = false`: every pattern is rebuilt (and compiled) every run
            **({} if settings.get("incremental", True) else {"uptodate": [False]}),
            "clean": True,
        }
    # doit drops a group task's own actions, so the closing step is a sub-task
    # too; its name cannot clash with a pattern's (those start with a letter).
    # Its file_dep on every fragment re-merges the manifest in the same run as
    # any change, before tasks 9-22 look at it.
    yield {
        "basename": "codegen",
        "name": "_manifest",
        "doc": "prune outputs of removed patterns; merge compile.manifest",
        "actions": [(codegen_actions.finish_codegen, [names, settings])],
        "file_dep": [layout.PLAN, layout.CODEGEN_SETTINGS, *map(_fragment, names)],
        "task_dep": [f"codegen:{name}" for name in names],
        "targets": [layout.MANIFEST],
        "clean": True,
    }


# -- phases 4 and 5: verify and publish (tasks 9-22) ---------------------------
# Generated files are not listed as file_dep: the list is only known once task 8
# ran.  Instead each task depends on `codegen` and its `GeneratedFiles` check
# compares the checksums compile.manifest holds for the part of the output it
# reads, so e.g. a SQL template edit re-runs the SQL check and not the tests.

PRODUCTS = artifacts.Products(CONFIG.output_dir, CONFIG.package_version)
_OUT = CONFIG.output_dir
_DOC_TEMPLATES = [f"{CONFIG.templates_dir}/docs/pattern.md.j2",
                  f"{CONFIG.templates_dir}/docs/index.md.j2"]


def _doc_pages() -> list[str]:
    # pattern file name == pattern name (task 3 enforces it), so the pages are
    # known without reading any pattern
    names = [path.rsplit("/", 1)[-1][:-len(".yaml")]
             for path in inputs_and_plan.pattern_files(CONFIG.patterns_dir)]
    return PRODUCTS.doc_pages(names)


def _verify(number: int, basename: str, doc: str, action, prefix: str, **extra) -> dict:
    task = {
        "basename": basename,
        "doc": doc,
        "actions": [action],
        "task_dep": ["codegen", *extra.pop("task_dep", [])],
        "file_dep": extra.pop("file_dep", []),
        "uptodate": [GeneratedFiles(prefix, contents=extra.pop("contents", True))],
        "meta": _meta(number, 4 if number <= 13 else 5),
        "clean": True,
    }
    task.update(extra)
    return task


def task_import_check():
    """9 import-check: import every generated module on its own in a fresh interpreter."""
    from tasks.steps import verify
    return _verify(9, "import-check", task_import_check.__doc__,
                   (verify.import_check, [PRODUCTS.python_dir, PRODUCTS.models_dir]),
                   PRODUCTS.models_dir + "/", file_dep=[layout.ENV],
                   targets=[artifacts.IMPORT_CHECK])


def task_generated_tests():
    """10 generated-tests: run the generated unittest suite in a fresh interpreter."""
    from tasks.steps import verify
    return _verify(10, "generated-tests", task_generated_tests.__doc__,
                   (verify.generated_tests, [PRODUCTS.python_dir]),
                   PRODUCTS.python_dir + "/", file_dep=[layout.ENV],
                   targets=[artifacts.GENERATED_TESTS])


def task_sql_schema():
    """11 sql-schema: load all generated SQL into SQLite in dependency order, check foreign keys."""
    from tasks.steps import verify
    return _verify(11, "sql-schema", task_sql_schema.__doc__,
                   (verify.sql_schema, [_OUT, PRODUCTS.schema_sql]), f"{_OUT}/sql/",
                   file_dep=[layout.ORDER, layout.ENV],
                   targets=[PRODUCTS.schema_sql, artifacts.SQL_SCHEMA])


def task_schema_catalog():
    """12 schema-catalog: check every generated JSON schema; write the catalog by $id."""
    from tasks.steps import verify
    return _verify(12, "schema-catalog", task_schema_catalog.__doc__,
                   (verify.schema_catalog, [f"{_OUT}/schemas", PRODUCTS.schema_index]),
                   f"{_OUT}/schemas/", targets=[PRODUCTS.schema_index])


def task_reproducibility():
    """13 reproducibility: a clean, uncached, sequential re-render equals output/ byte for byte."""
    from tasks.steps import verify
    # the sources too: a stale cache could leave the output unchanged by an edit
    return _verify(13, "reproducibility", task_reproducibility.__doc__,
                   verify.reproducibility, f"{_OUT}/",
                   file_dep=[layout.PLAN, layout.CODEGEN_SETTINGS, layout.ENV,
                             *inputs_and_plan.pattern_files(CONFIG.patterns_dir),
                             *inputs_and_plan.template_files(CONFIG.templates_dir)],
                   targets=[artifacts.REPRODUCIBILITY])


def task_api_surface():
    """14 api-surface: public classes, functions and constants of the package (ast) -> api.json."""
    from tasks.steps import publish
    return _verify(14, "api-surface", task_api_surface.__doc__,
                   (publish.api_surface_json, [PRODUCTS.python_dir, PRODUCTS.models_dir,
                                               PRODUCTS.api]),
                   PRODUCTS.models_dir + "/", targets=[PRODUCTS.api])


def task_docs():
    """15 docs: a Markdown reference page per pattern and an index (output/docs)."""
    from tasks.steps import publish
    return {
        "basename": "docs",
        "actions": [(publish.docs, [CONFIG.templates_dir, CONFIG.sandbox, PRODUCTS.docs_dir])],
        "file_dep": [layout.PATTERNS, layout.PLAN, *_DOC_TEMPLATES],
        # the pages describe and link the generated files: none for a failed codegen
        "task_dep": ["codegen"],
        "targets": _doc_pages(),
        "meta": _meta(15, 5),
        "clean": True,
    }


def task_docs_links():
    """16 docs-links: every relative link and anchor in the docs resolves."""
    from tasks.steps import publish
    return _verify(16, "docs-links", task_docs_links.__doc__,
                   (publish.docs_links, [PRODUCTS.docs_dir]), f"{_OUT}/", contents=False,
                   file_dep=_doc_pages(), targets=[artifacts.DOCS_LINKS])


def task_package():
    """17 package: a reproducible wheel of conductor_models, once its imports and tests pass."""
    from tasks.steps import publish
    return _verify(17, "package", task_package.__doc__,
                   (publish.package, [PRODUCTS.models_dir, PRODUCTS.wheel,
                                      CONFIG.package_version]),
                   PRODUCTS.models_dir + "/", task_dep=["import-check", "generated-tests"],
                   file_dep=[layout.CONFIG], targets=[PRODUCTS.wheel])


def task_checksums():
    """18 checksums: SHA256SUMS of every file under output/."""
    from tasks.steps import publish
    return _verify(18, "checksums", task_checksums.__doc__,
                   (publish.checksums, [_OUT, PRODUCTS.checksums]), f"{_OUT}/",
                   file_dep=[PRODUCTS.schema_sql, PRODUCTS.schema_index, PRODUCTS.api,
                             PRODUCTS.wheel, *_doc_pages()],
                   targets=[PRODUCTS.checksums])


def task_verify_package():
    """19 verify-package: unpack the wheel, check RECORD, import every module from it."""
    from tasks.steps import publish
    return {
        "basename": "verify-package",
        "actions": [(publish.verify_package, [PRODUCTS.wheel])],
        "file_dep": [PRODUCTS.wheel],
        "targets": [artifacts.VERIFY_PACKAGE],
        "meta": _meta(19, 5),
        "clean": True,
    }


def task_code_stats():
    """20 code-stats: files, lines and bytes per format and per pattern kind."""
    from tasks.steps import publish
    return _verify(20, "code-stats", task_code_stats.__doc__,
                   (publish.code_stats, [_OUT]), f"{_OUT}/", file_dep=[layout.PATTERNS],
                   targets=[artifacts.CODE_STATS])


def task_change_summary():
    """21 change-summary: files and API symbols changed since the previous run (breaking flagged)."""
    from tasks.steps import publish
    return _verify(21, "change-summary", task_change_summary.__doc__,
                   (publish.change_summary, [PRODUCTS.api]), f"{_OUT}/",
                   file_dep=[PRODUCTS.api],
                   targets=[artifacts.CHANGES_MD, artifacts.CHANGES_JSON,
                            artifacts.CHANGE_SNAPSHOT])


_REPORT_INPUTS = {
    "import_check": artifacts.IMPORT_CHECK, "generated_tests": artifacts.GENERATED_TESTS,
    "sql_schema": artifacts.SQL_SCHEMA, "schema_catalog": PRODUCTS.schema_index,
    "reproducibility": artifacts.REPRODUCIBILITY, "api": PRODUCTS.api,
    "docs_links": artifacts.DOCS_LINKS, "verify_package": artifacts.VERIFY_PACKAGE,
    "code_stats": artifacts.CODE_STATS, "changes": artifacts.CHANGES_JSON,
}


def task_run_report():
    """22 run-report: the final human-readable report (.conductor/reports/workflow.md)."""
    from tasks.steps import publish
    return {
        "basename": "run-report",
        "actions": [(publish.run_report, [_REPORT_INPUTS, PRODUCTS.checksums])],
        "file_dep": [*_REPORT_INPUTS.values(), PRODUCTS.checksums],
        "targets": [artifacts.WORKFLOW_REPORT],
        "meta": _meta(22, 5),
        "clean": True,
    }
