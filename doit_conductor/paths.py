"""Whether a path stays inside a directory once symbolic links are followed.

One check for planning (refuse an output path that leads out of `output/`),
writing and pruning generated files, so the three cannot drift apart.
"""
from __future__ import annotations

import os


def inside(root: str, path: str | os.PathLike) -> bool:
    """True if `path`, with every symbolic link resolved, is `root` or below it.

    `root` must already be a real path (`os.path.realpath`): callers resolve it
    once and check many paths against it.
    """
    resolved = os.path.realpath(path)
    return resolved == root or resolved.startswith(root + os.sep)
