"""Point-to-point transfers: send, recv and their non-blocking forms.

A transfer needs a peer that can complete it: with no process group, to a rank outside
the world, to itself, or to a rank that is not running this cell, it is refused at once
instead of waiting until the timeout (or worse, returning a made-up tensor).

Every tensor travels after a small header (its dtype and shape). The receiver checks the
header against the shape and dtype it asked for before it receives the data: a mismatch
is a clear error naming what was sent, where a bare transfer of the wrong size would
abort the receiving process inside gloo. Headers and data travel on two wire tags made
from the user's tag (2*tag and 2*tag+1), since messages of one tag pair up with receives
in the order both were posted.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from ..errors import TclCommandError
from .agreement import HEADER_LENGTH, MAX_DIMS, header_meta, tensor_header
from .states import format_ranks
from .world import Comm

MAX_TAG = (1 << 30) - 1  # the user's tag t travels as 2t and 2t+1, which must fit an int32


def check_transfer(comm: Comm, command: str, label: str, peer: int, tag: int) -> None:
    """A peer that can complete the transfer, and a tag that fits the wire tags."""
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
    if not 0 <= tag <= MAX_TAG:
        raise TclCommandError(f"invalid tag parameter: {tag} (a tag is an integer from 0 to {MAX_TAG})", "TAG")


def _post_send(comm: Comm, tensor: torch.Tensor, dst: int, tag: int) -> list:
    """Header and data on their way, in that order; their work objects."""
    payload = tensor.to(comm.device).contiguous()
    header = tensor_header(payload)
    if header is None:
        raise TclCommandError(f"a tensor of dtype {str(payload.dtype).removeprefix('torch.')} or of more "
                              f"than {MAX_DIMS} dimensions cannot be sent", "VALUE")
    return [dist.isend(header.to(comm.device), dst, tag=2 * tag), dist.isend(payload, dst, tag=2 * tag + 1)]


class _Receive:
    """One receive: its header is posted at once; its data once the header has arrived.

    Receives from the same (src, tag) post their data in the order they were started,
    each after the previous one's, so that the data pairs up with the header it follows.
    """

    def __init__(self, comm: Comm, shape: tuple[int, ...], src: int, tag: int, dtype: torch.dtype):
        self.comm, self.shape, self.src, self.tag, self.dtype = comm, tuple(shape), src, tag, dtype
        self.header = torch.empty(HEADER_LENGTH, dtype=torch.int64, device=comm.device)
        self.header_work = dist.irecv(self.header, src, tag=2 * tag)
        key = (src, tag)
        self.previous = comm.receive_order.get(key)
        self.data_posted = threading.Event()
        comm.receive_order[key] = self.data_posted

    def complete(self) -> torch.Tensor:
        """Wait for the header, check it, receive the data (drained if it does not match)."""
        try:
            self.header_work.wait()
            if self.previous is not None:
                self.previous.wait()
            sent_dtype, sent_shape = header_meta(self.header.cpu().tolist())
            out = torch.empty(sent_shape, dtype=sent_dtype, device=self.comm.device)
            work = dist.irecv(out, self.src, tag=2 * self.tag + 1)
        finally:
            self.data_posted.set()
        work.wait()
        if (sent_dtype, sent_shape) != (self.dtype, self.shape):
            raise TclCommandError(
                f"rank {self.src} sent a tensor of shape {{{' '.join(map(str, sent_shape))}}} "
                f"{str(sent_dtype).removeprefix('torch.')} with tag {self.tag}, but this receive asked for "
                f"{{{' '.join(map(str, self.shape))}}} {str(self.dtype).removeprefix('torch.')}: the message "
                "was consumed; receive with the sender's shape and dtype", "SHAPE")
        return out


def send(comm: Comm, tensor: torch.Tensor, dst: int, tag: int) -> None:
    check_transfer(comm, "distributed_send", "dst", dst, tag)
    with comm.agreement.data_phase("distributed_send"):
        for work in _post_send(comm, tensor, dst, tag):
            work.wait()


def recv(comm: Comm, shape: tuple[int, ...], src: int, tag: int, dtype: torch.dtype) -> torch.Tensor:
    check_transfer(comm, "distributed_recv", "src", src, tag)
    with comm.agreement.data_phase("distributed_recv"):
        return _Receive(comm, shape, src, tag, dtype).complete()


def wait(comm: Comm, transfer: "PendingTransfer") -> torch.Tensor | None:
    """The end of an isend or irecv: the received tensor, or None for a send."""
    with comm.agreement.data_phase("distributed_wait"):
        return transfer.finish()


@dataclass
class PendingTransfer:
    """A started isend/irecv. Gloo only marks a transfer complete once someone waits on it,
    so a daemon thread does the waiting and `done` can be tested without blocking."""

    complete: object  # () -> the received tensor, or None for a send
    done: threading.Event = field(default_factory=threading.Event)
    received: torch.Tensor | None = None
    error: BaseException | None = None

    def __post_init__(self) -> None:
        threading.Thread(target=self._wait, daemon=True).start()

    def _wait(self) -> None:
        try:
            self.received = self.complete()
        except BaseException as err:  # reported by finish(), on the thread that asked
            self.error = err
        finally:
            self.done.set()

    def finish(self) -> torch.Tensor | None:
        self.done.wait()
        if isinstance(self.error, TclCommandError):
            raise self.error
        if self.error is not None:
            raise RuntimeError(f"the transfer failed: {self.error}")
        return self.received


def isend(comm: Comm, tensor: torch.Tensor, dst: int, tag: int) -> PendingTransfer:
    check_transfer(comm, "distributed_isend", "dst", dst, tag)
    works = _post_send(comm, tensor, dst, tag)

    def complete() -> None:
        for work in works:
            work.wait()
    return PendingTransfer(complete)


def irecv(comm: Comm, shape: tuple[int, ...], src: int, tag: int, dtype: torch.dtype) -> PendingTransfer:
    check_transfer(comm, "distributed_irecv", "src", src, tag)
    return PendingTransfer(_Receive(comm, shape, src, tag, dtype).complete)
