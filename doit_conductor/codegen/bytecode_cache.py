"""A content-addressed, verified disk cache of compiled Jinja2 templates.

Jinja2's own `FileSystemBytecodeCache` keys entries by template name and reads a
pickled checksum from the file, so a planted file runs code on load.  Here:

* the key is an xxhash of everything the compiled code depends on: the Jinja2
  and Python versions, the environment's settings, the template name and its
  source — a changed template misses, an unchanged one hits in any process;
* an entry is the code, sealed (`doit_conductor.sealed`: checksummed marshal);
  a truncated or garbled entry fails the checksum and is rebuilt, never executed;
* the directory is created private (0700) and entries not owned by this user
  are refused;
* hits refresh the entry's mtime so `finish.collect_template_cache` can evict least recently
  used entries first, bounded by count and by bytes.
"""
from __future__ import annotations

import logging

import importlib.util
import os
import sys
from pathlib import Path

import jinja2
import xxhash
from jinja2.bccache import Bucket, BytecodeCache

from doit_conductor import safe_fs, upstream
from doit_conductor.errors import UserError
from doit_conductor.layout import TEMPLATE_CACHE_SUFFIX as SUFFIX
from doit_conductor.fsio import atomic_write
from doit_conductor.profiling import counters
from doit_conductor.sealed import Unsealed, seal, unseal

log = logging.getLogger(__name__)   # routed to the console by the glue

MAGIC = b"conductor-jbc1 "
_VERSION_SALT = f"{jinja2.__version__}|{importlib.util.MAGIC_NUMBER.hex()}|{sys.version_info[:2]}"


class TemplateBytecodeCache(BytecodeCache):
    def __init__(self, directory: str):
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0
        self.rejected = 0
        self.usable = _private_dir(self.directory)

    def get_bucket(self, environment, name, filename, source):
        settings = (type(environment).__name__, environment.trim_blocks,
                    environment.lstrip_blocks, environment.keep_trailing_newline,
                    environment.autoescape, tuple(sorted(environment.filters)))
        key = xxhash.xxh3_128_hexdigest(f"{_VERSION_SALT}|{settings}|{name}\0{source}".encode())
        bucket = upstream.jinja_bucket(environment, key)
        self.load_bytecode(bucket)
        # A codegen action's stdout: doit shows it at `-v 2` only.
        log.info("[cache %s] %s", "miss" if bucket.code is None else "hit", name)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self.usable and self._read(self.directory / (bucket.key + SUFFIX))
        if code is None or code is False:
            self.misses += 1
            counters.add("template_cache_misses")
            return
        bucket.code = code
        self.hits += 1
        counters.add("template_cache_hits")

    def dump_bytecode(self, bucket: Bucket) -> None:
        if not self.usable or bucket.code is None:
            return
        try:
            atomic_write(self.directory / (bucket.key + SUFFIX), seal(MAGIC, bucket.code))
        except OSError:
            pass  # a full or read-only cache costs speed, never correctness

    def _read(self, path: Path):
        try:
            fd = safe_fs.open_regular(path)
        except UserError:
            return self._reject(path, "not a file of this user")
        except OSError:
            return None
        try:
            if os.fstat(fd).st_uid != os.getuid():
                return self._reject(path, "not a file of this user")
            raw = safe_fs.read_fd(fd, path)
        except OSError:
            return None
        finally:
            os.close(fd)
        try:
            code = unseal(MAGIC, raw)
        except Unsealed as exc:
            return self._reject(path, str(exc))
        try:
            # least recently used goes first at collection; the name was just
            # opened as a regular file, and utime on a link would follow it
            with safe_fs.parent(path) as (fd, name):
                os.utime(name, dir_fd=fd, follow_symlinks=False)
        except (OSError, UserError):
            pass
        return code

    def _reject(self, path: Path, reason: str) -> None:
        """Never load an entry that is not ours and intact; say so in one line
        (the template is compiled again and the entry replaced)."""
        self.rejected += 1
        counters.add("template_cache_rejected")
        log.warning("WARNING: %s: template cache entry refused (%s); "
                    "compiling the template again", path, reason)
        return None

    def clear(self) -> None:
        for entry in safe_fs.entries(self.directory):
            if entry.name.endswith(SUFFIX) and entry.kind != safe_fs.DIRECTORY:
                safe_fs.unlink(entry.path)


def _private_dir(directory: Path) -> bool:
    """Create the cache directory 0700; refuse one that others own or can write.
    A link at its place (or on the way) is refused by name before anything is
    changed: its mode is never set through the link (see `safe_fs`)."""
    try:
        safe_fs.make_dirs(directory, mode=0o700)
        info = safe_fs.stat_dir(directory)
    except OSError:
        return False
    if info.st_uid != os.getuid():
        log.warning("WARNING: %s: template cache directory belongs to another user; "
                    "not using it", directory)
        return False
    if info.st_mode & 0o077:
        try:
            safe_fs.chmod_dir(directory, 0o700)
        except OSError:
            return False
    return True

