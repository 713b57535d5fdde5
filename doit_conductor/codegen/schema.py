"""Parameter schemas of the pattern kinds, in the one validation style
(`doit_conductor.validation`), and the checks across their keys.

Kept as data so a new kind is a new entry here plus its templates.  Validation
returns normalised parameters (defaults filled in) so templates never need to
guess.
"""
from __future__ import annotations

from doit_conductor.validation import Field, SchemaError, check_mapping

IDENT = r"^[a-z][a-z0-9_]{0,62}$"
FIELD_TYPES = ("int", "str", "float", "bool", "date")


FIELD = {
    "name": Field(str, required=True, pattern=IDENT),
    "type": Field(FIELD_TYPES, required=True),
    "required": Field(bool, default=True),
    # at most PostgreSQL's varchar limit: the generated tests build a string
    # one longer, which a larger bound would make gigabytes long
    "max_length": Field(int, default=None, minimum=1, maximum=10_485_760),
    "references": Field(str, default=None, pattern=IDENT),
    "doc": Field(str, default=""),
}

KINDS: dict[str, dict[str, Field]] = {
    "entity": {
        "fields": Field(list, required=True, item=FIELD, max_items=200),
        "primary_key": Field(str, required=True, pattern=IDENT),
        "unique": Field(list, default=[], item=Field(str, pattern=IDENT)),
    },
    "enum": {
        "values": Field(list, required=True, item=Field(str, pattern=r"^[A-Z][A-Z0-9_]{0,62}$"),
                        max_items=500),
        "default": Field(str, default=None),
    },
    "endpoint": {
        "method": Field(("GET", "POST", "PUT", "DELETE"), required=True),
        "path": Field(str, required=True, pattern=r"^(/[a-z0-9_{}]+)+$"),
        "entity": Field(str, required=True, pattern=IDENT),
        "request": Field(list, default=[], item=FIELD, max_items=100),
    },
}


def validate_params(kind: str, params: dict, depends_on: list[str]) -> dict:
    """`params` of a pattern of `kind`, normalised; a SchemaError if they do not fit."""
    result = check_mapping(KINDS[kind], params)
    _cross_checks(kind, result, depends_on)
    return result


def _cross_checks(kind: str, params: dict, depends_on: list[str]) -> None:
    if kind in ("entity", "endpoint"):
        key = "fields" if kind == "entity" else "request"
        names = [f["name"] for f in params[key]]
        for index, name in enumerate(names):
            if names.index(name) != index:
                raise SchemaError((key, index, "name"), f"field '{name}' is defined twice")
        for index, field in enumerate(params[key]):
            ref = field["references"]
            if ref is not None and ref not in depends_on:
                raise SchemaError((key, index, "references"),
                                  f"references '{ref}', which is not in depends_on")
    if kind == "entity":
        names = [f["name"] for f in params["fields"]]
        if params["primary_key"] not in names:
            raise SchemaError(("primary_key",), f"'{params['primary_key']}' is not a field")
        for index, name in enumerate(params["unique"]):
            if name not in names:
                raise SchemaError(("unique", index), f"'{name}' is not a field")
    if kind == "enum":
        values = params["values"]
        if len(set(values)) != len(values):
            raise SchemaError(("values",), "lists a value twice")
        if params["default"] is not None and params["default"] not in values:
            raise SchemaError(("default",), f"'{params['default']}' is not one of the values")
    if kind == "endpoint" and params["entity"] not in depends_on:
        raise SchemaError(("entity",), f"entity '{params['entity']}' must be in depends_on")
