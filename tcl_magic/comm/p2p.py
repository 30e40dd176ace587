"""Point-to-point transfers: send, recv and their non-blocking forms.

A transfer needs a peer that can complete it: with no process group, to a rank outside
the world, to itself, or to a rank that is not running this cell, it is refused at once
instead of waiting until the timeout (or worse, returning a made-up tensor).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from ..errors import TclCommandError
from .world import Comm, format_ranks


def check_peer(comm: Comm, command: str, label: str, peer: int) -> None:
    if peer < 0:
        raise TclCommandError(f"invalid {label} parameter: {peer} (a rank is >= 0)", "RANK")
    if not comm.is_multi_rank:
        raise TclCommandError(f"torch::{command} needs a peer, and there is none: no process group of more "
                              "than one rank exists (start a cluster, or call torch::distributed_init)", "PEER")
    if peer >= comm.world_size:
        raise TclCommandError(f"invalid {label} parameter: rank {peer} is not in the world "
                              f"(ranks {format_ranks(range(comm.world_size))})", "RANK")
    if peer == comm.rank:
        raise TclCommandError(f"invalid {label} parameter: rank {peer} is this rank, and a transfer to "
                              "oneself would never complete", "RANK")
    if comm.running_ranks is not None and peer not in comm.running_ranks:
        raise TclCommandError(f"invalid {label} parameter: rank {peer} is not running this cell (it runs "
                              f"on ranks {format_ranks(comm.running_ranks)}), so it would never answer", "RANK")


def send(comm: Comm, tensor: torch.Tensor, dst: int, tag: int) -> None:
    check_peer(comm, "distributed_send", "dst", dst)
    dist.send(tensor.to(comm.device).contiguous(), dst, tag=tag)


def recv(comm: Comm, shape: tuple[int, ...], src: int, tag: int, dtype: torch.dtype) -> torch.Tensor:
    check_peer(comm, "distributed_recv", "src", src)
    out = torch.empty(shape, dtype=dtype, device=comm.device)
    dist.recv(out, src, tag=tag)
    return out


@dataclass
class PendingTransfer:
    """A started isend/irecv. Gloo only marks a transfer complete once someone waits on it,
    so a daemon thread does the waiting and `done` can be tested without blocking."""

    work: object
    received: torch.Tensor | None  # the buffer of a receive; None for a send
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        threading.Thread(target=self._wait, daemon=True).start()

    def _wait(self) -> None:
        try:
            self.work.wait()
        except BaseException as err:  # reported by finish(), on the thread that asked
            self.error = err
        finally:
            self.done.set()

    def finish(self) -> torch.Tensor | None:
        self.done.wait()
        if self.error is not None:
            raise RuntimeError(f"the transfer failed: {self.error}")
        return self.received


def isend(comm: Comm, tensor: torch.Tensor, dst: int, tag: int) -> PendingTransfer:
    check_peer(comm, "distributed_isend", "dst", dst)
    payload = tensor.to(comm.device).contiguous()
    return PendingTransfer(dist.isend(payload, dst, tag=tag), None)


def irecv(comm: Comm, shape: tuple[int, ...], src: int, tag: int, dtype: torch.dtype) -> PendingTransfer:
    check_peer(comm, "distributed_irecv", "src", src)
    out = torch.empty(shape, dtype=dtype, device=comm.device)
    return PendingTransfer(dist.irecv(out, src, tag=tag), out)
