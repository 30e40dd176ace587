"""The world of this process and its named groups.

With no process group, or a world of one, the collectives behave as they really would in
a world of one process. Every call that moves data agrees first (agreement.py).
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import ipaddress
import itertools
import socket
import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Sequence

import torch
import torch.distributed as dist

from ..errors import TclCommandError, first_line, invalid, invalid_rank
from .agreement import Agreement, Call
from .stores import connect_store
from .states import format_ranks


@dataclass(frozen=True)
class Group:
    """A named process group: `pg` None means the default (world) group."""

    name: str
    ranks: tuple[int, ...]
    pg: object | None = None
    key: str = "world"  # its name on the board (user names may hold any character)

    def describe(self) -> str:
        return self._description

    @functools.cached_property
    def _description(self) -> str:
        label = f'group "{self.name}"' if self.name else "the world"
        return f"{label} (ranks {format_ranks(self.ranks)})"


@dataclass(frozen=True)
class _WorldFacts:
    pg: object | None  # the default process group they describe (None: no process group)
    rank: int
    size: int
    backend: str | None


_NO_WORLD = _WorldFacts(None, 0, 1, None)
_DISTRIBUTED = dist.is_available()
_CPU = torch.device("cpu")


def chunk_sizes(rows: int, parts: int) -> list[int]:
    """The sizes torch.tensor_split gives: the first `rows % parts` chunks get one more row."""
    base, extra = divmod(rows, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


class Comm:
    """World and named groups of this process; collectives with real data movement."""

    def __init__(self) -> None:
        self._groups: dict[str, Group] = {}
        self._world_facts = _NO_WORLD
        # the ranks evaluating the current cell when it runs on part of a cluster (None: all)
        self.running_ranks: tuple[int, ...] | None = None
        self._owns_world = False  # True once torch::distributed_init created the world here
        self.store_address: tuple[str, int] | None = None  # the store of a world made here
        self._group_serials = itertools.count(1)
        self.agreement = Agreement(self)
        # a transfer's round key -> set once the latest transfer of that key posted its data (p2p)
        self.transfer_order: dict[str, object] = {}

    # --- the world ----------------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        return _DISTRIBUTED and dist.is_initialized()

    def _world(self) -> _WorldFacts:
        """The process group's facts, looked up once per group: a collective asks for them
        several times, and each of torch's lookups costs microseconds."""
        pg = dist.group.WORLD if _DISTRIBUTED else None  # None until a group is made
        if self._world_facts.pg is not pg:
            self._world_facts = _WorldFacts(pg, dist.get_rank(), dist.get_world_size(), str(dist.get_backend())) \
                if pg is not None else _NO_WORLD
        return self._world_facts

    @property
    def rank(self) -> int:
        return self._world().rank

    @property
    def world_size(self) -> int:
        return self._world().size

    @property
    def is_multi_rank(self) -> bool:
        return self._world().size > 1

    @property
    def backend(self) -> str | None:
        return self._world().backend

    @property
    def device(self) -> torch.device:
        """The GPU this rank uses (the current CUDA device) with nccl, else the CPU."""
        if self._world().backend == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return _CPU

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
            raise invalid("rank", f"Must be in 0..{world_size - 1} (world_size {world_size}).", rank, "RANK")
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
        self.store_address = (master_addr, master_port)
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
        self._owns_world, self.store_address = False, None
        self.agreement.forget_board()
        atexit.unregister(self._release_world)

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
        definition = zlib.crc32(repr((name, ranks)).encode())
        call = Call("new_group", self.group(""), arg=definition, refusal=refusal)
        with self.agreement.collective(call):
            group = self._make_group(name, ranks)
        self._groups[name] = group
        return group

    def _make_group(self, name: str, ranks: tuple[int, ...]) -> Group:
        pg = dist.new_group(list(ranks), timeout=self.world_timeout())
        return Group(name, ranks, pg, f"g{next(self._group_serials)}")

    def rebuild_groups(self, definitions: list[tuple[str, tuple[int, ...]]]) -> None:
        """After the world was rebuilt: the named groups again, in their order of creation
        (every rank calls this with the same list, as new_group requires)."""
        self._groups = {name: self._make_group(name, tuple(ranks)) for name, ranks in definitions}
        self.agreement.broken = None

    def group_definitions(self) -> list[tuple[str, tuple[int, ...]]]:
        return [(g.name, g.ranks) for g in self._groups.values()]

    def world_timeout(self) -> timedelta:
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
            raise invalid_rank(label, f"{rank} (a rank is >= 0)")
        if self.is_multi_rank and rank not in group.ranks:
            raise invalid_rank(label, f"rank {rank} is not in {group.describe()}")

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
        raise invalid("master_addr", "Must be a host name or address, e.g. 127.0.0.1.", host)
    try:
        return ipaddress.ip_address(socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)[0][4][0])
    except (OSError, UnicodeError, ValueError) as err:
        raise invalid("master_addr", f"Does not resolve to an address ({err}).", host, "RENDEZVOUS") from None
