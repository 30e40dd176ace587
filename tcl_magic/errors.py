"""The one error family users see: a TclCommandError becomes a Tcl error with its message."""
from __future__ import annotations


class TclCommandError(Exception):
    """A user mistake (or an impossible request): reported to Tcl with exactly this message."""

    def __init__(self, message: str, code: str = "USAGE") -> None:
        super().__init__(message)
        self.errorcode = ("TORCH", code)


def invalid(label: str, why: str, got: object, code: str = "VALUE") -> TclCommandError:
    """The one way a bad parameter value is worded, the original's: `Invalid LABEL parameter.
    WHY Got: "VALUE"` (WHY a sentence; LABEL as the user wrote it: `dim` or `-dim`)."""
    return TclCommandError(f'Invalid {label} parameter. {why} Got: "{got}"', code)


def invalid_rank(label: str, why: str) -> TclCommandError:
    """A src, dst or root that names no rank the call can reach. Lower-case `invalid`: the
    original's own scatter tests check `invalid src parameter` for a negative src."""
    return TclCommandError(f"invalid {label} parameter: {why}", "RANK")


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (torch's run on for pages), or its type."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
