"""The world, its named groups, and the agreement round every collective starts with.

Every collective starts with one small agreement round in which each member of the group
contributes its status and its tensor's dtype and shape. That round is what lets
non-source ranks learn the source's shape (metadata first, then data), and what turns a
mistake on one rank (a bad handle, mismatched shapes) into the same clear error on every
rank instead of a hang until the timeout. With no process group, or a world of one, the
collectives behave as they really would in a world of one process.
"""
from __future__ import annotations

import atexit
import contextlib
import ipaddress
import itertools
import os
import socket
import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator, Sequence

import torch
import torch.distributed as dist

from ..errors import TclCommandError, first_line
from .board import Board, RoundFailed, connect_store, format_ranks


MAX_DIMS = 10
_DTYPE_CODES = (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int32,
                torch.int64, torch.int8, torch.uint8, torch.bool)
_OPS = ("barrier", "scatter", "gather", "broadcast", "all_reduce", "reduce_scatter", "all_to_all", "new_group",
        "data_parallel", "forward", "backward")
# the commands behind the calls that are not distributed_* commands (data-parallel training)
_COMMANDS = {"data_parallel": "distributed_data_parallel", "forward": "layer_forward", "backward": "tensor_backward"}
# what the integer argument of each call in the agreement round means, for error messages
_ARG_LABELS = {"scatter": "src", "gather": "dst", "broadcast": "root", "all_reduce": "op", "reduce_scatter": "op"}
REDUCE_NAMES = ("sum", "mean", "max", "min", "product")
HEADER_LENGTH = 2 + MAX_DIMS  # dtype code, ndim, dims...: a tensor's metadata on the wire
_SLOT = 3 + HEADER_LENGTH  # status, op code, op argument, then the header


@dataclass(frozen=True)
class Group:
    """A named process group: `pg` None means the default (world) group."""

    name: str
    ranks: tuple[int, ...]
    pg: object | None = None
    key: str = "world"  # its name on the board (user names may hold any character)

    def describe(self) -> str:
        label = f'group "{self.name}"' if self.name else "the world"
        return f"{label} (ranks {format_ranks(self.ranks)})"


@dataclass(frozen=True)
class PeerMeta:
    """What one rank told the others in an agreement round."""

    dtype: torch.dtype
    shape: tuple[int, ...]


def tensor_header(tensor: torch.Tensor) -> torch.Tensor | None:
    """dtype and shape as HEADER_LENGTH int64s; None for a tensor that cannot be described."""
    if tensor.dim() > MAX_DIMS or tensor.dtype not in _DTYPE_CODES:
        return None
    header = torch.zeros(HEADER_LENGTH, dtype=torch.int64)
    header[:2 + tensor.dim()] = torch.tensor([_DTYPE_CODES.index(tensor.dtype), tensor.dim(), *tensor.shape])
    return header


def header_meta(header: Sequence[int]) -> tuple[torch.dtype, tuple[int, ...]]:
    """(dtype, shape) back from a header read as a list."""
    return _DTYPE_CODES[header[0]], tuple(header[2:2 + header[1]])


def chunk_sizes(rows: int, parts: int) -> list[int]:
    """The sizes torch.tensor_split gives: the first `rows % parts` chunks get one more row."""
    base, extra = divmod(rows, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


class Comm:
    """World and named groups of this process; collectives with real data movement."""

    def __init__(self) -> None:
        self._groups: dict[str, Group] = {}
        # the ranks evaluating the current cell when it runs on part of a cluster (None: all)
        self.running_ranks: tuple[int, ...] | None = None
        self._owns_world = False  # True once torch::distributed_init created the world here
        self._store_address: tuple[str, int] | None = None  # the store of a world made here
        self._board: Board | None = None
        self._group_serials = itertools.count(1)
        self.broken: str | None = None  # why the process group cannot be used until it is rebuilt
        self._moving = False  # inside `moving`, once the members agreed
        # (src, tag) -> set once the latest receive from there has posted its data (see p2p)
        self.receive_order: dict[tuple[int, int], object] = {}

    # --- the world ----------------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        return dist.is_available() and dist.is_initialized()

    @property
    def rank(self) -> int:
        return dist.get_rank() if self.initialized else 0

    @property
    def world_size(self) -> int:
        return dist.get_world_size() if self.initialized else 1

    @property
    def is_multi_rank(self) -> bool:
        return self.world_size > 1

    @property
    def backend(self) -> str | None:
        return str(dist.get_backend()) if self.initialized else None

    @property
    def device(self) -> torch.device:
        if self.backend == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def init(self, rank: int, world_size: int, master_addr: str, master_port: int,
             backend: str, timeout_s: float) -> str:
        """Join (or, for a world of one, create) a real process group by TCP rendezvous.

        Inside a cluster the group already exists: report it, and refuse arguments that
        contradict it.
        """
        if self.initialized:
            return self._existing_world(rank, world_size, backend)
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if not 0 <= rank < world_size:
            raise TclCommandError(f"invalid rank parameter: {rank} is not in 0..{world_size - 1} "
                                  f"(world_size {world_size})", "RANK")
        from launcher import addresses  # only here: the launcher package imports ipyparallel

        where = _resolve(master_addr)
        with contextlib.suppress(OSError):  # no route: gloo's own choice, and the rendezvous says why
            addresses.listen_on(addresses.route_source(str(where)))  # where the master is reached
        if backend == "nccl" and not torch.cuda.is_available():
            raise TclCommandError("the nccl backend needs CUDA GPUs and this rank sees none: use -backend gloo",
                                  "BACKEND")
        try:
            store = connect_store(master_addr, master_port, timeout_s, serve=rank == 0, world_size=world_size)
            dist.init_process_group(backend, store=store, rank=rank, world_size=world_size,
                                    timeout=timedelta(seconds=timeout_s))
        except (RuntimeError, ValueError) as err:  # DistStoreError, a busy port, a timeout
            raise TclCommandError(f"rendezvous at tcp://{master_addr}:{master_port} for {world_size} rank(s) "
                                  f"failed: {first_line(err)}", "RENDEZVOUS") from None
        self._store_address = (master_addr, master_port)
        if backend == "nccl":
            torch.cuda.set_device(rank % torch.cuda.device_count())
        self._owns_world = True
        atexit.register(self._release_world)
        where = " (single GPU)" if world_size == 1 else ""
        return f"Distributed training initialized{where}: rank={rank}, world_size={world_size}, backend={backend}"

    def _existing_world(self, rank: int, world_size: int, backend: str) -> str:
        if (rank, world_size) != (self.rank, self.world_size):
            raise TclCommandError(
                f"this process is already rank {self.rank} of a world of {self.world_size} "
                f"({self.backend}); torch::distributed_init asked for rank={rank}, world_size={world_size}",
                "INIT")
        if backend and backend != self.backend:
            raise TclCommandError(f"the process group already uses the {self.backend} backend, not {backend}",
                                  "INIT")
        how = " (by the cluster)" if not self._owns_world else " (single GPU)" if self.world_size == 1 else ""
        return (f"Distributed training initialized{how}: rank={self.rank}, world_size={self.world_size}, "
                f"backend={self.backend}")

    def destroy(self) -> str:
        """End a world this session created with torch::distributed_init."""
        if not self.initialized:
            raise TclCommandError("Distributed not initialized", "INIT")
        if not self._owns_world:
            raise TclCommandError("the cluster owns this process group: restart the cluster instead "
                                  "(%torchtcl cluster restart)", "INIT")
        self._release_world()
        return "Distributed training destroyed"

    def _release_world(self) -> None:
        """Destroy the world this session created; also at exit, since a process that ends
        with a live gloo group now and then aborts in its teardown."""
        if self._owns_world and self.initialized:
            dist.destroy_process_group()
        self._groups.clear()
        self._owns_world, self._store_address, self._board = False, None, None
        atexit.unregister(self._release_world)

    # --- the board: cells, rounds, and what each rank is doing ---------------------------------

    @property
    def board(self) -> Board:
        """This rank's board, in the store of its rendezvous: the launcher's (which outlives
        every rank; MASTER_ADDR and MASTER_PORT name it, as under torchrun) or the one
        torch::distributed_init made."""
        if self._board is None:
            address = self._store_address
            if address is None and os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT", "").isdigit():
                address = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
            if address is None:
                raise TclCommandError("this process group has no store to coordinate its ranks through "
                                      "(MASTER_ADDR and MASTER_PORT are not set): create it with "
                                      "torch::distributed_init or a cluster", "INIT")
            timeout_s = self._world_timeout().total_seconds()
            connect = lambda: connect_store(*address, timeout_s)  # noqa: E731
            self._board = Board(connect(), self.rank, self.world_size, timeout_s, connect)
        return self._board

    def begin_cell(self, cell: str | None) -> None:
        """A new evaluation starts: rounds are counted afresh, peers see this rank running."""
        if self.is_multi_rank:
            with contextlib.suppress(TclCommandError):  # no store: its collectives will say so
                self.board.begin_cell(cell, self.running_ranks)

    def end_cell(self, end: str, error: str = "") -> None:
        """The evaluation ended: peers waiting for this rank in a round stop waiting at once."""
        if self.is_multi_rank and self._board is not None:
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

    # --- groups ---------------------------------------------------------------------------

    def group(self, name: str) -> Group:
        """The group a collective names; "" is the world."""
        if name == "" or not self.is_multi_rank:
            return Group(name, tuple(range(self.world_size)))
        if name not in self._groups:
            raise self._unknown_group(name)
        return self._groups[name]

    def _unknown_group(self, name: str) -> TclCommandError:
        existing = " ".join(f'"{g}"' for g in ['', *self._groups])
        return TclCommandError(f'Unknown process group "{name}". Existing groups: {existing} '
                               '(create one with torch::distributed_new_group)', "GROUP")

    def collective_group(self, name: str) -> Group:
        """The group of a collective, refused if some of its ranks are not running this cell
        (they would never join, and the collective would wait for them until the timeout)."""
        group = self.group(name)
        if self.running_ranks is not None and self.is_multi_rank:
            absent = [r for r in group.ranks if r not in self.running_ranks]
            if absent:
                raise TclCommandError(
                    f"{group.describe()} holds rank{'s' if len(absent) > 1 else ''} {format_ranks(absent)}, "
                    f"which {'are' if len(absent) > 1 else 'is'} not running this cell (it runs on ranks "
                    f"{format_ranks(self.running_ranks)}): the collective would wait for "
                    f"{'them' if len(absent) > 1 else 'it'} forever. Run the cell on every rank of the "
                    "group, or use a group of running ranks", "SUBSET")
        return group

    def new_group(self, name: str, ranks: Sequence[int]) -> Group:
        """Collective over the whole world, like torch's new_group: every rank must call it."""
        if self.running_ranks is not None and self.is_multi_rank:
            raise TclCommandError(f"torch::distributed_new_group is collective over the whole world: every rank "
                                  f"must call it, and this cell runs on ranks {format_ranks(self.running_ranks)} "
                                  "only. Create groups in a cell that runs on every rank", "SUBSET")
        ranks = tuple(sorted(ranks))
        refusal = None
        if name in self._groups:
            refusal = TclCommandError(f'Process group "{name}" already exists: choose another name '
                                      'or destroy it first with torch::distributed_destroy_group', "GROUP")
        elif ranks[-1] >= self.world_size:
            outside = min(r for r in ranks if r >= self.world_size)
            refusal = TclCommandError(f"Rank {outside} is outside the world (ranks "
                                      f"{format_ranks(range(self.world_size))})", "GROUP")
        if not self.is_multi_rank:
            if refusal:
                raise refusal
            self._groups[name] = Group(name, ranks)
            return self._groups[name]
        # every rank checks that all of them create the same group, and fails at once if not
        if refusal:
            self.join_failed("", str(refusal))
            raise refusal
        self.agree(self.group(""), torch.zeros(0), "new_group", zlib.crc32(repr((name, ranks)).encode()))
        with self.moving("distributed_new_group"):
            group = self._make_group(name, ranks)
        self._groups[name] = group
        return group

    def _make_group(self, name: str, ranks: tuple[int, ...]) -> Group:
        pg = dist.new_group(list(ranks), timeout=self._world_timeout())
        return Group(name, ranks, pg, f"g{next(self._group_serials)}")

    def rebuild_groups(self, definitions: list[tuple[str, tuple[int, ...]]]) -> None:
        """After the world was rebuilt: the named groups again, in their order of creation
        (every rank calls this with the same list, as new_group requires)."""
        self._groups = {name: self._make_group(name, tuple(ranks)) for name, ranks in definitions}
        self.broken = None
        if self._board is not None:
            self._board.timeout_s = self._world_timeout().total_seconds()

    def group_definitions(self) -> list[tuple[str, tuple[int, ...]]]:
        return [(g.name, g.ranks) for g in self._groups.values()]

    def _world_timeout(self) -> timedelta:
        """The world's collective timeout, for its subgroups too (torch would give them 30 min)."""
        try:
            return dist.group.WORLD._get_backend(self.device).options._timeout
        except (AttributeError, RuntimeError):
            return timedelta(minutes=30)

    def destroy_group(self, name: str) -> None:
        if not name:
            raise TclCommandError("The world group cannot be destroyed", "GROUP")
        if name not in self._groups:
            raise self._unknown_group(name)
        group = self._groups.pop(name)
        if group.pg is not None and self.rank in group.ranks:
            dist.destroy_process_group(group.pg)

    def check_member_rank(self, label: str, rank: int, group: Group) -> None:
        """Rank parameters are global ranks of the group (any rank >= 0 in a world of one)."""
        if rank < 0:
            raise TclCommandError(f"invalid {label} parameter: {rank} (a rank is >= 0)", "RANK")
        if self.is_multi_rank and rank not in group.ranks:
            raise TclCommandError(f"invalid {label} parameter: rank {rank} is not in "
                                  f"{group.describe()}", "RANK")

    # --- agreement ------------------------------------------------------------------------

    def agree(self, group: Group, tensor: torch.Tensor | None, op: str, arg: int = 0,
              failure: str | None = None) -> list[PeerMeta]:
        """Tell every member this rank's status, call and tensor metadata; learn theirs.

        Raises on every rank if any rank failed, if the ranks are not making the same call
        (another collective, or another src/dst/root), or if a member will never come (it
        left the cell, died, was interrupted), naming the ranks concerned. Runs on the
        board, so a failed round has sent nothing through the process group.
        """
        header = None if tensor is None else tensor_header(tensor)
        if failure is None and tensor is not None and header is None:
            failure = (f"tensors of more than {MAX_DIMS} dimensions or of dtype {tensor.dtype} "
                       "cannot be communicated")
        if failure is None and self.broken:
            failure = f"the process group is broken ({self.broken}); it is rebuilt when this cell ends"
        if failure is not None or tensor is None:
            slot = [1] + [0] * (_SLOT - 1)
        else:
            slot = [0, _OPS.index(op), arg, *header.tolist()]
        try:
            rows = self.board.agree(group.key, group.describe(), group.ranks, _COMMANDS.get(op, f"distributed_{op}"), slot)
        except RoundFailed as err:
            raise TclCommandError(str(err), "INTERRUPTED" if err.interrupted else "PEER") from None
        if failure is not None:
            raise TclCommandError(failure)
        failed = [rank for rank, row in zip(group.ranks, rows) if row[0]]
        if failed:
            raise TclCommandError(f"not run: rank{'s' if len(failed) > 1 else ''} "
                                  f"{format_ranks(failed)} of {group.describe()} reported an error "
                                  "for this call (see that rank's output)", "PEER")
        if len({(row[1], row[2]) for row in rows}) > 1:
            raise TclCommandError(_mismatch(group, rows), "MISMATCH")
        self._moving = True
        return [PeerMeta(*header_meta(row[3:])) for row in rows]

    @contextlib.contextmanager
    def moving(self, op: str, at_once: bool = False) -> Iterator[None]:
        """Around a call that moves data through the process group once its members agreed
        (at once for point-to-point calls, which have no agreement round): an error from
        torch there means the group itself broke (a real timeout, a peer that died in the
        middle): it is marked broken, to be rebuilt when the cell ends."""
        self._moving = at_once
        try:
            yield
        except RuntimeError as err:
            if not self._moving:
                raise
            line = first_line(err)
            self.broken = f"{op} failed while moving data: {line}"
            raise TclCommandError(f"the process group broke during {op} ({line}); it is rebuilt when "
                                  "this cell ends, keeping every rank's variables", "BROKEN") from None
        finally:
            if self._moving and self._board is not None:
                self._board.post("run")
            self._moving = False

    def join_failed(self, group_name: str, message: str) -> None:
        """A rank whose arguments were bad still takes part in the agreement round, so the
        others fail fast too instead of waiting for it until the timeout."""
        try:
            group = self.group(group_name)
        except TclCommandError:
            return
        if self.is_multi_rank and self.rank in group.ranks:
            try:
                self.agree(group, None, "barrier", failure=message)
            except TclCommandError:
                pass

    # --- collectives ----------------------------------------------------------------------

    def empty_like_rows(self, tensor: torch.Tensor) -> torch.Tensor:
        """What a rank outside a collective's group gets: no rows of anything."""
        return tensor.new_empty((0, *tensor.shape[1:])).to(self.device)

    @staticmethod
    def exchange(ops: list) -> None:
        """Run point-to-point operations together and wait for all of them."""
        if ops:
            for work in dist.batch_isend_irecv(ops):
                work.wait()


def _resolve(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address of a master host, or a clear error at once (a name that does not resolve
    would otherwise be retried until long after the timeout)."""
    if not host.strip():
        raise TclCommandError("invalid master_addr parameter: empty (a host name or address, e.g. 127.0.0.1)",
                              "VALUE")
    try:
        return ipaddress.ip_address(socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)[0][4][0])
    except (OSError, UnicodeError, ValueError) as err:
        raise TclCommandError(f'invalid master_addr parameter: "{host}" does not resolve to an address ({err})',
                              "RENDEZVOUS") from None


def _mismatch(group: Group, rows: list[list[int]]) -> str:
    """Which rank asked for what, when the ranks of an agreement round disagree."""
    ops = {_OPS[row[1]] for row in rows}
    if ops in ({"new_group"}, {"data_parallel"}):
        by_call: dict[int, list[int]] = {}
        for rank, row in zip(group.ranks, rows):
            by_call.setdefault(row[2], []).append(rank)
        sets = ", ".join(f"rank{'s' if len(ranks) > 1 else ''} {format_ranks(ranks)} passed {'ABCDEFGH'[i % 8]}"
                         for i, ranks in enumerate(by_call.values()))
        if ops == {"data_parallel"}:
            return (f"the ranks called torch::distributed_data_parallel with different models ({sets}): every "
                    "member must wrap a model with the same parameters (names, shapes, dtypes)")
        return (f"the ranks called torch::distributed_new_group with different names or ranks ({sets}): "
                "every rank must create the same group, with the same name and ranks")
    calls = ", ".join(f"rank {rank}: {_call(row)}" for rank, row in zip(group.ranks, rows))
    return (f"the ranks of {group.describe()} are not making the same call ({calls}): every member must "
            "call the same collective with the same arguments")


def _call(row: list[int]) -> str:
    op, arg = _OPS[row[1]], row[2]
    if op in _COMMANDS:
        return f"{_COMMANDS[op]} of a data-parallel model" if op != "data_parallel" else _COMMANDS[op]
    label = _ARG_LABELS.get(op)
    if label is None:
        return op
    return f"{op} {label}={REDUCE_NAMES[arg] if label == 'op' else arg}"
