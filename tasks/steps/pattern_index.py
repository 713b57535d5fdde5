"""Task 3's pattern index: every pattern parsed and validated once, the form
every later task reads.

`layout.PATTERNS` holds each pattern's validated entry, one a line
(`doit_conductor.state_entries`), beside the digest and stat of each source
file; `layout.GRAPH` what task 6 checks of each.  An edit keeps the bytes of
every unchanged entry and decodes none of them, and task 7 decodes only the
entries it plans (`read_index`).  At 10,000 patterns the index is 10 MB:
decoding and encoding it whole was 0.3 s of each edit.
"""
from __future__ import annotations

from pathlib import Path

import xxhash

from doit_conductor import layout, safe_fs, state_entries
from doit_conductor.errors import UserError
from doit_conductor.glue.actions import user_action
from doit_conductor.state_entries import EntryDocument
from doit_conductor.state_files import StateError, envelope_digest, pattern_entry, read_state, write_state
from tasks.steps.inputs_and_plan import workflow_config

KEY = "patterns"


def pattern_files(patterns_dir: str) -> list[str]:
    """The pattern library's files, sorted (cheap: runs when dodo.py loads)."""
    # listed, not followed: a pattern file that is a link is listed, and its
    # reader refuses it (see `patterns.read_pattern_bytes`)
    try:
        listing = safe_fs.names(patterns_dir)
    except UserError:
        return []  # a `patterns` link: task 3 refuses it by name
    return [f"{patterns_dir}/{name}" for name in listing if _is_pattern_file(name)]


def _is_pattern_file(name: str) -> bool:
    return name.endswith(".yaml") and not name.startswith(".")


def read_index() -> EntryDocument:
    """The index task 3 wrote: `rest` holds kinds_digest, state_version, sources
    and the digest of the graph written with it; entries decode one by one."""
    return state_entries.read(layout.PATTERNS, KEY, pattern_entry, _rest_shape)


def _rest_shape(rest: object) -> bool:
    return (isinstance(rest, dict) and isinstance(rest.get("kinds_digest"), str)
            and isinstance(rest.get("sources"), dict))


@user_action
def validate_patterns() -> None:
    """Task 3.  Incremental by content: the index records each source's digest
    and stat; a pattern whose file still has that stat (ctime included, which no
    one but the kernel sets), or failing that that digest, keeps its entry,
    unless the kinds table (which validation checks template names against)
    changed.  So a run parses what changed, and an index copied back from an
    older build cannot hand on entries its files no longer match."""
    from doit_conductor.codegen.kinds import kinds_digest, load_kinds
    config = workflow_config()
    safe_fs.stat_dir(config.patterns_dir)  # a link there: refused by name
    digest = kinds_digest(config.templates_dir)
    kinds = load_kinds(config.templates_dir)  # a broken kinds.yaml is named as such
    previous = _reusable_index(digest)
    with safe_fs.batch():  # the patterns directory resolved once, not per file
        entries, sources, parsed = _index_patterns(config.patterns_dir, previous, kinds)
    if not entries:
        raise UserError("no pattern files (*.yaml) found", config.patterns_dir)
    # written only when it changed, so an edit that leaves the graph alone (a
    # description, a field) does not run task 6
    write_state(layout.GRAPH, _graph(entries, parsed, previous))
    state_entries.write(layout.PATTERNS, {
        "kinds_digest": digest, "state_version": layout.STATE_VERSION, "sources": sources,
        "graph": envelope_digest(layout.GRAPH)}, KEY, entries, decoded=parsed)


def _graph(entries: dict[str, bytes], parsed: dict[str, dict],
           previous: EntryDocument | None) -> dict[str, dict]:
    """The graph of every pattern: a kept entry's from the graph written with the
    previous index, while that file is still the one written then."""
    known: dict = {}
    recorded = previous.rest.get("graph") if previous is not None else None
    if recorded is not None and recorded == envelope_digest(layout.GRAPH):
        try:
            known = read_state(layout.GRAPH)
        except StateError:
            known = {}
    graph = {}
    for name in entries:
        if name in parsed:
            graph[name] = _graph_entry(parsed[name])
        elif name in known:
            graph[name] = known[name]
        else:
            graph[name] = _graph_entry(previous.entry(name))
    return graph


def _graph_entry(pattern: dict) -> dict:
    """What task 6 checks of a validated pattern: its dependencies and the
    patterns its fields and endpoint refer to."""
    params = pattern["params"]
    refers_to = [f["references"] for f in params.get("fields", []) + params.get("request", [])
                 if f["references"]]
    if pattern["kind"] == "endpoint":
        refers_to.append(params["entity"])
    return {"source": pattern["source"], "kind": pattern["kind"],
            "depends_on": pattern["depends_on"], "refers_to": refers_to}


def _index_patterns(patterns_dir: str, previous: EntryDocument | None, kinds
                    ) -> tuple[dict[str, bytes], dict[str, dict], dict[str, dict]]:
    """(the index's entries by name as JSON, its sources by file, the entries
    parsed in this run): see `validate_patterns`.  The files to parse are read
    first and parsed together (on two cores when there are many:
    `parse_parallel`); a file that cannot be read is reported unless one
    before it in order does not parse."""
    from doit_conductor.codegen.parse_parallel import parse_all
    from doit_conductor.codegen.patterns import read_pattern_bytes
    from doit_conductor.profiling import counters
    kept, known_sources = (previous.entries, previous.rest["sources"]) if previous else ({}, {})
    entries, sources = {}, {}
    to_parse: list[tuple[str, bytes]] = []
    unreadable = None
    # listed and stat-ed in one pass over the directory: one fstatat per file
    listing = safe_fs.lstats(patterns_dir)
    for name in sorted(filter(_is_pattern_file, listing)):
        source, info = f"{patterns_dir}/{name}", listing[name]
        # a pattern is named as its file (checked when it is parsed)
        known = kept.get(name[:-len(".yaml")])
        recorded = known_sources.get(source)
        # what changes whenever the file's bytes do (ctime: no one but the kernel sets it)
        stamp = [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]
        if known is not None and isinstance(recorded, dict) and recorded.get("stat") == stamp:
            entries[name[:-len(".yaml")]] = known
            sources[source] = recorded
            continue
        try:
            raw = read_pattern_bytes(Path(source), source)
        except UserError as exc:
            unreadable = exc
            break
        source_digest = xxhash.xxh3_128_hexdigest(raw)
        if known is not None and isinstance(recorded, dict) \
                and recorded.get("digest") == source_digest:
            entries[name[:-len(".yaml")]] = known
        else:
            to_parse.append((source, raw))
        sources[source] = {"digest": source_digest, "stat": stamp}
    parsed = {entry["name"]: entry for entry in parse_all(to_parse, kinds)}
    for name, entry in parsed.items():
        entries[name] = state_entries.entry_json(entry)
    if to_parse:
        counters.add("patterns_parsed", len(to_parse))
    if unreadable is not None:
        raise unreadable
    return entries, sources, parsed


def _reusable_index(digest: str) -> EntryDocument | None:
    """The previous index, if made with these kinds and this state version."""
    try:
        index = read_index()
    except StateError:
        return None
    if index.rest.get("kinds_digest") != digest \
            or index.rest.get("state_version") != layout.STATE_VERSION:
        return None
    return index
