"""The collectives, each the real torch.distributed operation on every member of its group.

Every function follows the same steps: resolve the group (refused if some of its ranks
are not running this cell), check rank arguments against it, answer as a world of one
would when there is no process group, give ranks outside the group an empty tensor, then
declare its call to the agreement layer and move the data inside it. Results are new
tensors on the rank's device.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.distributed as dist

from ..errors import TclCommandError
from .agreement import REDUCE_NAMES, Call, PeerMeta
from .world import Comm, Group, chunk_sizes

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
    refusal = _split_refusal(tensor, group, "split") if comm.rank == src else None
    with comm.agreement.collective(Call("scatter", group, tensor, src, refusal)) as metas:
        return _scatter_data(comm, tensor, src, group, metas[group.ranks.index(src)])


def _scatter_data(comm: Comm, tensor: torch.Tensor, src: int, group: Group, meta: PeerMeta) -> torch.Tensor:
    sizes = chunk_sizes(meta.shape[0], len(group.ranks))
    mine = group.ranks.index(comm.rank)
    out = torch.empty((sizes[mine], *meta.shape[1:]), dtype=meta.dtype, device=comm.device)
    chunks = None
    if comm.rank == src:
        chunks = list(tensor.to(comm.device).contiguous().tensor_split(len(group.ranks)))
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
    tensor = tensor.to(comm.device).contiguous()
    refusal = "a 0-dimensional tensor cannot be concatenated: give it at least one dimension" \
        if concat and tensor.dim() == 0 else None
    with comm.agreement.collective(Call("gather", group, tensor, dst, refusal)) as metas:
        try:
            _require_same(metas, group, "concatenate" if concat else "stack", trailing_only=concat)
        except TclCommandError as err:
            hint = "" if concat else "; use -mode cat to concatenate chunks of uneven length along dimension 0"
            raise TclCommandError(f"{err}{hint}", "SHAPE") from None
        return _gather_data(comm, tensor, dst, group, concat, metas)


def _gather_data(comm: Comm, tensor: torch.Tensor, dst: int, group: Group, concat: bool,
                 metas: list[PeerMeta]) -> torch.Tensor:
    if comm.rank != dst:
        if concat:
            comm.exchange([dist.P2POp(dist.isend, tensor, dst, group.pg)] if tensor.numel() else [])
        else:
            dist.gather(tensor, None, dst=dst, group=group.pg)
        return comm.empty_like_rows(tensor if concat else tensor.unsqueeze(0))
    if not concat:  # received straight into the rows of the result: no stacking copy
        out = torch.empty((len(group.ranks), *tensor.shape), dtype=tensor.dtype, device=comm.device)
        dist.gather(tensor, list(out.unbind(0)), dst=dst, group=group.pg)
        return out
    rows = [m.shape[0] for m in metas]
    out = torch.empty((sum(rows), *tensor.shape[1:]), dtype=tensor.dtype, device=comm.device)
    parts = out.split(rows)
    parts[group.ranks.index(dst)].copy_(tensor)
    comm.exchange([dist.P2POp(dist.irecv, p, r, group.pg)
                   for p, r in zip(parts, group.ranks) if r != dst and p.numel()])
    return out


def broadcast(comm: Comm, tensor: torch.Tensor, root: int, group_name: str) -> torch.Tensor:
    """root's tensor on every member (shape and dtype from root)."""
    group, early = _enter(comm, group_name, tensor, "root", root)
    if early is not None:
        return early
    with comm.agreement.collective(Call("broadcast", group, tensor, root)) as metas:
        meta = metas[group.ranks.index(root)]
        if comm.rank == root:
            # tensors are never modified in place by torch:: commands, so root can share its storage
            out = tensor.to(comm.device).contiguous()
        else:
            out = torch.empty(meta.shape, dtype=meta.dtype, device=comm.device)
        dist.broadcast(out, src=root, group=group.pg)
    return out


def all_reduce(comm: Comm, tensor: torch.Tensor, op: str, group_name: str) -> torch.Tensor:
    """The element-wise reduction of every member's tensor, on every member."""
    group, early = _enter(comm, group_name, tensor, alone=lambda: _finish_mean(tensor.clone(), op, 1))
    if early is not None:
        return early
    result = tensor.to(comm.device, copy=True).contiguous()
    with comm.agreement.collective(Call("all_reduce", group, result, _op_code(op))) as metas:
        _require_same(metas, group, "reduce")
        dist.all_reduce(result, op=REDUCE_OPS[op], group=group.pg)
    return _finish_mean(result, op, len(group.ranks))


def reduce_scatter(comm: Comm, tensor: torch.Tensor, op: str, group_name: str) -> torch.Tensor:
    """The element-wise reduction of every member's tensor, split along dim 0; this rank's chunk."""
    group, early = _enter(comm, group_name, tensor, alone=lambda: _finish_mean(tensor.clone(), op, 1))
    if early is not None:
        return early
    tensor = tensor.to(comm.device).contiguous()
    call = Call("reduce_scatter", group, tensor, _op_code(op), _split_refusal(tensor, group, "split"))
    with comm.agreement.collective(call) as metas:
        _require_same(metas, group, "reduce")
        sizes = chunk_sizes(tensor.shape[0], len(group.ranks))
        mine = group.ranks.index(comm.rank)
        out = torch.empty((sizes[mine], *tensor.shape[1:]), dtype=tensor.dtype, device=comm.device)
        if len(set(sizes)) == 1:
            dist.reduce_scatter_tensor(out, tensor, op=REDUCE_OPS[op], group=group.pg)
        else:  # uneven chunks: reduce the whole tensor, keep this rank's rows
            reduced = tensor.clone()
            dist.all_reduce(reduced, op=REDUCE_OPS[op], group=group.pg)
            out.copy_(reduced.tensor_split(len(group.ranks))[mine])
    return _finish_mean(out, op, len(group.ranks))


def all_to_all(comm: Comm, tensor: torch.Tensor, group_name: str) -> torch.Tensor:
    """Chunk j of every member's tensor goes to member j; received chunks concatenated in rank order."""
    group, early = _enter(comm, group_name, tensor)
    if early is not None:
        return early
    tensor = tensor.to(comm.device).contiguous()
    with comm.agreement.collective(Call("all_to_all", group, tensor, 0, _split_refusal(tensor, group, "split"))) \
            as metas:
        _require_same(metas, group, "exchange", trailing_only=True)
        members, mine = len(group.ranks), group.ranks.index(comm.rank)
        send_rows = chunk_sizes(tensor.shape[0], members)
        recv_rows = [chunk_sizes(m.shape[0], members)[mine] for m in metas]
        out = torch.empty((sum(recv_rows), *tensor.shape[1:]), dtype=tensor.dtype, device=comm.device)
        dist.all_to_all_single(out, tensor, recv_rows, send_rows, group=group.pg)
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
