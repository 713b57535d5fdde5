"""Where the workflow keeps its state: everything under `.conductor/`, nothing elsewhere.

    .conductor/doit.db            doit's dependency state (conductor backend)
    .conductor/state/*.json       what each workflow task produced for the next
    .conductor/cache/             content-addressed caches and the compile manifest
    .conductor/metrics/           run records (profiling reporter)
    .conductor/hand-edits/        generated files someone edited, set aside
    .conductor/tmp/               scratch directories of the running run
"""
from __future__ import annotations

import os

# Bump when the format of a state or cache file changes: check-env records it, so
# every task downstream re-runs instead of reading state it no longer understands.
STATE_VERSION = 3   # 3: codegen batches (plans, records) replace per-pattern files

CONDUCTOR = ".conductor"
STATE = f"{CONDUCTOR}/state"
CACHE = f"{CONDUCTOR}/cache"
HAND_EDITS = f"{CONDUCTOR}/hand-edits"
REPORTS = f"{CONDUCTOR}/reports"
# Scratch space of a run (the reproducibility re-render): inside the repository,
# so nothing is written elsewhere, and emptied whenever a run takes the lock.
TMP = f"{CONDUCTOR}/tmp"

ENV = f"{STATE}/env.json"
CONFIG = f"{STATE}/config.json"
PATTERNS = f"{STATE}/patterns.json"
GRAPH = f"{STATE}/pattern-graph.json"     # what task 6 reads of the index (task 3)
TEMPLATES = f"{STATE}/templates.json"
SCAN = f"{STATE}/scan.json"
ORDER = f"{STATE}/order.json"
PLAN = f"{STATE}/plan.json"
CODEGEN_SETTINGS = f"{STATE}/codegen-settings.json"
BATCH_PLANS = f"{STATE}/batches"
BATCH_INDEX = f"{STATE}/batch-index.json"   # each batch plan's signature (task 7)
MANIFEST = f"{CACHE}/compile.manifest"
RECORDS = f"{CACHE}/batches"        # one record per codegen batch
# the generated files scan-output's check has read, by stat (tasks/steps/inputs_and_plan.py)
UNTOUCHED_MEMO = f"{CACHE}/untouched.json"
TEMPLATE_CACHE_SUFFIX = ".jbc"   # compiled templates, under {CACHE}/templates


def backend_dir(dep_file: str) -> str:
    """Where the conductor backend keeps what it adds to doit's DB (the run lock,
    the scratch directory, the fast no-op's snapshot) and whose state files it
    verifies: the DB's own directory when that is a `.conductor` (this
    workflow's `.conductor/doit.db`), else a `.conductor` beside the DB, so that
    in any other project nothing of the user's next to the DB (a `tmp/`, a
    `state/`, a file named `lock`) is ever read, emptied or replaced."""
    directory = os.path.dirname(dep_file) or "."
    if os.path.basename(os.path.abspath(directory)) == CONDUCTOR:
        return directory
    return os.path.join(directory, CONDUCTOR)


def batch_plan_file(batch: str) -> str:
    """What task 7 planned for one codegen batch (`doit_conductor.codegen.batches`):
    each pattern's plan entry, validated pattern, dependencies and input digest."""
    return f"{BATCH_PLANS}/{batch}.json"
