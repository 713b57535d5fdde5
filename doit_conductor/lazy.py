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


def lazy_module(name: str) -> ModuleType:
    """The module `name`, executed when first used (at once if already imported)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module
