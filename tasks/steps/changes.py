"""What changed since the previous run of task 21: generated files and public API.

Pure: snapshots in, a difference and its Markdown out.  Removing a public symbol,
or changing a function's or class's signature, is flagged as breaking.
"""
from __future__ import annotations

SNAPSHOT_VERSION = 1


def snapshot(manifest: dict[str, dict], api_symbols: dict[str, str]) -> dict:
    return {"version": SNAPSHOT_VERSION,
            "files": {path: entry.get("checksum") for path, entry in sorted(manifest.items())},
            "api": dict(sorted(api_symbols.items()))}


def _breaks(before: str, after: str | None) -> bool:
    if after is None:
        return True
    return before.startswith(("def ", "class(")) and before != after


def diff(previous: dict | None, current: dict) -> dict:
    """Files and API symbols added, removed and changed.  With no previous
    snapshot everything counts as added (the baseline run)."""
    if previous is None or previous.get("version") != SNAPSHOT_VERSION:
        previous = {"files": {}, "api": {}}
        baseline = True
    else:
        baseline = False
    result: dict = {"baseline": baseline}
    for key in ("files", "api"):
        old, new = previous[key], current[key]
        result[key] = {
            "added": sorted(new.keys() - old.keys()),
            "removed": sorted(old.keys() - new.keys()),
            "changed": sorted(p for p in new if p in old and old[p] != new[p]),
        }
    old_api, new_api = previous["api"], current["api"]
    # only a removed or changed symbol can break (at 10,000 patterns asking
    # each of 60,000 symbols was a tenth of the task)
    result["breaking"] = sorted(s for s in (*result["api"]["removed"], *result["api"]["changed"])
                                if _breaks(old_api[s], new_api.get(s)))
    result["api_details"] = {s: {"before": old_api[s], "after": new_api[s]}
                             for s in result["api"]["changed"]}
    return result


def render_markdown(changes: dict) -> str:
    files, api = changes["files"], changes["api"]
    lines = ["# Changes since the previous run", ""]
    if changes["baseline"]:
        lines += ["First run: no previous snapshot, so everything below counts as added.", ""]
    lines += [f"- files: {len(files['added'])} added, {len(files['removed'])} removed, "
              f"{len(files['changed'])} changed",
              f"- API symbols: {len(api['added'])} added, {len(api['removed'])} removed, "
              f"{len(api['changed'])} changed",
              f"- breaking changes: {len(changes['breaking'])}", ""]
    if changes["breaking"]:
        lines += ["## Breaking changes", ""]
        for symbol in changes["breaking"]:
            detail = changes["api_details"].get(symbol)
            lines.append(f"- **BREAKING** `{symbol}` " + (
                f"changed: `{detail['before']}` -> `{detail['after']}`" if detail else "removed"))
        lines.append("")
    for title, group in (("Files", files), ("API", api)):
        for what in ("added", "removed", "changed"):
            if group[what] and not (changes["baseline"] and title == "API"):
                lines += [f"## {title} {what}", ""] + [f"- `{item}`" for item in group[what]] + [""]
    return "\n".join(lines).rstrip() + "\n"
