"""The final run report (task 22) as Markdown: pure, from the phase 4/5 state."""
from __future__ import annotations


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def workflow_report(states: dict[str, dict], checksummed_files: int) -> str:
    """`states` holds each task's state file by key: import_check, generated_tests,
    sql_schema, schema_catalog, reproducibility, api, docs_links, verify_package,
    code_stats, changes."""
    tests, sql, imports = states["generated_tests"], states["sql_schema"], states["import_check"]
    catalog, repro, pkg = states["schema_catalog"], states["reproducibility"], states["verify_package"]
    stats, change, links = states["code_stats"], states["changes"], states["docs_links"]
    api = states["api"]["modules"]
    symbols = sum(len(m["classes"]) + len(m["functions"]) + len(m["constants"])
                  for m in api.values())
    lines = ["# Workflow report", "",
             "## Verification", "",
             f"- import-check: {imports['count']} modules import on their own, without "
             "site-packages",
             f"- generated-tests: {tests['passed']} of {tests['run']} tests passed "
             f"({tests['skipped']} skipped, {tests['failures']} failures, "
             f"{tests['errors']} errors) in {len(tests['per_module'])} modules",
             f"- sql-schema: {len(sql['tables'])} tables from {len(sql['files'])} files, "
             f"{sql['references']} foreign keys resolved",
             f"- schema-catalog: {len(catalog['schemas'])} JSON schemas, ids unique",
             f"- reproducibility: {repro['files']} files equal a clean sequential render "
             f"(tree sha256 `{repro['tree_sha256'][:16]}`)", "",
             "## Publication", "",
             f"- api-surface: {len(api)} modules, {symbols} public top-level symbols",
             f"- docs: {links['pages']} pages, {links['links']} relative links, all resolve",
             f"- package: `{pkg['wheel']}` ({pkg['bytes']} bytes, {pkg['files']} files)",
             f"  - sha256 `{pkg['sha256']}`",
             f"  - installs nothing to verify: RECORD checked, {len(pkg['modules'])} modules "
             "import from the unpacked wheel",
             f"- checksums: {checksummed_files} files in SHA256SUMS", "",
             "## Code statistics", ""]
    lines += _table(("format", "files", "lines", "bytes"),
                    [(k, v["files"], v["lines"], v["bytes"])
                     for k, v in sorted(stats["per_format"].items())])
    lines += _table(("kind", "files", "lines", "bytes"),
                    [(k, v["files"], v["lines"], v["bytes"])
                     for k, v in sorted(stats["per_kind"].items())])
    total = stats["total"]
    lines += [f"Total: {total['files']} generated files, {total['lines']} lines.", "",
              "## Changes since the previous run", ""]
    files, api_changes = change["files"], change["api"]
    if change["baseline"]:
        lines.append("- first run: no previous snapshot")
    lines += [f"- files: {len(files['added'])} added, {len(files['removed'])} removed, "
              f"{len(files['changed'])} changed",
              f"- API symbols: {len(api_changes['added'])} added, "
              f"{len(api_changes['removed'])} removed, {len(api_changes['changed'])} changed",
              f"- breaking: {', '.join(f'`{s}`' for s in change['breaking']) or 'none'}",
              "", "Details: `.conductor/reports/changes.md`."]
    return "\n".join(lines) + "\n"
