"""Phase 4 actions, tasks 9-13: prove the generated code is what it claims to be.

Each reads compile.manifest for the generated files it checks (never globbing
the tree), runs its check, and writes its state file only when the result
changed.  Generated code runs only in child interpreters: the doit process never
imports it.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from doit_conductor import layout, safe_fs
from doit_conductor.config import config_from_json
from doit_conductor.glue.actions import user_action
from doit_conductor.errors import UserError
from doit_conductor.fsio import dump_json, write_if_changed
from tasks.steps import artifacts
from doit_conductor.state_files import StateError, envelope_digest, read_state, write_state

PROBE = str(Path(__file__).with_name("isolated_check.py"))


def generated(prefix: str, suffix: str = "") -> list[str]:
    """Generated files (by compile.manifest) under `prefix`, sorted."""
    return sorted(p for p in artifacts.manifest_files()
                  if p.startswith(prefix.rstrip("/") + "/") and p.endswith(suffix))


def relative(path: str | None) -> str | None:
    """A child's absolute path as the user sees it (relative to the project)."""
    if not path:
        return path
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def probe_command() -> list[str]:
    """The probe's command line: fixed, whatever the library's size.  The request
    (module names grow with the library) goes on stdin, never in argv: Linux caps
    one argument at 128 KiB, which 10,000 patterns' module names exceed."""
    return [sys.executable, "-I", "-S", "-B", PROBE]


def run_probe(request: dict, timeout: float = 600) -> dict:
    """Run isolated_check.py in a fresh interpreter without site-packages."""
    try:
        done = subprocess.run(probe_command(), input=json.dumps(request),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"generated code did not finish within {timeout:.0f} s",
                        request.get("start") or request["path"][0]) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"the child interpreter failed (exit {done.returncode}): {last}",
                        request.get("start") or request["path"][0])
    return json.loads(done.stdout)


def module_names(files: list[str], root: str) -> list[str]:
    """Dotted module names of .py files below `root` (the sys.path entry)."""
    prefix = root.rstrip("/") + "/"
    names = []
    for path in files:
        rel = path[len(prefix):]
        if not path.startswith(prefix) or "//" in f"/{rel}/" or "/./" in f"/{rel}/" \
                or "/../" in f"/{rel}/":
            # not plainly below `root`: as pathlib reads it (a generated
            # file's path is plain; 10,000 Path objects were most of this)
            rel = Path(path).relative_to(root).as_posix()
        parts = rel.split("/")
        stem, dot = parts[-1], parts[-1].rfind(".")
        parts[-1] = stem[:dot] if 0 < dot < len(stem) - 1 else stem   # Path.with_suffix("")
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def import_failure(results: list[dict]) -> UserError | None:
    failed = [r for r in results if not r["ok"]]
    if not failed:
        return None
    first = failed[0]
    more = f" ({len(failed) - 1} more module(s) fail too)" if len(failed) > 1 else ""
    return UserError(f"cannot import {first['module']}: {first['error']}{more}",
                     relative(first["file"]), first["line"])


@user_action
def import_check(python_dir: str, models_dir: str) -> None:
    """Task 9: import every generated module, each in isolation, in a fresh interpreter.

    Incremental: a module imported before, with the same interpreter (env.json),
    is not imported again while every generated file that importing it
    executed (its closure, as the probe saw it) has the checksum it had then.
    An edit of one pattern imports its module and those that import it."""
    files = generated(models_dir, ".py")
    modules = module_names(files, python_dir)
    checksums = artifacts.manifest_checksums()
    environment = envelope_digest(layout.ENV)
    kept = unchanged_results(modules, previous_results(artifacts.IMPORT_CHECK, environment),
                             checksums)
    to_import = [name for name in modules if name not in kept]
    results = run_probe({"mode": "import", "path": [python_dir], "modules": to_import,
                         "package": artifacts.PACKAGE})["modules"] if to_import else []
    error = import_failure(results)
    if error:
        raise error
    print(f"{len(to_import)} of {len(modules)} modules imported on their own; the other "
          f"{len(kept)} and every generated file they import are unchanged")
    imported = {r["module"]: {"file": relative(r["file"]), "public": r["public"],
                              "closure": closure_by_checksum(r.get("closure", []), checksums)}
                for r in results}
    write_state(artifacts.IMPORT_CHECK, {
        "count": len(modules), "environment": environment,
        "modules": {name: imported[name] if name in imported else kept[name]
                    for name in modules}})


def unchanged_results(modules: list[str], previous: dict, checksums: dict[str, str | None]
                      ) -> dict[str, dict]:
    """The previous results of `modules` that still hold: every file of the
    module's recorded closure has its recorded checksum.  A module recorded
    without a closure (an older state, or one that loaded a file the manifest
    does not list) is checked again."""
    kept = {}
    for name in modules:
        entry = previous.get(name)
        closure = entry.get("closure") if isinstance(entry, dict) else None
        if isinstance(closure, dict) and closure and all(
                checksums.get(path) == checksum for path, checksum in closure.items()):
            kept[name] = entry
    return kept


def closure_by_checksum(files: list[str], checksums: dict[str, str | None],
                        base: str | None = None) -> dict[str, str] | None:
    """A closure by checksum (paths relative to `base`, else to the project),
    or None if a file of it is not one `checksums` lists (its changes would go
    unseen)."""
    closure = {}
    for file in files:
        path = os.path.relpath(file, base) if base else relative(file)
        if checksums.get(path) is None:
            return None
        closure[path] = checksums[path]
    return closure


def incremental_checks() -> bool:
    """`[tool.conductor] incremental` as load-config recorded it (false, or no
    readable config: every check checks everything)."""
    try:
        return config_from_json(read_state(layout.CONFIG)).incremental
    except StateError:
        return False


def previous_results(path: str, environment: str | None, key: str = "modules") -> dict:
    """The results by module (under `key`) of the state file `path`
    (import-check's, generated-tests', verify-package's), if that check ran with
    this interpreter (env.json) and the project is incremental (`incremental =
    false`: every module is checked every time)."""
    try:
        state = read_state(path)
    except StateError:
        return {}
    if not incremental_checks():
        return {}
    if environment is None or not isinstance(state, dict) \
            or state.get("environment") != environment or not isinstance(state.get(key), dict):
        return {}
    return state[key]


@user_action
def generated_tests(python_dir: str) -> None:
    """Task 10: run the generated unittest suite in a fresh interpreter.

    Incremental like `import_check`: each test module runs on its own, and one
    that passed before, with the same interpreter, is not run again while every
    generated file its run executed (itself, the models it imports) has the
    checksum it had then."""
    start = f"{python_dir}/tests"
    files = generated(start, ".py")
    if not files:
        write_state(artifacts.GENERATED_TESTS, {"run": 0, "passed": 0, "failures": 0,
                                                          "errors": 0, "skipped": 0,
                                                          "per_module": {}})
        return
    # test modules at the top of `start`, as unittest's discovery names them;
    # a tree with test packages in it is discovered and run whole, every time
    names = [Path(path).stem for path in files
             if os.path.dirname(path) == start and Path(path).stem.startswith("test")]
    flat = all(os.path.dirname(path) == start for path in files)
    checksums = artifacts.manifest_checksums()
    environment = envelope_digest(layout.ENV)
    kept = unchanged_results(names, previous_results(artifacts.GENERATED_TESTS, environment),
                             checksums) if flat else {}
    to_run = [name for name in names if name not in kept]
    request = {"mode": "tests", "path": [python_dir], "start": start}
    if flat:
        request.update(modules=to_run, package=artifacts.PACKAGE)
    answer = run_probe(request) if to_run or not flat else \
        {"problems": [], "per_module": {}, "modules": {}}
    problems = answer.pop("problems")
    if problems:
        first = problems[0]
        more = f" ({len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UserError(f"generated test {first['test']} {'failed' if first['kind'] == 'failure' else 'errored'}: "
                        f"{first['message']}{more}", relative(first["file"]) or start, first["line"])
    if not flat:
        if answer["run"] == 0:
            raise UserError("the generated test suite found no tests", start)
        write_state(artifacts.GENERATED_TESTS, answer)
        return
    ran = {name: {"run": result["run"], "passed": result["passed"], "skipped": result["skipped"],
                  "counted": answer["per_module"].get(name, 0),
                  "closure": closure_by_checksum(result["closure"], checksums)}
           for name, result in answer["modules"].items()}
    modules = {name: ran[name] if name in ran else kept[name] for name in names}
    total = {key: sum(m[key] for m in modules.values()) for key in ("run", "passed", "skipped")}
    if total["run"] == 0:
        raise UserError("the generated test suite found no tests", start)
    print(f"{len(to_run)} of {len(names)} test modules run; the other {len(kept)} and every "
          "generated file they execute are unchanged")
    write_state(artifacts.GENERATED_TESTS, {
        **total, "failures": 0, "errors": 0, "environment": environment,
        "per_module": {name: m["counted"] for name, m in modules.items() if m["counted"]},
        "modules": modules})


def in_dependency_order(files: list[str]) -> list[str]:
    """`files` ordered like their patterns in order.json (then by path)."""
    order = {name: i for i, name in enumerate(read_state(layout.ORDER))}
    manifest = artifacts.manifest_files()
    return sorted(files, key=lambda p: (order.get(manifest[p].get("pattern"), len(order)), p))


def read_sources(paths: list[str]) -> list:
    from tasks.steps import schema_checks
    sources = []
    for path in paths:
        try:
            sources.append(schema_checks.SourceFile(path, safe_fs.read_text(path)))
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read generated file: {exc}", path) from None
    return sources


@user_action
def sql_schema(output_dir: str, schema_sql: str) -> None:
    """Task 11: every generated SQL file into one SQLite database, in dependency
    order; every foreign key checked; the combined schema written.

    What each file makes in a database of its own (`schema_checks.file_shape`)
    is remembered by the file's stat (`stat_memo`), so an edit runs the SQL of
    the files it changed; `incremental = false` runs every file's."""
    from tasks.steps import schema_checks
    from tasks.steps.stat_memo import StatMemo, files_read
    paths = in_dependency_order(generated(f"{output_dir}/sql", ".sql"))
    with safe_fs.batch():
        sources = read_sources(paths)
        shapes, read = None, len(paths)
        if incremental_checks():
            memo = StatMemo(artifacts.SQL_SCHEMA_MEMO, "sql shapes")
            shapes = [memo.value(path, _sql_file_shape) for path in paths]
            memo.save()
            read = memo.read
    print(files_read(read, len(paths)))
    tables = schema_checks.load_schema(sources, shapes)
    write_if_changed(schema_sql, schema_checks.combine_schema(sources).encode())
    write_state(artifacts.SQL_SCHEMA, {
        "files": [s.path for s in sources], "tables": tables,
        "references": sum(len(t["references"]) for t in tables.values())})


def _sql_file_shape(data: bytes) -> dict | None:
    from tasks.steps import schema_checks
    try:
        return schema_checks.file_shape(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None   # read_sources names the file


@user_action
def schema_catalog(schemas_dir: str, index: str) -> None:
    """Task 12: check every generated JSON schema; write the catalog sorted by $id.

    A schema whose stat is the one it was checked with (`stat_memo`) keeps
    its catalog entry unread; `incremental = false` checks every one."""
    from tasks.steps import schema_checks
    from tasks.steps.stat_memo import StatMemo, files_read
    memo = StatMemo(artifacts.SCHEMA_CATALOG_MEMO, "schema entries") \
        if incremental_checks() else None
    start = len(schemas_dir.rstrip("/")) + 1   # generated() lists paths below it
    entries = []
    for path in generated(schemas_dir, ".json"):
        def check(data: bytes, path: str = path) -> dict:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UserError(f"cannot read generated file: {exc}", path) from None
            return schema_checks.check_json_schema(schema_checks.SourceFile(path, text),
                                                   path[start:])
        try:
            entry = memo.value(path, check) if memo is not None \
                else check(safe_fs.read_bytes(path))
        except OSError as exc:
            raise UserError(f"cannot read generated file: {exc}", path) from None
        entries.append((path, entry))
    if memo is not None:
        memo.save()
    # A description's format characters (U+202E, U+2028...) written escaped,
    # as the schema files have them: in JSON they occur only inside strings.
    text = dump_json(schema_checks.schema_catalog(entries)).decode()[:-1]
    if not text.isprintable():
        text = "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in text)
    write_if_changed(index, (text + "\n").encode())
    print(files_read(len(entries) if memo is None else memo.read, len(entries)))


def first_difference(expected: bytes, actual: bytes) -> int:
    """1-based line of the first difference between two texts."""
    for number, (a, b) in enumerate(zip(expected.splitlines(), actual.splitlines()), 1):
        if a != b:
            return number
    return min(len(expected.splitlines()), len(actual.splitlines())) + 1


def check_all_planned(manifest: list[str], planned: list[str]) -> None:
    """A generated file no pattern plans (compile.manifest says it was written)
    is an error: a clean render would not produce it."""
    extra = sorted(set(manifest) - set(planned))
    if extra:
        raise UserError("generated file is in compile.manifest but no pattern plans it",
                        extra[0])


def compare_trees(expected_root: Path, paths: list[str]) -> None:
    """Check every file of `paths` equals its clean render under `expected_root`."""
    for path in sorted(paths):
        clean = safe_fs.read_bytes(expected_root / path)
        try:
            built = safe_fs.read_bytes(path)
        except FileNotFoundError:
            raise UserError("planned output is missing (a clean render produces it)", path) from None
        if clean != built:
            dropped = drop_record_of(path)
            raise UserError("differs from a clean sequential uncached render "
                            "(first difference on this line)"
                            + ("; its batch record is dropped, so the next `doit` renders "
                               "it again" if dropped else ""), path,
                            first_difference(clean, built))


def drop_record_of(path: str) -> bool:
    """Remove the record of the codegen batch that wrote `path`, so the next run
    renders that batch again (a record vouching for a file its inputs do not
    produce: a forged action-cache entry, a bug); True if there was one."""
    from doit_conductor.codegen import manifest
    entry = (manifest.read_manifest(layout.CACHE) or {}).get(path)
    batch = entry.get("batch") if isinstance(entry, dict) else None
    if not isinstance(batch, str) or not batch or "/" in batch or batch.startswith("."):
        return False
    return safe_fs.unlink(manifest.record_path(layout.CACHE, batch))


@user_action
def reproducibility() -> None:
    """Task 13: re-render from scratch in a fresh interpreter (no pattern cache,
    no template bytecode cache, no manifest, one pattern after another) and
    compare bytes with the incremental, cached, parallel build.

    Incremental, by raw inputs only (never by codegen's own digests, records or
    manifest, which this check is there to check): a pattern is rendered again
    unless its source, its dependencies' sources, its plan entry, every file of
    the templates directory, the codegen settings and the rendering code are
    byte for byte what they were, and its files what they were, when its clean
    render last matched them."""
    from tasks.steps.stat_memo import StatMemo, files_read
    plan = read_state(layout.PLAN)
    settings = read_state(layout.CODEGEN_SETTINGS)
    planned = [o["path"] for entry in plan for o in entry["outputs"]]
    check_all_planned(list(artifacts.manifest_files()), planned)
    # the files' digests by their stat (`incremental = false`: every file read)
    memo = StatMemo(artifacts.REPRODUCIBILITY_MEMO, "sha256") if incremental_checks() else None
    digest = _digests(memo)
    with safe_fs.batch():
        built = {path: _sha256_of_planned(path, digest) for path in planned}
        keys = render_keys(plan, settings, digest)
    if memo is not None:
        memo.save()
    digested = len(built) + len({e["source"] for e in plan})
    print(files_read(digested if memo is None else memo.read, digested))
    environment = envelope_digest(layout.ENV)
    previous = previous_results(artifacts.REPRODUCIBILITY, environment, "patterns")
    outputs = {entry["name"]: {o["path"]: built[o["path"]] for o in entry["outputs"]}
               for entry in plan}
    redo = patterns_to_render(keys, outputs, previous)
    if redo:
        _render_and_compare(redo, plan)
    print(f"{len(redo)} of {len(keys)} patterns rendered again from scratch; the other "
          f"{len(keys) - len(redo)} and their files are unchanged since their clean render")
    tree = hashlib.sha256()
    for path in sorted(planned):
        tree.update(f"{path}\0{built[path]}\n".encode())
    write_state(artifacts.REPRODUCIBILITY, {
        "files": len(planned), "tree_sha256": tree.hexdigest(), "environment": environment,
        "patterns": {name: {"key": keys[name], "outputs": outputs[name]} for name in keys}})


def patterns_to_render(keys: dict[str, str], outputs: dict[str, dict[str, str]],
                       previous: dict) -> list[str]:
    """The patterns whose clean render must be compared again: any whose raw
    inputs (`keys`) or files (`outputs`: path -> sha256) are not exactly those
    its last clean render matched (`previous`)."""
    return [name for name in keys
            if previous.get(name) != {"key": keys[name], "outputs": outputs[name]}]


def _sha256_of_planned(path: str, digest: Callable[[str], str]) -> str:
    try:
        return digest(path)
    except FileNotFoundError:
        raise UserError("planned output is missing (a clean render produces it)", path) from None


def _render_and_compare(names: list[str], plan: list[dict]) -> None:
    """Render the patterns `names` from scratch in a fresh interpreter and
    compare their files with the built ones."""
    wanted = set(names)
    by_name = {entry["name"]: entry for entry in plan}
    # the entries it renders and those of their dependencies, not the whole plan
    needed = wanted | {d for name in names for d in by_name[name]["depends_on"]}
    request = {"render": names, "plan": [entry for entry in plan if entry["name"] in needed]}
    safe_fs.make_dirs(layout.TMP)
    with tempfile.TemporaryDirectory(prefix="reproduce-", dir=layout.TMP) as scratch:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        done = subprocess.run([sys.executable, "-B", "-m", "tasks.steps.reproduce",
                               layout.CODEGEN_SETTINGS, scratch], input=dump_json(request),
                              capture_output=True, env=env, timeout=600)
        if done.returncode != 0:
            stderr = done.stderr.decode(errors="replace")
            last = (stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"clean re-render failed: {last}", layout.PLAN)
        compare_trees(Path(scratch), [o["path"] for entry in plan if entry["name"] in wanted
                                      for o in entry["outputs"]])


# Bumped when what a pattern's clean render depends on changes (2: pattern
# files by sha256, as the output files; canonical JSON by orjson).
RENDER_KEY_VERSION = 2


def _digests(memo) -> Callable[[str], str]:
    """The sha256 of a file by its path: read, or through `memo` (a `StatMemo`)."""
    from tasks.steps.stat_memo import sha256
    if memo is None:
        return lambda path: sha256(safe_fs.read_bytes(path))
    return memo.by_listing(sha256)


def render_keys(plan: list[dict], settings: dict,
                digest: Callable[[str], str] | None = None) -> dict[str, str]:
    """By pattern: a digest of the raw inputs of its clean render (see
    `reproducibility`), read from the files themselves (the pattern files'
    sha256 by `digest`, `_digests`' answer, if given)."""
    import xxhash

    from doit_conductor.scale.action_key import code_digest, library_versions
    digest = digest or _digests(None)
    read = {e["source"] for e in plan} | {s for e in plan for s in e["dep_sources"]}
    sources = {source: digest(source) for source in read}
    templates = sorted((entry.path, xxhash.xxh3_128_hexdigest(safe_fs.read_bytes(entry.path)))
                       for entry in safe_fs.walk(settings["templates_dir"])
                       if entry.kind == safe_fs.FILE)
    # the code that parses and renders (the whole plugin, conservatively, and
    # the re-render itself) and the libraries
    code = [code_digest("doit_conductor"), code_digest("tasks.steps.reproduce"),
            library_versions(("jinja2", "markupsafe", "pyyaml")), sys.version]
    common = dump_json([RENDER_KEY_VERSION, templates, settings, code]).decode()
    return {entry["name"]: xxhash.xxh3_128_hexdigest(dump_json(
        [common, sources[entry["source"]], [sources[s] for s in entry["dep_sources"]], entry]))
        for entry in plan}
