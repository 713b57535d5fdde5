"""What tasks 9-22 read and write, and the check that keeps them incremental.

Imported when dodo.py loads, so it stays cheap: paths, and an `uptodate` check
that reads compile.manifest (one small JSON file) only when doit asks.
"""
from __future__ import annotations

import hashlib
import os
import sys
from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate

from doit_conductor import layout, safe_fs
from doit_conductor.errors import UserError
from doit_conductor.file_cache import FileVersionCache

PACKAGE = "conductor_models"

IMPORT_CHECK = f"{layout.STATE}/import-check.json"
GENERATED_TESTS = f"{layout.STATE}/generated-tests.json"
SQL_SCHEMA = f"{layout.STATE}/sql-schema.json"
REPRODUCIBILITY = f"{layout.STATE}/reproducibility.json"
DOCS_LINKS = f"{layout.STATE}/docs-links.json"
VERIFY_PACKAGE = f"{layout.STATE}/verify-package.json"
API_SOURCES = f"{layout.STATE}/api-sources.json"   # what api.json was read from
CHANGE_SNAPSHOT = f"{layout.STATE}/change-snapshot.json"
DOCS_PAGES = f"{layout.STATE}/docs-pages.json"   # what each docs page was rendered from
# the wheel's members as files, kept between runs (verify-package imports from it)
UNPACKED_WHEEL = f"{layout.CACHE}/unpacked-wheel"
# what checksums, code-stats, docs-links, sql-schema, schema-catalog and
# reproducibility derived from each file they read, by its stat (stat_memo.py)
CHECKSUMS_MEMO = f"{layout.CACHE}/checksums-memo.json"
CODE_STATS_MEMO = f"{layout.CACHE}/code-stats-memo.json"
DOCS_LINKS_MEMO = f"{layout.CACHE}/docs-links-memo.json"
SCHEMA_CATALOG_MEMO = f"{layout.CACHE}/schema-catalog-memo.json"
SQL_SCHEMA_MEMO = f"{layout.CACHE}/sql-schema-memo.json"
REPRODUCIBILITY_MEMO = f"{layout.CACHE}/reproducibility-memo.json"
# which wheel file package last wrote, and with which zlib: its deflated
# members are reused for the next build (wheel.build_wheel's `previous`)
WHEEL_BUILT = f"{layout.CACHE}/wheel-built.json"
CODE_STATS = f"{layout.REPORTS}/code-stats.json"
CHANGES_MD = f"{layout.REPORTS}/changes.md"
CHANGES_JSON = f"{layout.REPORTS}/changes.json"
WORKFLOW_REPORT = f"{layout.REPORTS}/workflow.md"


@dataclass(frozen=True, slots=True)
class Products:
    """Files tasks 11-19 add under the output directory (all reproducible)."""

    output_dir: str
    package_version: str

    @property
    def python_dir(self) -> str:
        return f"{self.output_dir}/python"

    @property
    def models_dir(self) -> str:
        return f"{self.output_dir}/python/{PACKAGE}"

    @property
    def schema_sql(self) -> str:
        return f"{self.output_dir}/schema.sql"

    @property
    def schema_index(self) -> str:
        return f"{self.output_dir}/schemas/index.json"

    @property
    def api(self) -> str:
        return f"{self.output_dir}/api.json"

    @property
    def docs_dir(self) -> str:
        return f"{self.output_dir}/docs"

    @property
    def dist_dir(self) -> str:
        return f"{self.output_dir}/dist"

    @property
    def wheel(self) -> str:
        return f"{self.dist_dir}/{PACKAGE}-{self.package_version}-py3-none-any.whl"

    @property
    def checksums(self) -> str:
        return f"{self.output_dir}/SHA256SUMS"

    def doc_pages(self, pattern_names: list[str]) -> list[str]:
        # a pattern named `index` is refused by task 7, naming its file; listed
        # twice here, doit would refuse the task list first, in its own words
        return [f"{self.docs_dir}/index.md"] + [f"{self.docs_dir}/{n}.md" for n in pattern_names
                                                 if n != "index"]


def reserved_outputs(output_dir: str) -> dict[str, str]:
    """What tasks 11-19 write under the output directory, by the task that writes
    it (a key ending in `/` is a directory they own whole): a pattern's output
    there would be overwritten or removed by that task after codegen wrote it.
    Task 15 owns `docs/`, since it removes every page it did not make."""
    products = Products(output_dir, "")
    return {products.docs_dir + "/": "docs", products.dist_dir + "/": "package",
            products.checksums: "checksums", products.api: "api-surface",
            products.schema_sql: "sql-schema", products.schema_index: "schema-catalog"}


def _read_manifest_files(path: str) -> dict[str, dict] | None:
    from doit_conductor.codegen.manifest import read_manifest
    return read_manifest(os.path.dirname(path))


# compile.manifest's files, per process and manifest version (see `manifest_files`).
_MANIFEST_FILES = FileVersionCache(layout.MANIFEST, _read_manifest_files)


def recorded_manifest() -> dict[str, dict] | None:
    """compile.manifest's files, None when it is missing or unreadable.

    Merged by codegen:_manifest in any run that changed a generated file,
    before tasks 5 and 9-22 are checked.  Cached per file version, since every
    check of a run (and the fast no-op's snapshot) asks."""
    return _MANIFEST_FILES.get()


def manifest_files() -> dict[str, dict]:
    """Every generated file with its checksum and pattern ({} before codegen,
    or unreadable: nothing generated to vouch for)."""
    return _MANIFEST_FILES.get() or {}


def manifest_checksums() -> dict[str, str | None]:
    """Every generated file's checksum, by path (see `manifest_files`)."""
    return {path: entry.get("checksum") for path, entry in manifest_files().items()}


class ManifestDigests:
    """Digests of parts of one manifest version, by path prefix.

    Built in one pass over the manifest: its paths sorted, and the digest
    input of every entry laid end to end in that order.  The paths under a
    prefix are then one contiguous run of the sorted list (found by
    bisection), so the digest of a prefix set hashes a few slices of that
    buffer instead of every check walking, filtering and formatting the whole
    manifest again.  The bytes hashed are exactly those of the plain loop
    (`path NUL checksum LF` for each matching path, sorted), so digests saved
    by earlier versions stay valid.
    """

    def __init__(self, files: dict[str, dict]) -> None:
        self.paths = sorted(files)
        self._buffers: dict[bool, tuple[memoryview, list[int]]] = {}
        self._files = files
        self._digests: dict[tuple[tuple[str, ...], bool], str] = {}

    def digest(self, prefixes: tuple[str, ...], contents: bool) -> str:
        """sha256 over the sorted entries whose path starts with one of `prefixes`."""
        key = (prefixes, contents)
        if key not in self._digests:
            data, offsets = self._buffer(contents)
            hasher = hashlib.sha256()
            for lo, hi in self.ranges(prefixes):
                hasher.update(data[offsets[lo]:offsets[hi]])
            self._digests[key] = hasher.hexdigest()
        return self._digests[key]

    def ranges(self, prefixes: tuple[str, ...]) -> list[tuple[int, int]]:
        """Index ranges [lo, hi) of the sorted paths under `prefixes`, merged, in order."""
        paths = self.paths
        spans = []
        for prefix in prefixes:
            lo = bisect_left(paths, prefix)
            # Within [lo, n) the paths starting with `prefix` come first.
            hi = bisect_left(paths, True, lo, key=lambda path: not path.startswith(prefix))
            if lo < hi:
                spans.append((lo, hi))
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(spans):
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        return merged

    def _buffer(self, contents: bool) -> tuple[memoryview, list[int]]:
        if contents not in self._buffers:
            files = self._files
            lines = [f"{path}\0{files[path].get('checksum') if contents else ''}\n".encode()
                     for path in self.paths]
            offsets = [0, *accumulate(map(len, lines))]
            self._buffers[contents] = (memoryview(b"".join(lines)), offsets)
        return self._buffers[contents]


# The digests of the same manifest version as `manifest_files`.
_MANIFEST_DIGESTS = FileVersionCache(layout.MANIFEST, lambda path: ManifestDigests(manifest_files()))


def manifest_digests() -> ManifestDigests:
    """The `ManifestDigests` of the current compile.manifest (only the latest is kept)."""
    return _MANIFEST_DIGESTS.get()


class GeneratedFiles:
    """`uptodate` check: the generated files under `prefixes` have the checksums
    they had when the task last succeeded.

    Finer than a file_dep on compile.manifest (which changes with any generated
    file): a new SQL template re-runs the SQL check, not the Python tests.  doit
    calls it in the main process after task 8 ran, and saves the digest only
    when the task succeeded.
    """

    def __init__(self, *prefixes: str, contents: bool = True):
        self.prefixes = prefixes
        self.contents = contents   # False: only which files exist matters
        self.key = ("generated:" if contents else "generated-paths:") + "|".join(prefixes)
        self.digest: str | None = None

    def current(self) -> str:
        return manifest_digests().digest(self.prefixes, self.contents)

    def configure_task(self, task) -> None:
        task.value_savers.append(lambda: {self.key: self.digest or self.current()})

    def snapshot_paths(self) -> list[str]:
        """What the check reads (for doit-conductor's fast no-op): the manifest only."""
        return [layout.MANIFEST]

    def __call__(self, task, values: dict) -> bool:
        self.digest = self.current()
        return values.get(self.key) == self.digest

    def __repr__(self) -> str:
        return f"GeneratedFiles{self.prefixes!r}"


# what TargetsIntact read of each task's targets, by their stat (stat_memo.py)
TARGETS_MEMO = f"{layout.CACHE}/targets-intact"
# The digest of a target that is not a regular file: matches no content checksum.
NOT_A_FILE = "not a regular file"


def published_ledger(task_name: str) -> str:
    """The state file holding the digests of a `TargetsIntact` task's targets."""
    return f"{layout.STATE}/published/{task_name}.json"


class TargetsIntact:
    """`uptodate` check: the task's targets under output/ still hold what it
    wrote (by content digest).  doit itself never looks at targets' contents, so
    a hand edit of SHA256SUMS, schema.sql or a docs page would stay; now the
    edited file is set aside (.conductor/hand-edits/, a name of its own) and the
    task runs again to write it back."""

    key = "targets-intact"

    def __init__(self, output_dir: str):
        self.prefix = output_dir.rstrip("/") + "/"
        self._task = None   # one instance per task: set by configure_task
        self._memo = None   # its targets' checksums by stat (stat_memo), once read

    def _checked(self, task) -> list[str]:
        return [path for path in task.targets if path.startswith(self.prefix)]

    def _digests(self, task) -> dict[str, str | None]:
        """Each target's content checksum (None: missing), read only if its stat
        is not the one remembered with it: doit asks twice in a run and saves
        once, and docs has 10,001 pages (three reads of each, 0.4 s at 10,000
        patterns)."""
        from doit_conductor.codegen.outputs import content_checksum
        from tasks.steps.stat_memo import StatMemo
        if self._memo is None:
            self._memo = StatMemo(f"{TARGETS_MEMO}/{task.name}.json", "content checksum")
        digests = {}
        with safe_fs.batch():   # one openat per directory, not per path component
            for path in self._checked(task):
                try:
                    digests[path] = self._memo.value(path, content_checksum)
                except (FileNotFoundError, NotADirectoryError):
                    digests[path] = None
                except UserError:
                    # a link, FIFO or socket where the task writes a file (never
                    # read): the task runs, and its atomic write replaces it as
                    # itself (a link on the way is refused there, by name)
                    digests[path] = NOT_A_FILE
        self._memo.save()
        return digests

    def configure_task(self, task) -> None:
        self._task = task  # doit calls this before the task's targets are set
        task.value_savers.append(lambda: {self.key: self._recorded(task)})

    def _recorded(self, task) -> dict[str, str | None]:
        """The digests doit saves with the task, also kept in a ledger of their
        own: a doit.db restored from an older state holds older digests, and
        the files the later run wrote would otherwise pass for hand edits."""
        from doit_conductor.state_files import write_state
        digests = self._digests(task)
        if digests:
            write_state(published_ledger(task.name), digests)
        return digests

    @staticmethod
    def _ledger(task) -> dict:
        from doit_conductor.state_files import StateError, read_state
        try:
            ledger = read_state(published_ledger(task.name))
        except StateError:
            return {}
        return ledger if isinstance(ledger, dict) else {}

    def snapshot_paths(self) -> list[str]:
        """What the check reads (for doit-conductor's fast no-op): the task's
        targets under output/, so any edit of one changes the snapshot."""
        return self._checked(self._task) if self._task is not None else []

    def __call__(self, task, values: dict) -> bool:
        saved = values.get(self.key)
        if saved is None:
            return False
        current = self._digests(task)
        if current == saved:
            return True
        from doit_conductor.codegen.outputs import set_aside
        ledger = None
        for path, digest in sorted(current.items()):
            if digest is not None and saved.get(path) not in (None, digest):
                ledger = self._ledger(task) if ledger is None else ledger
                if ledger.get(path) == digest:
                    continue  # written by a later run than doit.db remembers: ours
                aside = set_aside(path, layout.HAND_EDITS)
                sys.stderr.write(f"{path} was edited by hand: your version is kept as "
                                 f"{aside}; {task.name} writes it again\n")
        return False

    def __repr__(self) -> str:
        return f"TargetsIntact({self.prefix!r})"
