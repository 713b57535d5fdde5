"""The public API of generated Python modules, read with `ast` (never imported),
and the difference between two such APIs."""
from __future__ import annotations

import ast

from doit_conductor.errors import UserError

API_VERSION = 1
MAX_VALUE_CHARS = 120


def module_api(text: str, path: str) -> dict:
    """Public classes, functions and constants of one module, with signatures."""
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise UserError(f"not valid Python: {exc.msg}", path, exc.lineno) from None
    api: dict[str, dict] = {"classes": {}, "functions": {}, "constants": {}}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(node.name):
            api["functions"][node.name] = signature(node)
        elif isinstance(node, ast.ClassDef) and _public(node.name):
            api["classes"][node.name] = class_api(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for name, value in _assigned(node):
                if _public(name):
                    api["constants"][name] = value
    return api


def class_api(node: ast.ClassDef) -> dict:
    methods, attributes = {}, {}
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(item.name):
            kind = next((d.id for d in item.decorator_list if isinstance(d, ast.Name)
                         and d.id in ("classmethod", "staticmethod", "property")), None)
            methods[item.name] = (f"@{kind} " if kind else "") + signature(item)
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            attributes.update((n, v) for n, v in _assigned(item) if _public(n))
    return {"bases": [ast.unparse(b) for b in node.bases],
            "decorators": [ast.unparse(d) for d in node.decorator_list],
            "methods": methods, "attributes": attributes}


def signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    prefix = "async " if isinstance(node, ast.AsyncFunctionDef) else ""
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"{prefix}({ast.unparse(node.args)}){returns}"


def _assigned(node: ast.Assign | ast.AnnAssign) -> list[tuple[str, str]]:
    value = ast.unparse(node.value) if node.value is not None else ""
    if len(value) > MAX_VALUE_CHARS:
        value = value[:MAX_VALUE_CHARS - 3] + "..."
    if isinstance(node, ast.AnnAssign):
        if isinstance(node.target, ast.Name):
            annotation = ast.unparse(node.annotation)
            return [(node.target.id, f": {annotation}" + (f" = {value}" if value else ""))]
        return []
    return [(t.id, f"= {value}") for t in node.targets if isinstance(t, ast.Name)]


def _public(name: str) -> bool:
    return not name.startswith("_")


def symbols(api: dict) -> dict[str, str]:
    """api.json flattened: qualified name -> what it is (signature or value)."""
    flat: dict[str, str] = {}
    for module, entry in api.get("modules", {}).items():
        for name, sig in entry["functions"].items():
            flat[f"{module}.{name}"] = f"def {sig}"
        for name, value in entry["constants"].items():
            flat[f"{module}.{name}"] = value
        for name, cls in entry["classes"].items():
            flat[f"{module}.{name}"] = f"class({', '.join(cls['bases'])})"
            for member, sig in cls["methods"].items():
                flat[f"{module}.{name}.{member}"] = f"def {sig}"
            for member, value in cls["attributes"].items():
                flat[f"{module}.{name}.{member}"] = value
    return dict(sorted(flat.items()))


def api_document(modules: dict[str, tuple[str, dict]]) -> dict:
    """api.json: module name -> {file, classes, functions, constants}."""
    return {"version": API_VERSION,
            "modules": {name: {"file": file, **api}
                        for name, (file, api) in sorted(modules.items())}}
