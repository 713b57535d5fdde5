"""Escaping filters, one per target language, so pattern text reaches generated
code only as data, never as code.

Every filter is a no-op (same bytes) for the plain values the bundled patterns
use, so escaping changes nothing for them; hostile text (a newline ending a SQL
comment, a quote ending a string literal, `\"\"\"` ending a docstring) comes out
inert.  Identifiers are checked rather than rewritten where the language has no
quoting (Python): a value that is not an identifier is a template error.
"""
from __future__ import annotations

import json
import re

from jinja2 import TemplateRuntimeError

_PLAIN_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _escape_unprintable(text: str) -> str:
    """Every character that is not printable (newlines, other line breaks such as
    U+2028, control characters, lone surrogates) as a backslash escape."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def one_line(value: object) -> str:
    """Text for a line comment (`-- ...`, `# ...`): a line break cannot end the
    comment early because none is left; each is shown as its escape."""
    return _escape_unprintable(str(value))


def text(value: object) -> str:
    """Text for a paragraph of a document (Markdown): its line breaks kept, every
    other character that is not printable (NUL, a terminal escape, a
    bidirectional override) shown as its escape."""
    value = str(value)
    if value.isprintable():
        return value
    return "\n".join(_escape_unprintable(line) for line in value.split("\n"))


def sql_ident(value: object) -> str:
    """A SQL identifier: bare when plain, otherwise double-quoted with `"` doubled."""
    text = str(value)
    if "\0" in text:
        raise TemplateRuntimeError(f"SQL identifier {text!r} contains a NUL character")
    if _PLAIN_IDENT.match(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def sql_string(value: object) -> str:
    """A SQL string literal, quotes included, `'` doubled."""
    text = str(value)
    if "\0" in text:
        raise TemplateRuntimeError(f"SQL string {text!r} contains a NUL character")
    return "'" + text.replace("'", "''") + "'"


def py_ident(value: object) -> str:
    """A Python identifier, checked: Python has no quoting for names.  (A keyword
    passes: it cannot smuggle code in, and the compile check names the line.)"""
    text = str(value)
    if not text.isidentifier():
        raise TemplateRuntimeError(f"{text!r} is not a valid Python identifier")
    return text


def py_string(value: object) -> str:
    """A Python string literal (double-quoted, as the json filter writes it)."""
    return _escape_unprintable(_json_string(str(value)))


def py_docstring(value: object) -> str:
    """Text inside a `\"\"\"...\"\"\"` docstring: backslashes and double quotes escaped
    so the string cannot end early, unprintable characters as escapes."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return _escape_unprintable(text)


def json_value(value: object) -> str:
    """A JSON literal (also a valid Python literal for str/int/float/list); unlike
    Jinja2's `tojson` it does not HTML-escape, since nothing here is HTML.  Line
    separators U+2028/U+2029 and other unprintable characters are escaped too."""
    if type(value) is str:
        text = _json_string(value)
    elif type(value) is int:
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in text)


# What json.dumps(text, ensure_ascii=False) returns for a str, without building
# an encoder per call (60,000 calls in a cold build of 1,000 patterns).
_json_string = json.encoder.encode_basestring


FILTERS = {
    "one_line": one_line,
    "text": text,
    "sql_ident": sql_ident,
    "sql_string": sql_string,
    "py_ident": py_ident,
    "py_string": py_string,
    "py_docstring": py_docstring,
    "json": json_value,
}
