"""Generated files on disk: write, prune, set aside, checksum.

Written for thousands of files per run: `OutputTree` resolves the output
directory once per process and checks each directory for a symbolic-link escape
once (again only if it is replaced), so a file costs an lstat of its directory,
an lstat of itself and the write.  What was written is recorded by
`manifest.py`.
"""
from __future__ import annotations

import logging
import os
import stat
import time

import xxhash

from doit_conductor import safe_fs
from doit_conductor.errors import UserError
from doit_conductor.fsio import (
    atomic_write, check_real_directory, create_new, holds, read_bytes)
from doit_conductor.paths import inside

log = logging.getLogger(__name__)   # routed to the console by the glue


def content_checksum(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


REFUSAL = "refusing to write through a symbolic link out of {}/"


class OutputTree:
    """The output directory as this process writes into it.

    Its real path is resolved once.  Each directory a file goes into is checked
    once for leading out of it through a symbolic link, and remembered by the
    identity (device, inode, type) of its own lstat: a directory replaced since
    by a symbolic link (even one given the freed inode number) is checked again.
    """

    def __init__(self, output_dir: str) -> None:
        self.output_dir = output_dir
        self.root = os.path.realpath(output_dir)
        self._checked: dict[str, tuple[int, int, int]] = {}

    def inside(self, path: str) -> bool:
        return inside(self.root, path)

    def inspect(self, path: str) -> os.stat_result | None:
        """The lstat of the generated file `path` (None if there is none yet);
        a UserError if writing it would leave the output directory through a
        symbolic link (its directory's or its own)."""
        directory = os.path.dirname(path)
        try:
            dir_info = os.lstat(directory)
            identity = (dir_info.st_dev, dir_info.st_ino, dir_info.st_mode)
        except (FileNotFoundError, NotADirectoryError):
            identity = None
        if identity is None or self._checked.get(directory) != identity:
            if not self.inside(directory):
                raise UserError(REFUSAL.format(self.output_dir), path)
            check_real_directory(directory)  # output/ itself a link: one clear error
            if identity is not None:
                self._checked[directory] = identity
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(info.st_mode):
            raise UserError(REFUSAL.format(self.output_dir), path)
        return info

    def write(self, path: str, data: bytes, info: os.stat_result | None) -> os.stat_result | None:
        """Write a generated file unless it already holds `data`; `info` is its
        `inspect` result.  A file replaced is replaced atomically (temporary file
        and rename); a new one is created in place.  Returns the new file's stat,
        or None if unchanged."""
        try:
            if info is None:
                try:
                    return create_new(path, data)   # nothing to replace: no rename
                except FileExistsError:
                    pass   # appeared since `inspect`: replace it as any other
            elif holds(path, data, info.st_size):
                return None
            return atomic_write(path, data)
        except OSError as exc:
            raise UserError(f"cannot write generated file: {exc.strerror}", path) from None

    def forget(self, directory: str) -> None:
        self._checked.pop(directory, None)


# One OutputTree per project directory and output directory, for the life of
# the process (a codegen worker writes many patterns' files into one tree, and
# each directory is checked once); only this module uses it.
_TREES: dict[tuple[str, str], OutputTree] = {}


def output_tree(output_dir: str) -> OutputTree:
    """This process's `OutputTree` for `output_dir` (relative to the working directory)."""
    key = (os.getcwd(), output_dir)
    tree = _TREES.get(key)
    if tree is None:
        tree = _TREES[key] = OutputTree(output_dir)
    return tree


def write_output(path: str, data: bytes, output_dir: str) -> bool:
    """Atomically write a generated file unless it already holds `data`."""
    tree = output_tree(output_dir)
    return tree.write(path, data, tree.inspect(path)) is not None


def file_checksum(path: str) -> str | None:
    """The checksum of the regular file `path`; None if it is missing.  A link,
    a directory or a FIFO is a UserError: never read (a FIFO would block)."""
    try:
        return content_checksum(read_bytes(path))
    except (FileNotFoundError, NotADirectoryError):
        return None


def prune(paths: list[str], output_dir: str) -> list[str]:
    """Delete generated files no longer produced, and directories left empty."""
    removed: list[str] = []
    if not paths:
        return removed
    tree = output_tree(output_dir)
    for path in sorted(paths):
        try:
            if tree.inspect(path) is None:
                continue
            safe_fs.unlink(path, missing_ok=False)
            removed.append(path)
        except UserError:
            continue  # never delete through a symbolic link out of the tree
        except (FileNotFoundError, IsADirectoryError):
            continue  # gone, or a directory someone made there: not ours
        parent = os.path.dirname(path)
        while os.path.realpath(parent) != tree.root and tree.inside(parent):
            try:
                if not safe_fs.rmdir(parent):
                    break
            except (OSError, UserError):
                break
            tree.forget(parent)
            parent = os.path.dirname(parent)
    return removed


# What a hand edit found before its file is written again says (scan-output,
# and a batch that finds one made after scan-output looked).
HAND_EDITED = ("{} was edited by hand: your version is kept as {}; codegen regenerates "
               "the file (change the pattern or template instead)")


def set_aside(path: str, hand_edits_dir: str) -> str:
    """Move a hand-edited file (or a directory someone made where a generated file
    belongs) under `hand_edits_dir`, named by the time it was found and never over
    an earlier copy (a file: link + unlink, since a link fails where the name is
    taken, where a rename would silently replace it).  Returns its new path."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    base = f"{hand_edits_dir}/{path}.{stamp}"
    check_real_directory(os.path.dirname(base))
    safe_fs.make_dirs(os.path.dirname(base))
    is_directory = stat.S_ISDIR((safe_fs.lstat(path) or os.stat_result((0,) * 10)).st_mode)
    number = 1
    while True:
        aside = base if number == 1 else f"{base}-{number}"
        if is_directory:
            if safe_fs.lstat(aside) is not None:
                number += 1
                continue
            os.rename(path, aside)
            return aside
        try:
            os.link(path, aside, follow_symlinks=False)
        except FileExistsError:
            number += 1
            continue
        safe_fs.unlink(path)
        return aside
