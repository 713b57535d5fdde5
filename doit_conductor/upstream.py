"""Every private CPython or Jinja2 API doit-conductor relies on, in one place.

The doit internals are in `doit_conductor.glue.compat` (only the glue may
import doit); these are the ones the layers below the glue need: the probe's
child reaping, the template cache's buckets and template tracebacks, and the
POSIX-only modules, importlib's lazy module.  `tests/test_compat.py` checks
each against what is installed.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from types import ModuleType, TracebackType

from doit_conductor.errors import UserError


# -- platform modules: POSIX only ------------------------------------------------
# `resource` (the probe's CPU and memory figures) and `fcntl` (the run lock, the
# manifest lock) do not exist on Windows.  Only the features that use them ask
# for them, so plain doit commands never notice.


def require_module(name: str, feature: str):
    """Import the platform module `feature` needs; a one-line UserError where it is missing."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise UserError(f"{feature} needs the `{name}` module, which this platform "
                        f"({sys.platform}) does not have") from None

# -- CPython: how subprocess.Popen reaps its child (3.11-3.13) -----------------
# `Popen._try_wait(self, wait_flags)` calls os.waitpid for wait(); and
# `Popen._internal_poll(self, _deadstate=None, _waitpid=os.waitpid, ...)` binds
# os.waitpid as a default argument for poll().  Replacing both makes every reap
# go through wait4, which also returns the child's resource usage.
POPEN_REAP_ATTRIBUTES = ("_try_wait", "_internal_poll")


def install_popen_reaper(try_wait: Callable, waitpid: Callable) -> Callable[[], None] | None:
    """Make subprocess.Popen reap children with `try_wait` / `waitpid`.

    Returns the function that puts Popen back as it was, or None (nothing
    changed) where os.wait4 or Popen's private methods are not as expected.
    """
    popen = subprocess.Popen
    if not hasattr(os, "wait4") or "_try_wait" not in vars(popen):
        return None
    saved_try_wait = vars(popen)["_try_wait"]
    poll = vars(popen).get("_internal_poll")
    saved_defaults = getattr(poll, "__defaults__", None)
    popen._try_wait = try_wait
    if saved_defaults and os.waitpid in saved_defaults:
        poll.__defaults__ = tuple(waitpid if d is os.waitpid else d for d in saved_defaults)

    def undo() -> None:
        popen._try_wait = saved_try_wait
        if poll is not None and saved_defaults is not None:
            poll.__defaults__ = saved_defaults

    return undo


# -- Jinja2: bytecode cache buckets and rewritten tracebacks --------------------
# jinja2 is imported only by the functions that need it (not on doit's path).


def jinja_bucket(environment, key: str):
    """A `jinja2.bccache.Bucket` for `key`, its checksum being the key itself
    (our keys are content hashes, so a bucket never holds stale code)."""
    from jinja2.bccache import Bucket
    return Bucket(environment, key, key)


def traceback_lines(tb: TracebackType | None) -> Iterator[tuple[str, int]]:
    """(file name, line) of each frame, outermost first.

    Jinja2 rewrites a template error's traceback so that the frames of compiled
    template code carry the template's file name and line: the template line is
    found by file name.
    """
    while tb is not None:
        yield tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next


def jinja_compile_site(tb: TracebackType | None) -> tuple[str | None, int | None] | None:
    """(template file, line) of the node Jinja2's code generator was compiling
    when the error in `tb` was raised, or None if it was not compiling.

    Some template mistakes fail at compile time, not render time: Jinja2 folds
    constant expressions and writes their `repr` into the generated code, so
    `{{ 10 ** 5000 }}` fails inside `jinja2.compiler.CodeGenerator`.  Its
    frames hold the generator (`self`, with `filename`) and the AST `node`
    (with `lineno`) being visited; the innermost such frame names the line.
    """
    site = None
    while tb is not None:
        frame = tb.tb_frame
        generator = frame.f_locals.get("self")
        node = frame.f_locals.get("node")
        if type(generator).__name__ == "CodeGenerator" and \
                frame.f_code.co_filename.endswith(os.path.join("jinja2", "compiler.py")):
            site = (getattr(generator, "filename", None), getattr(node, "lineno", None))
        tb = tb.tb_next
    return site


# -- CPython: directory listings --------------------------------------------------
# Which directories a dodo.py lists while it creates tasks is known only by
# watching: `os.scandir` and `os.listdir` are what glob, pathlib and os.walk
# list through.  Replaced for a block only, in doit's own process (the fast
# no-op's recording run), and put back after it.


@contextlib.contextmanager
def directory_listings_noted(note: Callable[[object], None]) -> Iterator[None]:
    """Call `note(path)` for every directory listed in this process while the block runs."""
    real_scandir, real_listdir = os.scandir, os.listdir

    def scandir(path="."):
        note(path)
        return real_scandir(path)

    def listdir(path="."):
        note(path)
        return real_listdir(path)

    os.scandir, os.listdir = scandir, listdir
    try:
        yield
    finally:
        os.scandir, os.listdir = real_scandir, real_listdir


# -- importlib's lazy module (importlib.util._LazyModule) ----------------------
# `LazyLoader.exec_module` gives the module this class; its `__getattribute__`
# executes the module's code on the first attribute read.  That read must not
# be the import machinery's own read of `__spec__` (for `from module import
# name`): CPython clears any exception raised during it (its check that the
# module is not still initialising), a Ctrl-C included.

class LazyModule(importlib.util._LazyModule):
    """importlib's lazy module, its `__spec__` read without executing it."""

    def __getattribute__(self, attr):
        if attr == "__spec__":
            return ModuleType.__getattribute__(self, attr)
        return super().__getattribute__(attr)
