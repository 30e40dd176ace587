"""Point-to-point transfers: send, recv and their non-blocking forms, each agreed first.

A transfer needs a peer that can complete it: with no process group, to a rank outside
the world, to itself, or to a rank that is not running this cell, it is refused at once
instead of waiting until the timeout (or worse, returning a made-up tensor).

Like a collective, a transfer agrees before anything enters the process group: the two
sides meet in a round of their own on the board (one per direction and tag, counted in
order, so a send pairs with the receive it really meets), where the sender posts its
tensor's dtype and shape and the receiver the dtype and shape it asks for. A peer that ends
its cell without the matching call, dies, or is interrupted fails the round: the error
names it at once, on both sides, and the process group stays healthy. A receive that asks
for another shape or dtype fails on both sides before any data moves. Then the data travels
with gloo's or NCCL's own send and receive.

Every transfer runs on a thread of its own from the moment it is posted (isend and irecv
return at once; send and recv wait for it), since gloo only completes a transfer that
someone waits on, and an isend's data must flow while its rank goes on.
"""
from __future__ import annotations

import threading
import time

import torch
import torch.distributed as dist

from ..errors import TclCommandError, first_line, invalid, invalid_rank
from .agreement import MAX_DIMS, before_round, header_meta, meta_slot, op_code
from .rounds import RoundFailed
from .states import format_ranks, pair_key
from .world import Comm

MAX_TAG = (1 << 30) - 1


def check_transfer(comm: Comm, command: str, label: str, peer: int, tag: int) -> None:
    """A peer that can complete the transfer, and a tag gloo accepts."""
    if peer < 0:
        raise invalid_rank(label, f"{peer} (a rank is >= 0)")
    if not comm.is_multi_rank:
        raise TclCommandError(f"torch::{command} needs a peer, and there is none: no process group of more "
                              "than one rank exists (start a cluster, or call torch::distributed_init)", "PEER")
    if peer >= comm.world_size:
        raise invalid_rank(label, f"rank {peer} is not in the world (ranks {format_ranks(range(comm.world_size))})")
    if peer == comm.rank:
        raise invalid_rank(label, f"rank {peer} is this rank, and a transfer to oneself would never complete")
    if comm.running_ranks is not None and peer not in comm.running_ranks:
        raise invalid_rank(label, f"rank {peer} is not running this cell (it runs on ranks "
                                  f"{format_ranks(comm.running_ranks)}), so it would never answer")
    if not 0 <= tag <= MAX_TAG:
        raise invalid("tag", f"Must be an integer from 0 to {MAX_TAG}.", tag, "TAG")


class Transfer:
    """One side of a transfer: posted on the board at once, completed on its own thread
    (agreement, then data); `finish` gives its result to the rank that waits for it."""

    def __init__(self, comm: Comm, command: str, op: str, peer: int, tag: int, tensor: torch.Tensor | None,
                 shape: tuple[int, ...] = (), dtype: torch.dtype = torch.float32):
        self.comm, self.command, self.op, self.peer, self.tag = comm, command, op, peer, tag
        self.times = [time.time(), 0.0, 0.0]  # arrived, agreed, data moved: for the cell's timeline
        self.recorded = False
        src, dst = (comm.rank, peer) if op == "send" else (peer, comm.rank)
        self.src, self.dst = src, dst
        if tensor is not None:
            dtype, shape = tensor.dtype, tuple(tensor.shape)
        mine = meta_slot(dtype, shape)
        refusal = None if mine is not None else TclCommandError(
            f"a tensor of dtype {_dtype(dtype)} or of more than {MAX_DIMS} dimensions cannot be "
            f"{'sent' if op == 'send' else 'received'}", "VALUE")
        # what the data phase sends or receives into, allocated before the round (agreement.before_round)
        # unless the call is refused already
        self.payload, short = (None, None) if refusal else before_round(
            lambda: tensor.to(comm.device).contiguous() if tensor is not None
            else torch.empty(shape, dtype=dtype, device=comm.device))
        refusal = refusal or short
        slot = [1] if refusal else [0, op_code(op), tag, *mine]
        self.refusal = refusal
        self.pair = comm.agreement.board.arrive_pair(
            pair_key(src, dst, tag), f"the transfer from rank {src} to rank {dst} (tag {tag})",
            sorted((src, dst)), command, op == "send", slot)
        order = comm.transfer_order
        self.previous, self.data_posted = order.get(self.pair.group), threading.Event()
        order[self.pair.group] = self.data_posted
        self.done = threading.Event()
        self.received: torch.Tensor | None = None
        self.error: BaseException | None = None
        threading.Thread(target=self._complete, name=f"torch-{command}", daemon=True).start()

    def _complete(self) -> None:
        try:
            rows = self.comm.agreement.board.pair_verdict(self.pair)
            self.times[1] = time.time()
            self._check(rows)
            self.received = self._move_data()
        except BaseException as err:  # reported by finish(), on the thread that asks
            self.error = err
        finally:
            self.times[1] = self.times[1] or time.time()
            self.times[2] = time.time()
            self.data_posted.set()  # a later transfer of the same round key may go on
            self.done.set()

    def _check(self, rows: list[list[int]]) -> None:
        """Both sides fail alike: a side that refused, or a receive of another shape or dtype."""
        if self.refusal:
            raise self.refusal
        by_rank = dict(zip(self.pair.members, rows))
        refused = [r for r, row in by_rank.items() if row[0]]
        if refused:
            raise TclCommandError(f"not run: rank {refused[0]} reported an error for {self.pair.label} "
                                  "(see that rank's output)", "PEER")
        (sent_dtype, sent), (asked_dtype, asked) = header_meta(by_rank[self.src][3:]), header_meta(by_rank[self.dst][3:])
        if (sent_dtype, sent) != (asked_dtype, asked):
            raise TclCommandError(
                f"rank {self.src} sent a tensor of shape {_shape(sent)} {_dtype(sent_dtype)} with tag {self.tag}, "
                f"but rank {self.dst}'s receive asked for {_shape(asked)} {_dtype(asked_dtype)}: nothing was "
                "sent; receive with the sender's shape and dtype", "SHAPE")

    def _move_data(self) -> torch.Tensor | None:
        """After the round agreed: the data, posted after the previous transfer of the same
        direction and tag (gloo pairs messages of one tag in the order they are posted)."""
        if self.previous is not None:
            self.previous.wait()
        try:
            if self.op == "send":
                work = dist.isend(self.payload, self.dst, tag=self.tag)
                out = None
            else:  # the sender's shape and dtype: the round checked that they are the ones asked for
                out = self.payload
                work = dist.irecv(out, self.src, tag=self.tag)
        finally:
            self.data_posted.set()
        work.wait()
        return out

    def finish(self) -> torch.Tensor | None:
        """Wait for the transfer (seen by peers as waiting in its round); its received tensor
        (None for a send), or its error: the round's failure, or a broken process group."""
        board = self.comm.agreement.board
        if not self.done.is_set():
            with board.waiting_in(self.pair, self.peer):
                if not self.done.wait(board.timeout_s):
                    board.time_out(self.pair)
                    self.done.wait()
        self._record()
        if isinstance(self.error, RoundFailed):
            code = "INTERRUPTED" if self.error.verdict.failure == "interrupted" else "PEER"
            raise TclCommandError(str(self.error), code)
        if isinstance(self.error, TclCommandError):
            raise self.error
        if self.error is not None:
            raise self.comm.agreement.broke(self.command, self.error)
        return self.received


    def _record(self) -> None:
        """Once, when the rank takes the transfer's result: its line in the cell's timeline."""
        if self.recorded:
            return
        self.recorded = True
        moved = self.payload if self.op == "send" else self.received
        nbytes = 0 if moved is None else moved.numel() * moved.element_size()
        outcome = "ok" if self.error is None else first_line(self.error)
        self.comm.agreement.timeline.record(
            self.command, self.pair.label, self.pair.group, self.pair.members, (*self.times, time.time()),
            nbytes if self.op == "send" and self.error is None else 0, nbytes if self.op == "recv" else 0, outcome)


def _shape(shape: tuple[int, ...]) -> str:
    return "{" + " ".join(map(str, shape)) + "}"


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def send(comm: Comm, tensor: torch.Tensor, dst: int, tag: int) -> None:
    check_transfer(comm, "distributed_send", "dst", dst, tag)
    Transfer(comm, "distributed_send", "send", dst, tag, tensor).finish()


def recv(comm: Comm, shape: tuple[int, ...], src: int, tag: int, dtype: torch.dtype) -> torch.Tensor:
    check_transfer(comm, "distributed_recv", "src", src, tag)
    return Transfer(comm, "distributed_recv", "recv", src, tag, None, tuple(shape), dtype).finish()


def isend(comm: Comm, tensor: torch.Tensor, dst: int, tag: int) -> Transfer:
    check_transfer(comm, "distributed_isend", "dst", dst, tag)
    return Transfer(comm, "distributed_isend", "send", dst, tag, tensor)


def irecv(comm: Comm, shape: tuple[int, ...], src: int, tag: int, dtype: torch.dtype) -> Transfer:
    check_transfer(comm, "distributed_irecv", "src", src, tag)
    return Transfer(comm, "distributed_irecv", "recv", src, tag, None, tuple(shape), dtype)


def wait(comm: Comm, transfer: Transfer) -> torch.Tensor | None:
    """The end of an isend or irecv: the received tensor, or None for a send."""
    return transfer.finish()

