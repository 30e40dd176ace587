"""What one evaluation of Tcl source produced: small, picklable, the same on every rank.

These travel from the ranks back to the notebook or the command line, so they hold only
text and numbers (tensors stay on their ranks; summaries travel).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TclErrorInfo:
    message: str
    info: str  # Tcl's errorInfo: the message and the trace through procs and sourced code
    code: str  # Tcl's errorCode, e.g. "TORCH HANDLE"


@dataclass(frozen=True)
class TensorSummary:
    """One Tcl variable that holds a tensor handle, as the per-rank tables show it."""

    variable: str
    handle: str
    shape: tuple[int, ...]
    dtype: str
    device: str
    nbytes: int


@dataclass
class CellResult:
    rank: int = 0
    result: str = ""
    output: list[tuple[str, str]] = field(default_factory=list)  # (stream, text) in order
    error: TclErrorInfo | None = None
    exit_code: int | None = None  # set when the script called `exit`
    tensors: list[TensorSummary] = field(default_factory=list)
    group_broken: str | None = None  # why this rank's process group broke in the cell (rebuilt after it)
    value_in_variable: bool = False  # the value is a handle a variable holds (`set x [torch::ones 3]`):
    # the table shows it, so the notebook does not show the bare name as the cell's value

    @property
    def ok(self) -> bool:
        return self.error is None and not self.exit_code

    def text(self, stream: str | None = None) -> str:
        """The captured output, all of it or one stream's."""
        return "".join(text for s, text in self.output if stream in (None, s))
