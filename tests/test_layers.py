"""The package's layers, held by reading its source (docs/architecture.md).

Rules, each checked on the real tree and shown to catch a planted violation:
1. only `doit_conductor.glue` imports doit;
2. nothing in the plugin imports the glue (the glue calls down, never the reverse);
3. the plugin's packages import each other as a DAG (no circle);
4. no private doit name (`_x` defined in doit's source) is used or overridden
   outside `glue/compat.py`, and no private CPython attribute (`sys._getframe`,
   `Popen._try_wait`) outside `upstream.py` and `glue/compat.py`;
5. no `print`, `sys.stdout` or `sys.stderr` outside the glue and the report
   command's pipeline (`report/command.py`): library code returns data or raises.
"""
from __future__ import annotations

import ast
import graphlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import doit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "doit_conductor"
GLUE = "glue"
COMPAT_MODULES = {"glue/compat.py", "upstream.py"}
CONSOLE_ALLOWED = ("glue/", "report/command.py")
# documented names that start with an underscore: os._exit, namedtuple's API,
# and doit's `Command._execute`, the method its plugin guide has a command define
PUBLIC_UNDERSCORE = {"_exit", "_asdict", "_replace", "_fields", "_make", "_execute"}


@dataclass(frozen=True, slots=True)
class Violation:
    rule: int
    where: str
    what: str

    def __str__(self) -> str:
        return f"rule {self.rule}: {self.where}: {self.what}"


def doit_private_names() -> frozenset[str]:
    """Every `_name` (not dunder) doit defines: functions, methods, attributes."""
    names = set()
    for path in Path(doit.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = None
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = node.name
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                name = node.attr
            if name and name.startswith("_") and not name.startswith("__"):
                names.add(name)
    return frozenset(names)


def _package_of(module: str) -> str:
    """`doit_conductor.codegen.render` -> `codegen`; top-level modules are their own."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _imports(tree: ast.AST, module: str) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == PACKAGE:
                found += [(f"{PACKAGE}.{alias.name}", node.lineno) for alias in node.names]
            else:
                found.append((node.module, node.lineno))
    return found


def violations(root: Path, doit_private: frozenset[str]) -> list[Violation]:
    """What breaks the rules in the package below `root` (`root/doit_conductor`)."""
    found: list[Violation] = []
    edges: dict[str, set[str]] = {}
    own_names: set[str] = set()
    trees = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        relative = path.relative_to(root / PACKAGE).as_posix()
        module = ".".join((PACKAGE, *path.relative_to(root / PACKAGE).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        trees[relative] = (module, ast.parse(path.read_text(encoding="utf-8")))
    for relative, (module, tree) in trees.items():
        package = _package_of(module) if relative.count("/") or module != PACKAGE else PACKAGE
        in_glue = relative.startswith(GLUE + "/")
        for imported, line in _imports(tree, module):
            top = imported.split(".")[0]
            where = f"{relative}:{line}"
            if top == "doit" and not in_glue:
                found.append(Violation(1, where, f"imports {imported}"))
            if imported.startswith(f"{PACKAGE}.{GLUE}") and not in_glue:
                found.append(Violation(2, where, f"imports {imported}"))
            if top == PACKAGE and imported != PACKAGE:
                target = _package_of(imported)
                if target != package and package != PACKAGE:
                    edges.setdefault(package, set()).add(target)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) or (
                    isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                    and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                own_names.add(getattr(node, "name", None) or node.attr)
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as cycle:
        found.append(Violation(3, PACKAGE, "packages import in a circle: "
                                           + " -> ".join(cycle.args[1])))
    for relative, (module, tree) in trees.items():
        if relative in COMPAT_MODULES:
            continue
        console_ok = relative.startswith(CONSOLE_ALLOWED)
        overrides = {node.name for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef)
                     for node in cls.body if isinstance(node, ast.FunctionDef)}
        for node in ast.walk(tree):
            where = f"{relative}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Attribute):
                name = node.attr
                private = name.startswith("_") and not name.startswith("__")
                receiver = node.value.id if isinstance(node.value, ast.Name) else None
                if private and name not in PUBLIC_UNDERSCORE:
                    if name in doit_private:
                        found.append(Violation(4, where, f"private doit name {name}"))
                    elif receiver not in (None, "self", "cls", "super") and \
                            receiver[0].islower() and name not in own_names:
                        found.append(Violation(4, where, f"private {receiver}.{name}"))
                if receiver == "sys" and name in ("stdout", "stderr") and not console_ok:
                    found.append(Violation(5, where, f"sys.{name}"))
            elif isinstance(node, ast.FunctionDef) and node.name in overrides \
                    and node.name in doit_private and node.name not in PUBLIC_UNDERSCORE:
                found.append(Violation(4, where, f"overrides private doit method {node.name}"))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "print" and not console_ok:
                found.append(Violation(5, where, "print()"))
    return found


# -- the real tree ------------------------------------------------------------

def test_the_package_keeps_its_layers():
    problems = violations(ROOT, doit_private_names())
    assert not problems, "\n".join(map(str, problems))


# -- each rule catches a planted violation ------------------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    base = {"__init__.py": "", "errors.py": "", "glue/__init__.py": "",
            "glue/compat.py": "from doit import runner\nrunner.MRunner._run_start_processes\n",
            "codegen/__init__.py": "", "codegen/render.py": "from doit_conductor import errors\n",
            "report/__init__.py": "", "report/command.py": "import sys\nsys.stdout.write('ok')\n"}
    for relative, text in {**base, **files}.items():
        path = tmp_path / PACKAGE / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


PRIVATE = frozenset({"_run_start_processes", "_handle_task_error", "_stop_running"})


def _rules(tmp_path, files) -> set[int]:
    """The rules broken by a fresh planted tree holding `files`."""
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    return {v.rule for v in violations(_tree(root, files), PRIVATE)}


def test_a_clean_planted_tree_passes(tmp_path):
    assert _rules(tmp_path, {}) == set()


def test_rule_1_doit_imported_below_the_glue(tmp_path):
    assert _rules(tmp_path, {"codegen/x.py": "from doit.exceptions import TaskFailed\n"}) == {1}


def test_rule_2_the_glue_imported_from_below(tmp_path):
    assert 2 in _rules(tmp_path, {"codegen/x.py": "from doit_conductor.glue import compat\n"})


def test_rule_3_packages_in_a_circle(tmp_path):
    assert _rules(tmp_path, {"report/x.py": "from doit_conductor.codegen import render\n",
                             "codegen/y.py": "from doit_conductor.report import x\n"}) == {3}


def test_rule_4_a_private_doit_name_outside_compat(tmp_path):
    assert _rules(tmp_path, {"glue/runner.py": "def f(r, node):\n"
                                               "    r._handle_task_error(node, None)\n"}) == {4}
    assert _rules(tmp_path, {"glue/runner.py": "class R:\n"
                                               "    def _run_start_processes(self):\n"
                                               "        pass\n"}) == {4}
    assert _rules(tmp_path, {"codegen/x.py": "import sys\nframe = sys._getframe()\n"}) == {4}


def test_rule_5_library_code_writes_to_the_console(tmp_path):
    assert _rules(tmp_path, {"codegen/x.py": "print('hello')\n"}) == {5}
    assert _rules(tmp_path, {"codegen/x.py": "import sys\nsys.stderr.write('x')\n"}) == {5}
    assert _rules(tmp_path, {"glue/x.py": "import sys\nsys.stderr.write('x')\n"}) == set()
