"""Modules imported on first use.

A module from `lazy_module` is executed when one of its attributes is first
read (importlib's LazyLoader).  For imports that most runs never use:

* dodo.py is imported on every `doit`, the fast no-op included, before the
  no-op check can end the run, and the workflow's actions and checks are
  needed only once tasks are created (about 30 ms of a 165 ms no-op at 1,000
  patterns);
* PyYAML costs ~18 ms to import (its reader compiles a large regex), and a
  codegen worker, which reads patterns as JSON, never parses YAML."""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from doit_conductor import upstream


def lazy_module(name: str) -> ModuleType:
    """The module `name`, executed when first used (at once if already imported)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    retrying = _Retrying(spec.loader)
    loader = importlib.util.LazyLoader(retrying)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    module.__class__ = retrying.lazy_class = upstream.LazyModule
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


class _Retrying:
    """The module's own loader, for its execution on first use.  importlib's
    lazy module stops being lazy before it executes the code, so an execution
    that fails part-way (a Ctrl-C in the first tenth of a second of a run)
    left a half-made module that every later import read: `cannot import name
    ...` instead of the interrupt.  Here a failed execution puts the module
    back as it was, lazy, and the next use executes it anew, as an import
    after a failed import does."""

    def __init__(self, loader) -> None:
        self.loader = loader
        self.lazy_class: type | None = None

    def __getattr__(self, name: str):
        if name in ("loader", "lazy_class"):   # unpickling: not set yet
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __reduce__(self):
        return _Retrying, (self.loader,)

    def exec_module(self, module: ModuleType) -> None:
        before = dict(module.__dict__)
        try:
            self.loader.exec_module(module)
        except BaseException:
            module.__dict__.clear()
            module.__dict__.update(before)
            if self.lazy_class is not None:
                module.__class__ = self.lazy_class
            raise
        # run: the module's own loader again, as an eager import leaves it
        module.__loader__ = module.__spec__.loader = self.loader
