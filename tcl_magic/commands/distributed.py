"""The torch::distributed_* commands: argument checking here, data movement in comm.

In a world of one (no process group) every collective does what it would really do for a
single process; on a cluster each call is the real collective on every rank.
"""
from __future__ import annotations

from ..errors import TclCommandError
from ..spec import INT, STRING, TENSOR, Param, choice, command

_GROUP = Param("group", STRING, "", help='process group name ("" = the world)')
_REDUCE_OPS = ("sum", "mean", "max", "min")


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


def _rank_list(text: str, ctx) -> list[int]:
    try:
        ranks = [int(word) for word in ctx.split_list(text)]
    except ValueError:
        raise TclCommandError(f'Invalid ranks parameter. Must be a list of integers. Got: "{text}"',
                              "VALUE") from None
    if not ranks or min(ranks) < 0 or len(set(ranks)) != len(ranks):
        raise TclCommandError(f'Invalid ranks parameter. Must be a non-empty list of distinct ranks >= 0. '
                              f'Got: "{text}"', "VALUE")
    return ranks


@command("distributed_new_group", Param("name", STRING), Param("ranks", STRING))
def distributed_new_group(ctx, name, ranks):
    """Create a named group; collective over the world, like torch's new_group."""
    if not name:
        raise TclCommandError('Invalid name parameter: "" already means the world group', "VALUE")
    ctx.comm.new_group(name, _rank_list(ranks, ctx))
    return name


@command("distributed_scatter", Param("tensor", TENSOR), Param("src", INT, 0), _GROUP,
         group_param="group")
def distributed_scatter(ctx, tensor, src, group):
    """This rank's chunk of src's tensor, split along dim 0 with tensor_split sizes."""
    return ctx.comm.scatter(tensor, src, group)


@command("distributed_gather", Param("tensor", TENSOR), Param("dst", INT, 0), _GROUP,
         Param("mode", choice("stack", "cat"), "stack", help="stack on a new dim 0, or cat along dim 0"),
         group_param="group")
def distributed_gather(ctx, tensor, dst, group, mode):
    """On dst, every rank's tensor stacked (or concatenated); elsewhere an empty tensor."""
    return ctx.comm.gather(tensor, dst, group, concat=mode == "cat")


@command("distributed_broadcast", Param("tensor", TENSOR), Param("root", INT, 0), _GROUP,
         group_param="group")
def distributed_broadcast(ctx, tensor, root, group):
    """Root's tensor on every rank."""
    return ctx.comm.broadcast(tensor, root, group)


@command("distributed_all_reduce", Param("tensor", TENSOR),
         Param("operation", choice(*_REDUCE_OPS), "sum", aliases=("op",)), _GROUP,
         group_param="group")
def distributed_all_reduce(ctx, tensor, operation, group):
    """The element-wise reduction of every rank's tensor, on every rank."""
    return ctx.comm.all_reduce(tensor, operation, group)
