"""The agreement layer: every call that moves data through the process group first agrees
with the other members of its group, then moves the data under a guard.

A call declares what it is (a `Call`: its op, its group, its tensor, its rank or reduce
argument, or why this rank cannot make it) and runs its data phase inside
`Agreement.collective(call)`. The layer runs the agreement round on the board (board.py),
in which each member posts its status, its call and its tensor's dtype and shape, and
raises the same clear error on every member when any member failed, is making another
call, or will never come (it left the cell, died, was interrupted). Nothing enters the
process group unless every member agreed. Once the data phase started, an error from
torch means the process group itself broke (a real timeout, a peer that died in the
middle): it is marked broken, to be rebuilt when the cell ends.

Non-source ranks learn the source's shape from the round (metadata first, then data), so
a collective's body only moves data.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Callable, Iterator, Sequence, TypeVar

import torch

from ..errors import TclCommandError, first_line, out_of_memory, out_of_memory_message
from .board import Board
from .rounds import RoundFailed
from .stores import connect_store
from .states import format_ranks
from .timeline import Timeline, moved_bytes

if TYPE_CHECKING:
    from .world import Comm, Group

MAX_DIMS = 10
_DTYPE_CODES = (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int32,
                torch.int64, torch.int8, torch.uint8, torch.bool)
REDUCE_NAMES = ("sum", "mean", "max", "min", "product")
# op -> (the command users call, what its integer argument means in messages)
CALLS = {
    "barrier": ("distributed_barrier", None),
    "scatter": ("distributed_scatter", "src"),
    "gather": ("distributed_gather", "dst"),
    "gather_cat": ("distributed_gather", "dst"),  # -mode cat: another data phase, so another call
    "broadcast": ("distributed_broadcast", "root"),
    "all_reduce": ("distributed_all_reduce", "op"),
    "reduce_scatter": ("distributed_reduce_scatter", "op"),
    "all_to_all": ("distributed_all_to_all", None),
    "new_group": ("distributed_new_group", None),  # the argument: a checksum of the definition
    "data_parallel": ("distributed_data_parallel", None),  # ... of the model's parameters
    "forward": ("layer_forward", None),
    "backward": ("tensor_backward", None),
    "send": ("distributed_send", "tag"),
    "recv": ("distributed_recv", "tag"),
}
_OPS = tuple(CALLS)


def op_code(op: str) -> int:
    """How a slot names the call `op` (a key of CALLS)."""
    return _OPS.index(op)


_NOTHING = torch.zeros(0)


@dataclass(frozen=True)
class Call:
    """What a call that moves data declares before it does: the layer agrees on it."""

    op: str  # a key of CALLS
    group: "Group"
    tensor: torch.Tensor | None = _NOTHING  # its dtype and shape go to the other members
    arg: int = 0  # src, dst, root, reduce op, a definition's checksum
    refusal: str | TclCommandError | None = None  # why this rank cannot make the call: every member fails
    payload: int = 0  # bytes it carries each way that no agreed tensor describes (a DDP step's gradients)

    @property
    def command(self) -> str:
        return CALLS[self.op][0]


@dataclass(frozen=True)
class PeerMeta:
    """What one member told the others in an agreement round."""

    dtype: torch.dtype
    shape: tuple[int, ...]


def meta_slot(dtype: torch.dtype, shape: Sequence[int]) -> list[int] | None:
    """A tensor's dtype and shape as a round's slot carries them; None when they cannot be
    described (more than MAX_DIMS dimensions, a dtype of no code)."""
    if len(shape) > MAX_DIMS or dtype not in _DTYPE_CODES:
        return None
    return [_DTYPE_CODES.index(dtype), len(shape), *shape]


def header_meta(header: Sequence[int]) -> tuple[torch.dtype, tuple[int, ...]]:
    """(dtype, shape) back from a slot's metadata read as a list."""
    return _DTYPE_CODES[header[0]], tuple(header[2:2 + header[1]])


T = TypeVar("T")


def before_round(make: Callable[[], T]) -> tuple[T | None, TclCommandError | None]:
    """`make()`, which allocates what a call's data phase needs, run before the round: (its
    value, None), or (None, this rank's refusal) when memory ran out. Out of memory in the
    data phase would leave the other members waiting inside gloo until the timeout, and the
    process group broken; refused in the round, it fails the call on every member at once."""
    try:
        return make(), None
    except (RuntimeError, MemoryError) as err:
        if not out_of_memory(err):
            raise
        return None, TclCommandError(out_of_memory_message(err, retried=False), "MEMORY")


class Agreement:
    """This rank's side of the agreement layer: its cells on the board, its interrupts, its
    agreement rounds, and whether its process group broke."""

    def __init__(self, comm: "Comm") -> None:
        self.comm = comm
        self._board: Board | None = None
        self.broken: str | None = None  # why the process group cannot be used until it is rebuilt
        self.timeline = Timeline()  # this cell's calls, for the notebook's view
        self.cell_started = time.time()

    def forget_board(self) -> None:
        """The world this board served is gone (destroyed by torch::distributed_destroy)."""
        self._board = None

    @property
    def board(self) -> Board:
        """This rank's board: in the shared-memory store of the launcher when every rank runs
        on the caller's host, else in the TCP store of the rendezvous (the launcher's, which
        outlives every rank, named by MASTER_ADDR and MASTER_PORT as under torchrun, or the
        one torch::distributed_init made)."""
        if self._board is None:
            comm = self.comm
            timeout_s = comm.world_timeout().total_seconds()
            self._board = Board(self._connect(timeout_s), comm.rank, comm.world_size, timeout_s,
                                lambda: self._connect(timeout_s))
        return self._board

    def _connect(self, timeout_s: float):
        if self.comm.store_address is None and "MASTER_ADDR" in os.environ:  # a launcher's rank
            from launcher import terms  # only here: the launcher package imports ipyparallel
            from launcher.shared_store import SharedStore
            if os.environ.get(terms.SHARED_STORE):
                return SharedStore(os.environ[terms.SHARED_STORE], timedelta(seconds=timeout_s))
        address = self.comm.store_address
        if address is None and os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT", "").isdigit():
            address = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
        if address is None:
            raise TclCommandError("this process group has no store to coordinate its ranks through "
                                  "(MASTER_ADDR and MASTER_PORT are not set): create it with "
                                  "torch::distributed_init or a cluster", "INIT")
        return connect_store(*address, timeout_s)

    # --- cells and interrupts ---------------------------------------------------------------

    def begin_cell(self, cell: str | None) -> bool:
        """A new evaluation starts: rounds are counted afresh, peers see this rank running.
        True when the front end interrupted the cell before it began here (its signal came
        too early to be heard): the evaluation must not run."""
        self.timeline.reset()
        self.cell_started = time.time()
        if self.comm.is_multi_rank:
            with contextlib.suppress(TclCommandError):  # no store: its collectives will say so
                return self.board.begin_cell(cell, self.comm.running_ranks)
        return False

    def end_cell(self, end: str, error: str = "") -> None:
        """The evaluation ended: peers waiting for this rank in a round stop waiting at once."""
        if self.comm.is_multi_rank and self._board is not None:
            self._board.end_cell(end, error)

    @property
    def interrupted_while(self) -> str | None:
        """What this rank was doing when the cell was interrupted (None: it was not)."""
        return None if self._board is None else self._board.interrupted_while

    def interrupt(self) -> str:
        """From the interrupt watcher thread: stop waiting in a round; what this rank was doing."""
        if self._board is None:
            return "running Tcl"
        self._board.interrupt()
        return self._board.interrupted_while

    # --- the round and the data phase -----------------------------------------------------

    @contextlib.contextmanager
    def collective(self, call: Call) -> Iterator[list[PeerMeta]]:
        """Agree on `call` with the members of its group (every member's dtype and shape, in
        member order), then run the data phase inside the guard: an error from torch there
        means the process group broke."""
        arrived = time.time()
        try:
            metas = self._agree(call)
        except TclCommandError as err:
            now = time.time()
            self._record(call, (arrived, now, now, now), (), first_line(err))
            raise
        agreed, outcome = time.time(), "ok"
        try:
            yield metas
        except RuntimeError as err:  # from torch, once the members agreed: the group broke
            outcome = first_line(err) or type(err).__name__
            raise self.broke(call.command, err) from None
        except BaseException as err:
            outcome = first_line(err) or type(err).__name__
            raise
        finally:
            self.board.post("run")
            now = time.time()
            self._record(call, (arrived, agreed, now, now), metas, outcome)

    def confirm(self, call: Call) -> None:
        """One more round inside `call`'s data phase, before data moves: every member says
        whether it can go on (`call.refusal`: why not, e.g. it could not allocate what the
        agreed call needs), and all fail alike if one cannot. Part of the call, so no line
        of its own in the timeline."""
        self._agree(call)

    def _record(self, call: Call, times: tuple, metas: Sequence[PeerMeta], outcome: str) -> None:
        group = call.group
        if call.payload:
            sent = received = call.payload
        else:
            sent, received = moved_bytes(call.op, call.arg, metas, group.ranks, self.comm.rank) if metas else (0, 0)
        self.timeline.record(call.command, group.describe(), group.key, group.ranks, times, sent, received, outcome)

    def broke(self, command: str, err: BaseException) -> TclCommandError:
        """The process group broke while `command` moved data (a real timeout, a peer that died
        in the middle): it is rebuilt when the cell ends. The error to raise."""
        line = first_line(err)
        self.broken = f"{command} failed while moving data: {line}"
        return TclCommandError(f"the process group broke during {command} ({line}); it is rebuilt when "
                               "this cell ends, keeping every rank's variables", "BROKEN")

    def join_failed(self, group_name: str, message: str) -> None:
        """A rank whose arguments were bad still takes part in the agreement round, so the
        others fail fast too instead of waiting for it until the timeout."""
        with contextlib.suppress(TclCommandError):
            group = self.comm.group(group_name)
            if self.comm.is_multi_rank and self.comm.rank in group.ranks:
                now = time.time()
                self.timeline.record("a refused call", group.describe(), group.key, group.ranks, (now,) * 4,
                                     outcome=message)
                self._agree(Call("barrier", group, None, refusal=message))

    def _agree(self, call: Call) -> list[PeerMeta]:
        """Tell every member this rank's status, call and tensor metadata; learn theirs, or
        raise the round's failure (the same on every member)."""
        refusal = call.refusal
        header = None if call.tensor is None else meta_slot(call.tensor.dtype, call.tensor.shape)
        if refusal is None and call.tensor is not None and header is None:
            refusal = (f"tensors of more than {MAX_DIMS} dimensions or of dtype {call.tensor.dtype} "
                       "cannot be communicated")
        if refusal is None and self.broken:
            refusal = f"the process group is broken ({self.broken}); it is rebuilt when this cell ends"
        slot = [1] if refusal is not None or header is None else [0, op_code(call.op), call.arg, *header]
        group = call.group
        try:
            rows = self.board.agree(group.key, group.describe(), group.ranks, call.command, slot)
        except RoundFailed as err:
            code = "INTERRUPTED" if err.verdict.failure == "interrupted" else "PEER"
            raise TclCommandError(str(err), code) from None
        try:
            _check_agreed(group, rows, refusal)
        except TclCommandError:
            self.board.post("run")  # no data phase follows
            raise
        return [PeerMeta(*header_meta(row[3:])) for row in rows]


def _check_agreed(group: "Group", rows: list[list[int]], refusal: str | TclCommandError | None) -> None:
    """The members' slots say that every member can make the same call, or this raises why not."""
    if refusal is not None:
        raise refusal if isinstance(refusal, TclCommandError) else TclCommandError(refusal)
    failed = [rank for rank, row in zip(group.ranks, rows) if row[0]]
    if failed:
        raise TclCommandError(f"not run: rank{'s' if len(failed) > 1 else ''} "
                              f"{format_ranks(failed)} of {group.describe()} reported an error "
                              "for this call (see that rank's output)", "PEER")
    if len({(row[1], row[2]) for row in rows}) > 1:
        raise TclCommandError(_mismatch(group, rows), "MISMATCH")


def _mismatch(group: "Group", rows: list[list[int]]) -> str:
    """Which rank asked for what, when the ranks of an agreement round disagree."""
    ops = {_OPS[row[1]] for row in rows}
    if ops in ({"new_group"}, {"data_parallel"}):
        by_call: dict[int, list[int]] = {}
        for rank, row in zip(group.ranks, rows):
            by_call.setdefault(row[2], []).append(rank)
        sets = ", ".join(f"rank{'s' if len(ranks) > 1 else ''} {format_ranks(ranks)} passed {_letters(i)}"
                         for i, ranks in enumerate(by_call.values()))
        if ops == {"data_parallel"}:
            return (f"the ranks called torch::distributed_data_parallel with different models ({sets}): every "
                    "member must wrap a model with the same parameters (names, shapes, dtypes)")
        return (f"the ranks called torch::distributed_new_group with different names or ranks ({sets}): "
                "every rank must create the same group, with the same name and ranks")
    calls = ", ".join(f"rank {rank}: {_call(row)}" for rank, row in zip(group.ranks, rows))
    return (f"the ranks of {group.describe()} are not making the same call ({calls}): every member must "
            "call the same collective with the same arguments")


def _letters(i: int) -> str:
    """A, B, ..., Z, AA, AB, ...: labels for the distinct definitions the ranks passed."""
    label = ""
    i += 1
    while i:
        i, rest = divmod(i - 1, 26)
        label = chr(ord("A") + rest) + label
    return label


def _call(row: list[int]) -> str:
    op, arg = _OPS[row[1]], row[2]
    command, label = CALLS[op]
    if op in ("forward", "backward"):
        return f"{command} of a data-parallel model"
    if op == "data_parallel":
        return command
    name = "gather -mode cat" if op == "gather_cat" else op
    if label is None:
        return name
    return f"{name} {label}={REDUCE_NAMES[arg] if label == 'op' else arg}"
