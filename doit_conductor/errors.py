"""The one exception type for mistakes in user input."""
from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a pattern, template, config or command option.

    Rendered as one line, `file:line: message`, at the edge (task action,
    command); never as a traceback.
    """

    def __init__(self, message: str, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = self.file or ""
        if where and self.line is not None:
            where = f"{where}:{self.line}"
        text = f"{where}: {self.message}" if where else self.message
        # One line whatever the input: a file name with a newline in it (or a
        # control character quoted from a file) is shown escaped.
        return text if text.isprintable() else "".join(
            c if c.isprintable() else repr(c)[1:-1] for c in text)
