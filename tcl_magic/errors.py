"""The one error family users see: a TclCommandError becomes a Tcl error with its message."""
from __future__ import annotations

import re

import torch

from .results import format_bytes


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


_OUT_OF_MEMORY_WORDS = ("out of memory", "can't allocate memory", "not enough memory")


def out_of_memory(err: Exception) -> bool:
    """torch's allocators (CUDA's OutOfMemoryError, the CPU's RuntimeError) and Python's own."""
    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(err, RuntimeError) and any(words in first_line(err) for words in _OUT_OF_MEMORY_WORDS)


_ASKED = re.compile(r"tried to allocate (\d+) bytes")
"""How torch's CPU allocator states the size it could not get, inside a C++ assertion."""


def out_of_memory_message(err: Exception, retried: bool) -> str:
    """Out of memory in words a user acts on: the size asked for (the CPU allocator's message
    is a C++ assertion, CUDA's is already worded), and whether freeing did not help (a
    command that may run twice is answered only after the sweep and its second call)."""
    asked = _ASKED.search(first_line(err)) if isinstance(err, RuntimeError) else None
    if asked:
        n = int(asked.group(1))
        what = f"out of memory: could not allocate {format_bytes(n)} ({n} bytes) in this process's memory"
    elif isinstance(err, torch.OutOfMemoryError):
        what = first_line(err)
    else:
        what = "out of memory"
    return what + ("; freeing every tensor that nothing reaches did not make room" if retried else "")
