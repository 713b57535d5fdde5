"""Relative links in Markdown pages: find them, and check that each one's file
and anchor exist.  Pure: pages come in as text, the file system as a callable."""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Callable

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_EXPLICIT_ANCHOR = re.compile(r'<a\s+(?:id|name)="([^"]+)"')
_EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")


@dataclass(frozen=True, slots=True)
class BrokenLink:
    page: str
    line: int
    target: str
    reason: str


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"`|\*\*|__", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _lines_outside_code(text: str):
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            yield number, re.sub(r"`[^`]*`", "", line)


def anchors(text: str) -> set[str]:
    """Every anchor a page defines (headings, with -1, -2 for repeats; <a id>)."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    for _, line in _lines_outside_code(text):
        match = _HEADING.fullmatch(line)
        if match:
            base = slug(match.group(2))
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        found.update(_EXPLICIT_ANCHOR.findall(line))
    return found


def links(text: str) -> list[tuple[int, str]]:
    """(line, target) of every relative link (external ones and images skipped)."""
    return [(number, target) for number, line in _lines_outside_code(text)
            for target in _LINK.findall(line) if not _EXTERNAL.match(target)]


def parse(text: str) -> tuple[list[tuple[int, str]], list[str]]:
    """What checking needs of a page: its `links` and its `anchors` (sorted)."""
    return links(text), sorted(anchors(text))


def check_links(pages: dict[str, str], read_page: Callable[[str], str | None],
                exists: Callable[[str], bool]) -> tuple[int, list[BrokenLink]]:
    """Check the relative links of `pages` (path -> Markdown).  Targets outside
    `pages` are looked up with `exists`, and Markdown ones read with `read_page`
    for their anchors.  Returns (links checked, broken links)."""
    return check_parsed({page: parse(text) for page, text in pages.items()}, read_page, exists)


def check_parsed(pages: dict[str, tuple[list, list[str]]],
                 read_page: Callable[[str], str | None],
                 exists: Callable[[str], bool]) -> tuple[int, list[BrokenLink]]:
    """`check_links` of pages already `parse`d (path -> (links, anchors))."""
    anchor_cache: dict[str, set[str] | None] = {}

    def page_anchors(path: str) -> set[str] | None:
        if path not in anchor_cache:
            if path in pages:
                anchor_cache[path] = set(pages[path][1])
            else:
                text = read_page(path)
                anchor_cache[path] = anchors(text) if text is not None else None
        return anchor_cache[path]

    checked, broken = 0, []
    for page, (found_links, _) in sorted(pages.items()):
        for line, target in found_links:
            checked += 1
            file_part, _, anchor = target.partition("#")
            path = posixpath.normpath(posixpath.join(posixpath.dirname(page), file_part)) \
                if file_part else page
            if file_part and path not in pages and not exists(path):
                broken.append(BrokenLink(page, line, target, f"{path} does not exist"))
                continue
            if anchor and path.endswith(".md"):
                found = page_anchors(path)
                if found is None or anchor not in found:
                    broken.append(BrokenLink(page, line, target,
                                             f"{path} has no heading with anchor #{anchor}"))
    return checked, broken
