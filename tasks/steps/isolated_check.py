"""Run inside a fresh interpreter (`python -I -S -B isolated_check.py < REQUEST`):
import generated modules, or run the generated unittest suite, and print one JSON
document on stdout.  The request is one JSON document on stdin: it lists every
generated module, which outgrows the command line's per-argument limit.

Standard library only, on purpose: the child runs with no site-packages, which
proves the generated package needs nothing but Python.  `-B` keeps bytecode out
of the output tree.
"""
import importlib
import importlib.machinery
import json
import os
import sys
import traceback
import unittest


def _compile_once() -> None:
    """Each source file compiled once in this process: modules are dropped and
    imported again (each check on its own), and executing them again is the
    point; compiling the same unchanged source again is not (`-B`: no bytecode
    is read or written)."""
    compiled = {}
    get_code = importlib.machinery.SourceFileLoader.get_code

    def cached(self, fullname):
        path = self.get_filename(fullname)
        if path not in compiled:
            compiled[path] = get_code(self, fullname)
        return compiled[path]

    importlib.machinery.SourceFileLoader.get_code = cached


def _where(exc: BaseException, roots: list) -> tuple:
    """The generated file and line an exception points at (innermost frame under
    one of `roots`; a SyntaxError's own position)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno
    found = (None, None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if any(os.path.abspath(frame.filename).startswith(root) for root in roots):
            found = (frame.filename, frame.lineno)
    return found


def import_modules(path: list, modules: list, package: str) -> dict:
    """Import each module on its own (package modules dropped between imports, so
    a module that works only after another was imported is caught)."""
    roots = [os.path.abspath(p) + os.sep for p in path]
    sys.path[:0] = path
    results = []
    for name in modules:
        for loaded in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[loaded]
        # No importlib.invalidate_caches() here: it makes the next import list
        # the package directory again, so N modules cost N listings of N files
        # (10,000 patterns: minutes).  Nothing is written meanwhile, and the
        # finder re-lists a directory whose mtime moved anyway.
        try:
            module = importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - any failure is the finding
            file, line = _where(exc, roots)
            results.append({"module": name, "ok": False, "file": file, "line": line,
                            "error": f"{type(exc).__name__}: {exc}"})
            continue
        file = os.path.abspath(getattr(module, "__file__", "") or "")
        public = sorted(n for n in vars(module) if not n.startswith("_"))
        results.append({"module": name, "ok": any(file.startswith(r) for r in roots),
                        "file": file, "line": None, "public": len(public),
                        "error": None if any(file.startswith(r) for r in roots)
                        else f"imported from {file}, outside {path}",
                        "closure": _loaded_files(package)})
    return {"modules": results}


def _loaded_files(package: str) -> list:
    """The files of the package's modules loaded now: what importing one module
    (the package's modules dropped before it) executed of the package."""
    files = set()
    for name, module in list(sys.modules.items()):
        if name == package or name.startswith(package + "."):
            file = getattr(module, "__file__", None)
            if file:
                files.add(os.path.abspath(file))
    return sorted(files)


class _Result(unittest.TestResult):
    def __init__(self, roots: list):
        super().__init__()
        self.roots = roots
        self.problems = []
        self.passed = []

    def _problem(self, kind: str, test, err) -> None:
        exc = err[1]
        file, line = _where(exc, self.roots)
        message = "".join(traceback.format_exception_only(err[0], exc)).strip().splitlines()
        self.problems.append({"test": test.id(), "kind": kind, "file": file, "line": line,
                              "message": message[-1] if message else kind})

    def addError(self, test, err):
        super().addError(test, err)
        self._problem("error", test, err)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._problem("failure", test, err)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = "failure" if issubclass(err[0], test.failureException) else "error"
            self._problem(kind, subtest, err)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed.append(test.id())


def run_tests(path: list, start: str, modules=None, package=None) -> dict:
    """The suite under `start` (unittest's discovery), or only the test
    `modules` named, each on its own (the package's modules dropped before
    each, as `import_modules` does), with what each run executed of the
    package and its own file (the answer's `modules`: by module, its counts
    and that closure)."""
    roots = [os.path.abspath(p) + os.sep for p in path]
    sys.path[:0] = path
    loader = unittest.TestLoader()
    result = _Result(roots)
    each: dict = {}
    if modules is None:
        loader.discover(start, top_level_dir=start).run(result)
    else:
        sys.path.insert(0, os.path.abspath(start))   # as discovery's top level does
        for name in modules:
            for loaded in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
                del sys.modules[loaded]
            before = result.testsRun, len(result.passed), len(result.skipped)
            loader.loadTestsFromName(name).run(result)
            own = getattr(sys.modules.pop(name, None), "__file__", None)   # done with it
            each[name] = {"run": result.testsRun - before[0],
                          "passed": len(result.passed) - before[1],
                          "skipped": len(result.skipped) - before[2],
                          "closure": sorted({*_loaded_files(package),
                                             *([os.path.abspath(own)] if own else [])})}
    per_module: dict = {}
    for test_id in result.passed + [p["test"] for p in result.problems]:
        module = test_id.split(".")[0]
        per_module[module] = per_module.get(module, 0) + 1
    answer = {"run": result.testsRun, "passed": len(result.passed),
              "failures": len(result.failures), "errors": len(result.errors),
              "skipped": len(result.skipped), "per_module": dict(sorted(per_module.items())),
              "problems": result.problems}
    if modules is not None:
        answer["modules"] = each
    return answer


def main() -> None:
    request = json.loads(sys.stdin.read())
    _compile_once()
    answer_to = sys.stdout
    sys.stdout = sys.stderr   # whatever generated code prints must not garble the answer
    if request["mode"] == "import":
        answer = import_modules(request["path"], request["modules"], request["package"])
    else:
        answer = run_tests(request["path"], request["start"], request.get("modules"),
                           request.get("package"))
    answer_to.write(json.dumps(answer))


if __name__ == "__main__":
    main()
