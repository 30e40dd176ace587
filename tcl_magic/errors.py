"""The one error family users see: a TclCommandError becomes a Tcl error with its message."""
from __future__ import annotations


class TclCommandError(Exception):
    """A user mistake (or an impossible request): reported to Tcl with exactly this message."""

    def __init__(self, message: str, code: str = "USAGE") -> None:
        super().__init__(message)
        self.errorcode = ("TORCH", code)


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (torch's run on for pages), or its type."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
