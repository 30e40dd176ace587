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


@dataclass(frozen=True)
class CallEvent:
    """One collective or transfer as this rank lived it (wall-clock seconds, comparable
    between ranks of one host): when it arrived, when the members agreed, when its data
    had moved and when it left; what the notebook's timeline draws."""

    op: str  # the command, e.g. distributed_scatter
    group: str  # the group as people read it: 'the world (ranks 0-3)'
    key: str  # the group's board key (a transfer's: its direction and tag), with `index`
    index: int  # the how-many-th call on `key` in this cell: matches the same call across ranks
    members: tuple[int, ...]
    arrived: float
    agreed: float  # the round ended (agreed or failed)
    moved: float  # the data phase ended (== agreed when none ran)
    left: float
    sent: int = 0  # bytes this rank put on the wire (estimated from the agreed shapes)
    received: int = 0
    outcome: str = "ok"  # or why the call did not run


@dataclass(frozen=True)
class RankFacts:
    """Where a rank runs and what its cell did over time; small, for the notebook view."""

    host: str
    device: str
    rss: int  # resident memory of the process, bytes
    cuda: int | None  # CUDA memory allocated by torch on this rank's device, bytes (None: no GPU)
    started: float  # wall-clock seconds
    ended: float
    events: tuple[CallEvent, ...] = ()
    stats: dict = field(default_factory=dict)  # variable -> (min, max, mean) for small numeric tensors
    dropped: int = 0  # calls past the timeline's limit, counted but not kept


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
    facts: RankFacts | None = None  # host, memory, the cell's collectives over time (the notebook view)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.exit_code

    def text(self, stream: str | None = None) -> str:
        """The captured output, all of it or one stream's."""
        return "".join(text for s, text in self.output if stream in (None, s))


def format_bytes(count: int) -> str:
    """A size as people read it: '512 B', '95.4 MiB', '149.0 GiB'."""
    for unit in ("B", "KiB", "MiB"):
        if count < 1024:
            return f"{count} B" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"
