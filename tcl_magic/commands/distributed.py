"""The torch::distributed_* commands: argument checking here, data movement in comm.

In a world of one (no process group) every collective does what it would really do for a
single process; on a cluster each call is the real collective on every rank.
"""
from __future__ import annotations

import torch

from ..comm import collectives, p2p
from ..errors import invalid
from ..spec import DTYPE, INT, NUMBER, RANKS, SHAPE, STRING, TENSOR, Param, choice, command

_GROUP = Param("group", STRING, "", help='process group name ("" = the world)')
_TAG = Param("tag", INT, 0, help="message tag: a receive only matches a send with the same tag")
_REDUCE = ("sum", "mean", "max", "min")
MAX_TIMEOUT_S = 7 * 24 * 3600  # a week: longer is a mistake (and overflows the clocks underneath)
MAX_WORLD_SIZE = 1 << 20


@command("get_rank")
def get_rank(ctx):
    """This process's global rank (0 in a world of one)."""
    return ctx.comm.rank


@command("get_world_size")
def get_world_size(ctx):
    """The number of ranks in the world (1 without a process group)."""
    return ctx.comm.world_size


@command("is_distributed")
def is_distributed(ctx):
    """1 when a process group of more than one rank exists."""
    return ctx.comm.is_multi_rank


@command("distributed_init", Param("rank", INT), Param("world_size", INT), Param("master_addr", STRING),
         Param("master_port", INT, 29500), Param("backend", choice("gloo", "nccl"), ""),
         Param("timeout", NUMBER, 60, help="seconds to wait for the other ranks, and for each collective"))
def distributed_init(ctx, rank, world_size, master_addr, master_port, backend, timeout):
    """Join a real process group (inside a cluster: report the one that exists)."""
    if world_size < 1:
        raise invalid("world_size", "Must be at least 1.", world_size)
    if not 0 < master_port < 65536:
        raise invalid("master_port", "Must be a TCP port, 1-65535.", master_port)
    if not 0 < timeout <= MAX_TIMEOUT_S:
        raise invalid("timeout", f"Must be seconds, more than 0 and at most {MAX_TIMEOUT_S}.", timeout)
    if world_size > MAX_WORLD_SIZE:
        raise invalid("world_size", f"Must be at most {MAX_WORLD_SIZE}.", world_size)
    return ctx.comm.init(rank, world_size, master_addr, master_port, backend, float(timeout))


@command("distributed_destroy")
def distributed_destroy(ctx):
    """End the process group this session created with torch::distributed_init."""
    return ctx.comm.destroy()


@command("distributed_new_group", Param("name", STRING), Param("ranks", RANKS))
def distributed_new_group(ctx, name, ranks):
    """Create a named group; collective over the world, like torch's new_group."""
    if not name:
        raise invalid("name", 'Must not be empty: "" already means the world group.', name)
    ctx.comm.new_group(name, ranks)
    return name


@command("distributed_destroy_group", Param("name", STRING))
def distributed_destroy_group(ctx, name):
    """Forget a named group (its name can then be created again)."""
    ctx.comm.destroy_group(name)
    return name


@command("distributed_scatter", Param("tensor", TENSOR), Param("src", INT, 0), _GROUP, group_param="group")
def distributed_scatter(ctx, tensor, src, group):
    """This rank's chunk of src's tensor, split along dim 0 with tensor_split sizes."""
    return collectives.scatter(ctx.comm, tensor, src, group)


@command("distributed_gather", Param("tensor", TENSOR), Param("dst", INT, 0), _GROUP,
         Param("mode", choice("stack", "cat"), "stack", help="stack on a new dim 0, or cat along dim 0"),
         group_param="group")
def distributed_gather(ctx, tensor, dst, group, mode):
    """On dst, every rank's tensor stacked (or concatenated); elsewhere an empty tensor."""
    return collectives.gather(ctx.comm, tensor, dst, group, concat=mode == "cat")


@command("distributed_broadcast", Param("tensor", TENSOR), Param("root", INT, 0), _GROUP, group_param="group",
         also=("broadcast",))
def distributed_broadcast(ctx, tensor, root, group):
    """Root's tensor on every rank."""
    return collectives.broadcast(ctx.comm, tensor, root, group)


@command("distributed_all_reduce", Param("tensor", TENSOR),
         Param("operation", choice(*_REDUCE), "sum", aliases=("op",)), _GROUP, group_param="group",
         also=("all_reduce",))
def distributed_all_reduce(ctx, tensor, operation, group):
    """The element-wise reduction of every rank's tensor, on every rank."""
    return collectives.all_reduce(ctx.comm, tensor, operation, group)


@command("distributed_reduce_scatter", Param("tensor", TENSOR),
         Param("op", choice(*_REDUCE, "product"), "sum", aliases=("operation",)), _GROUP, group_param="group")
def distributed_reduce_scatter(ctx, tensor, op, group):
    """This rank's chunk of the element-wise reduction of every rank's tensor."""
    return collectives.reduce_scatter(ctx.comm, tensor, op, group)


@command("distributed_all_to_all", Param("tensor", TENSOR), _GROUP, group_param="group")
def distributed_all_to_all(ctx, tensor, group):
    """Chunk j of every rank's tensor goes to rank j; this rank's received chunks, in rank order."""
    return collectives.all_to_all(ctx.comm, tensor, group)


@command("distributed_barrier", _GROUP, group_param="group")
def distributed_barrier(ctx, group):
    """Wait until every rank of the group arrives."""
    return collectives.barrier(ctx.comm, group)


@command("distributed_send", Param("tensor", TENSOR), Param("dst", INT), _TAG)
def distributed_send(ctx, tensor, dst, tag):
    """Send a tensor to rank dst; returns once it is on its way."""
    p2p.send(ctx.comm, tensor, dst, tag)
    return "send_completed"


@command("distributed_recv", Param("shape", SHAPE), Param("src", INT), _TAG, Param("dtype", DTYPE, torch.float32))
def distributed_recv(ctx, shape, src, tag, dtype):
    """Receive a tensor of this shape and dtype from rank src."""
    return p2p.recv(ctx.comm, shape, src, tag, dtype)


@command("distributed_isend", Param("tensor", TENSOR), Param("dst", INT), _TAG)
def distributed_isend(ctx, tensor, dst, tag):
    """Start sending; returns a work handle for distributed_wait / distributed_test."""
    return ctx.handles.add_work(f"isend_handle_dst{dst}_tag{tag}", p2p.isend(ctx.comm, tensor, dst, tag))


@command("distributed_irecv", Param("shape", SHAPE), Param("src", INT), _TAG,
         Param("dtype", DTYPE, torch.float32))
def distributed_irecv(ctx, shape, src, tag, dtype):
    """Start receiving; returns a work handle whose wait gives the tensor."""
    return ctx.handles.add_work(f"irecv_handle_src{src}_tag{tag}", p2p.irecv(ctx.comm, shape, src, tag, dtype))


@command("distributed_wait", Param("handle", STRING))
def distributed_wait(ctx, handle):
    """Wait for a transfer: a new tensor handle for a receive, send_completed for a send."""
    received = p2p.wait(ctx.comm, ctx.handles.get_work(handle))  # the handle stays valid: test says true
    return "send_completed" if received is None else received


@command("distributed_test", Param("handle", STRING))
def distributed_test(ctx, handle):
    """true if the transfer has completed, false if not; never blocks."""
    return "true" if ctx.handles.get_work(handle).done.is_set() else "false"
