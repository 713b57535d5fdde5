"""A value derived from one file, kept while that file stays the same version.

For reads that every sub-task or every up-to-date check of a run repeats (the
validated pattern index, the compile manifest): one object per file, owned by
the module that derives the value, living as long as its process.  A version
is the file's (device, inode, mtime, size); only the latest is kept, so a
long-lived process does not accumulate old ones.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
Version = tuple[int, int, int, int]


def file_version(path: str) -> Version | None:
    """The file's identity and version, None if it does not exist."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):   # a file where a folder belongs
        return None
    return (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)


class FileVersionCache(Generic[T]):
    """`get()` is `derive(path)` for the file's current version, computed once per
    version; `derive` sees a missing file as the caller decides (it may raise)."""

    def __init__(self, path: str, derive: Callable[[str], T]) -> None:
        self.path = path
        self._derive = derive
        self._version: Version | None = None
        self._value: T | None = None
        self._filled = False

    def get(self) -> T:
        version = file_version(self.path)
        if not self._filled or version != self._version:
            self._value = self._derive(self.path)
            self._version, self._filled = version, True
        return self._value  # type: ignore[return-value]

    def clear(self) -> None:
        self._value, self._version, self._filled = None, None, False
