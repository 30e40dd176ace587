"""The collectives, each the real torch.distributed operation on every member of its group.

Every function follows the same steps: resolve the group (refused if some of its ranks
are not running this cell), check rank arguments against it, answer as a world of one
would when there is no process group, give ranks outside the group an empty tensor, then
declare its call to the agreement layer and move the data inside it. Results are new
tensors on the rank's device.

Memory is taken before the round: a rank that runs out of memory once its peers have
entered gloo would leave them waiting there until the timeout, and break the process
group. So each rank allocates its result before it arrives, in the shape its own tensor
implies (every member's tensor is alike in the usual call), and refuses the call if it
cannot: every member fails at once. When the round shows that some member's tensor
implied another shape than the call needs, every member knows it alike, and they meet in
a second round once those members have allocated.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.distributed as dist

from ..errors import TclCommandError
from .agreement import REDUCE_NAMES, Call, PeerMeta, before_round
from .world import Comm, Group, chunk_sizes

Need = Callable[[int, Sequence[PeerMeta]], "PeerMeta | None"]
"""The result buffer that member i of a call needs (its dtype and shape), from every
member's agreed metadata; None when it needs none."""

REDUCE_OPS = dict(zip(REDUCE_NAMES, (dist.ReduceOp.SUM, dist.ReduceOp.SUM, dist.ReduceOp.MAX,
                                     dist.ReduceOp.MIN, dist.ReduceOp.PRODUCT)))


def _split_refusal(tensor: torch.Tensor, group: Group, what: str) -> str | None:
    if tensor.dim() == 0:
        return (f"a 0-dimensional tensor cannot be {what} across the {len(group.ranks)} ranks of "
                "the group: give it at least one dimension")
    return None


def _describe(metas: list[PeerMeta], group: Group) -> str:
    return ", ".join(f"rank {r}: {list(m.shape)} {str(m.dtype).removeprefix('torch.')}"
                     for r, m in zip(group.ranks, metas))


def _require_same(metas: list[PeerMeta], group: Group, what: str, trailing_only: bool = False) -> None:
    """Every member's tensor must have the same dtype and shape (or the same trailing dims)."""
    shapes = {m.shape[1:] if trailing_only else m.shape for m in metas}
    if len(shapes) > 1 or len({m.dtype for m in metas}) > 1:
        dims = "dtypes or trailing dimensions" if trailing_only else "shapes or dtypes"
        raise TclCommandError(f"cannot {what} tensors of different {dims} ({_describe(metas, group)})", "SHAPE")


def _empty(comm: Comm, meta: PeerMeta | None) -> torch.Tensor | None:
    return None if meta is None else torch.empty(meta.shape, dtype=meta.dtype, device=comm.device)


class _Result:
    """This rank's result buffer: allocated before the round in the shape its own tensor
    implies (`refusal` if memory ran out), checked against the agreed call in the data phase."""

    def __init__(self, comm: Comm, group: Group, need: Need, own: torch.Tensor) -> None:
        self.comm, self.need = comm, need
        self.mine = group.ranks.index(comm.rank)
        members = len(group.ranks)
        self.tensor, self.refusal = before_round(
            lambda: _empty(comm, need(self.mine, [PeerMeta(own.dtype, tuple(own.shape))] * members)))

    def agreed(self, call: Call, metas: Sequence[PeerMeta]) -> torch.Tensor | None:
        """The buffer the agreed call needs. When some member's own tensor implied another
        one (every member sees which from the metadata alike), those members allocate it,
        and all meet in a second round, which fails on every member if one ran out of memory."""
        n = len(metas)
        if metas.count(metas[0]) == n or all(self.need(i, metas) == self.need(i, [metas[i]] * n) for i in range(n)):
            return self.tensor  # (alike tensors: each member planned from the call's own metadata)
        self.tensor = None  # freed before the right one is made
        self.tensor, refusal = before_round(lambda: _empty(self.comm, self.need(self.mine, metas)))
        self.comm.agreement.confirm(Call(call.op, call.group, arg=call.arg, refusal=refusal))
        return self.tensor


def _enter(comm: Comm, group_name: str, tensor: torch.Tensor, rank_label: str | None = None, rank: int = 0,
           alone: Callable[[], torch.Tensor] | None = None) -> tuple[Group, torch.Tensor | None]:
    """What every collective does before communicating: resolve and check the group and the
    rank argument, and give the answers that need no communication (in a world of one, a
    clone or what `alone` makes; outside the group, an empty tensor).
    Returns (group, that answer or None)."""
    group = comm.collective_group(group_name)
    if rank_label is not None:
        try:
            comm.check_member_rank(rank_label, rank, group)
        except TclCommandError as err:  # a rank-dependent argument: the others must not wait for us
            comm.agreement.join_failed(group_name, str(err))
            raise
    if not comm.is_multi_rank:
        return group, tensor.clone() if alone is None else alone()
    if comm.rank not in group.ranks:
        return group, comm.empty_like_rows(tensor)
    return group, None


def scatter(comm: Comm, tensor: torch.Tensor, src: int, group_name: str) -> torch.Tensor:
    """src's tensor split along dim 0 with tensor_split sizes; this rank's chunk."""
    group, early = _enter(comm, group_name, tensor, "src", src)
    if early is not None:
        return early
    source, refusal = None, None
    if comm.rank == src:
        source, refusal = before_round(lambda: tensor.to(comm.device).contiguous())
        refusal = _split_refusal(tensor, group, "split") or refusal
    at = group.ranks.index(src)

    def need(i: int, metas: Sequence[PeerMeta]) -> PeerMeta | None:
        shape = metas[at].shape
        return PeerMeta(metas[at].dtype, (chunk_sizes(shape[0], len(metas))[i], *shape[1:])) if shape else None

    result = _Result(comm, group, need, tensor)
    call = Call("scatter", group, tensor, src, refusal or result.refusal)
    with comm.agreement.collective(call) as metas:
        return _scatter_data(comm, source, src, group, metas[at], result.agreed(call, metas))


def _scatter_data(comm: Comm, source: torch.Tensor | None, src: int, group: Group, meta: PeerMeta,
                  out: torch.Tensor) -> torch.Tensor:
    sizes = chunk_sizes(meta.shape[0], len(group.ranks))
    mine = group.ranks.index(comm.rank)
    chunks = list(source.tensor_split(len(group.ranks))) if comm.rank == src else None
    if len(set(sizes)) == 1:
        dist.scatter(out, chunks, src=src, group=group.pg)
        return out
    # dist.scatter needs equal sizes: uneven chunks travel point to point, exactly sized
    if comm.rank == src:
        out.copy_(chunks[mine])
        comm.exchange([dist.P2POp(dist.isend, chunks[i], r, group.pg)
                       for i, r in enumerate(group.ranks) if r != src and sizes[i]])
    elif sizes[mine]:
        comm.exchange([dist.P2POp(dist.irecv, out, src, group.pg)])
    return out


def gather(comm: Comm, tensor: torch.Tensor, dst: int, group_name: str, concat: bool) -> torch.Tensor:
    """On dst: every member's tensor stacked on a new dim 0 (or concatenated along dim 0)."""
    group, early = _enter(comm, group_name, tensor, "dst", dst,
                          alone=lambda: tensor.clone() if concat else tensor.unsqueeze(0).clone())
    if early is not None:
        return early
    own, refusal = before_round(lambda: tensor.to(comm.device).contiguous())
    if concat and tensor.dim() == 0:
        refusal = "a 0-dimensional tensor cannot be concatenated: give it at least one dimension"
    at = group.ranks.index(dst)

    def need(i: int, metas: Sequence[PeerMeta]) -> PeerMeta | None:
        if i != at or (concat and not all(m.shape for m in metas)):
            return None
        rows = (sum(m.shape[0] for m in metas), *metas[i].shape[1:]) if concat else (len(metas), *metas[i].shape)
        return PeerMeta(metas[i].dtype, rows)

    result = _Result(comm, group, need, tensor)
    call = Call("gather_cat" if concat else "gather", group, tensor, dst, refusal or result.refusal)
    with comm.agreement.collective(call) as metas:
        try:
            _require_same(metas, group, "concatenate" if concat else "stack", trailing_only=concat)
        except TclCommandError as err:
            hint = "" if concat else "; use -mode cat to concatenate chunks of uneven length along dimension 0"
            raise TclCommandError(f"{err}{hint}", "SHAPE") from None
        return _gather_data(comm, own, dst, group, concat, metas, result.agreed(call, metas))


def _gather_data(comm: Comm, tensor: torch.Tensor, dst: int, group: Group, concat: bool,
                 metas: list[PeerMeta], out: torch.Tensor | None) -> torch.Tensor:
    if comm.rank != dst:
        if concat:
            comm.exchange([dist.P2POp(dist.isend, tensor, dst, group.pg)] if tensor.numel() else [])
        else:
            dist.gather(tensor, None, dst=dst, group=group.pg)
        return comm.empty_like_rows(tensor if concat else tensor.unsqueeze(0))
    if not concat:  # received straight into the rows of the result: no stacking copy
        dist.gather(tensor, list(out.unbind(0)), dst=dst, group=group.pg)
        return out
    parts = out.split([m.shape[0] for m in metas])
    parts[group.ranks.index(dst)].copy_(tensor)
    comm.exchange([dist.P2POp(dist.irecv, p, r, group.pg)
                   for p, r in zip(parts, group.ranks) if r != dst and p.numel()])
    return out


def broadcast(comm: Comm, tensor: torch.Tensor, root: int, group_name: str) -> torch.Tensor:
    """root's tensor on every member (shape and dtype from root)."""
    group, early = _enter(comm, group_name, tensor, "root", root)
    if early is not None:
        return early
    at = group.ranks.index(root)
    result = _Result(comm, group, lambda i, metas: None if i == at else metas[at], tensor)
    source, refusal = None, result.refusal
    if comm.rank == root:  # tensors are never modified in place by torch:: commands: root shares its storage
        source, refusal = before_round(lambda: tensor.to(comm.device).contiguous())
    call = Call("broadcast", group, tensor, root, refusal)
    with comm.agreement.collective(call) as metas:
        out = result.agreed(call, metas)
        if comm.rank == root:
            out = source
        dist.broadcast(out, src=root, group=group.pg)
    return out


def all_reduce(comm: Comm, tensor: torch.Tensor, op: str, group_name: str) -> torch.Tensor:
    """The element-wise reduction of every member's tensor, on every member."""
    group, early = _enter(comm, group_name, tensor, alone=lambda: _finish_mean(tensor.clone(), op, 1))
    if early is not None:
        return early
    result, refusal = before_round(lambda: tensor.to(comm.device, copy=True).contiguous())
    with comm.agreement.collective(Call("all_reduce", group, tensor, _op_code(op), refusal)) as metas:
        _require_same(metas, group, "reduce")
        dist.all_reduce(result, op=REDUCE_OPS[op], group=group.pg)
    return _finish_mean(result, op, len(group.ranks))


def reduce_scatter(comm: Comm, tensor: torch.Tensor, op: str, group_name: str) -> torch.Tensor:
    """The element-wise reduction of every member's tensor, split along dim 0; this rank's chunk."""
    group, early = _enter(comm, group_name, tensor, alone=lambda: _finish_mean(tensor.clone(), op, 1))
    if early is not None:
        return early
    refusal = _split_refusal(tensor, group, "split")
    sizes = chunk_sizes(tensor.shape[0], len(group.ranks)) if tensor.dim() else []
    mine = group.ranks.index(comm.rank)

    def buffers() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The input on the device, this rank's chunk, and (for uneven chunks) the whole
        reduction, whose rows the chunk is copied from."""
        source = tensor.to(comm.device).contiguous()
        out = torch.empty((sizes[mine], *tensor.shape[1:]), dtype=tensor.dtype, device=comm.device)
        return source, out, None if len(set(sizes)) == 1 else source.clone()

    made, short = before_round(buffers) if refusal is None else (None, None)
    call = Call("reduce_scatter", group, tensor, _op_code(op), refusal or short)
    with comm.agreement.collective(call) as metas:
        _require_same(metas, group, "reduce")
        source, out, reduced = made
        if reduced is None:
            dist.reduce_scatter_tensor(out, source, op=REDUCE_OPS[op], group=group.pg)
        else:  # uneven chunks: reduce the whole tensor, keep this rank's rows
            dist.all_reduce(reduced, op=REDUCE_OPS[op], group=group.pg)
            out.copy_(reduced.tensor_split(len(group.ranks))[mine])
    return _finish_mean(out, op, len(group.ranks))


def all_to_all(comm: Comm, tensor: torch.Tensor, group_name: str) -> torch.Tensor:
    """Chunk j of every member's tensor goes to member j; received chunks concatenated in rank order."""
    group, early = _enter(comm, group_name, tensor)
    if early is not None:
        return early
    source, refusal = before_round(lambda: tensor.to(comm.device).contiguous())
    members, mine = len(group.ranks), group.ranks.index(comm.rank)

    def need(i: int, metas: Sequence[PeerMeta]) -> PeerMeta | None:
        if not all(m.shape for m in metas):
            return None
        return PeerMeta(metas[i].dtype, (sum(chunk_sizes(m.shape[0], members)[i] for m in metas), *metas[i].shape[1:]))

    result = _Result(comm, group, need, tensor)
    call = Call("all_to_all", group, tensor, 0, _split_refusal(tensor, group, "split") or refusal or result.refusal)
    with comm.agreement.collective(call) as metas:
        _require_same(metas, group, "exchange", trailing_only=True)
        recv_rows = [chunk_sizes(m.shape[0], members)[mine] for m in metas]
        out = result.agreed(call, metas)
        dist.all_to_all_single(out, source, recv_rows, chunk_sizes(tensor.shape[0], members), group=group.pg)
    return out


def barrier(comm: Comm, group_name: str) -> str:
    """Every member waits for the others; the answer says how many met."""
    group = comm.collective_group(group_name)
    if not comm.initialized:
        return "Distributed not initialized"
    if not comm.is_multi_rank:
        dist.barrier()
        return "Barrier synchronized (single GPU)"
    if comm.rank not in group.ranks:
        return f'Barrier skipped: rank {comm.rank} is not in group "{group_name}"'
    with comm.agreement.collective(Call("barrier", group)):
        pass  # the agreement round is the barrier: every member arrived
    where = f' of group "{group_name}"' if group_name else ""
    return f"Barrier synchronized: {len(group.ranks)} ranks{where}"


def _op_code(op: str) -> int:
    return REDUCE_NAMES.index(op)


def _finish_mean(result: torch.Tensor, op: str, members: int) -> torch.Tensor:
    """mean is the sum divided by the group size (gloo has no average of its own); an integer
    tensor's mean is floating-point, in a world of one too."""
    return result / members if op == "mean" else result
