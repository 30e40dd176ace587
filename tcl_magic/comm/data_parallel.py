"""Data-parallel training on the ranks of a group, with torch's DistributedDataParallel.

DDP communicates inside calls that do not look like collectives: building the wrapper
(parameters broadcast from the first rank), its forward pass (buffers, bucket indices) and
above all the backward pass (gradients averaged bucket by bucket, from autograd hooks).
Each of these runs an agreement round first, so a rank that errs, skips a step or wraps a
different model stops every member at once with a message naming it, as for any
collective, instead of leaving the others blocked in gloo or NCCL until the timeout.
"""
from __future__ import annotations

import contextlib
import zlib
from typing import Iterator

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import TclCommandError
from .world import Comm, Group

_NOTHING = torch.zeros(0)  # the agreement round's tensor for calls that compare no tensor


class DataParallel(DistributedDataParallel):
    """torch's DDP, knowing its group (whose members every forward and backward must meet)."""

    def __init__(self, module: nn.Module, group: Group, **options) -> None:
        super().__init__(module, process_group=group.pg, **options)
        self.tcl_group = group


class PendingBackward(dict):
    """Board keys -> groups of the data-parallel forward passes that will average
    gradients in the next backward pass (one session's)."""


def wrap(comm: Comm, module: nn.Module, group_name: str) -> nn.Module:
    """The module wrapped for data-parallel training over the group (itself in a world of one)."""
    group = comm.collective_group(group_name)
    if not comm.is_multi_rank:
        return module
    if comm.rank not in group.ranks:
        raise TclCommandError(f"rank {comm.rank} is not in {group.describe()}: only its members can "
                              "train together", "RANK")
    shapes = [(name, tuple(p.shape), str(p.dtype)) for name, p in module.named_parameters()]
    failure = None if shapes else "the module has no parameters to train"
    comm.agree(group, _NOTHING, "data_parallel", zlib.crc32(repr(shapes).encode()) & 0x7FFFFFFF, failure)
    with comm.moving("distributed_data_parallel"):
        module.to(comm.device)
        ids = [comm.device.index or 0] if comm.device.type == "cuda" else None
        return DataParallel(module, group, device_ids=ids)


def forward(comm: Comm, pending: PendingBackward, ddp: DataParallel, inputs: torch.Tensor) -> torch.Tensor:
    group = ddp.tcl_group
    comm.agree(group, _NOTHING, "forward")
    with comm.moving("layer_forward"):
        out = ddp(inputs)
    if torch.is_grad_enabled():
        pending[group.key] = group
    return out


@contextlib.contextmanager
def backward_pass(comm: Comm, pending: PendingBackward) -> Iterator[None]:
    """Around a backward pass: after a data-parallel forward, it averages gradients across
    the group, so every member must run it."""
    groups = list(pending.values())
    pending.clear()
    for group in groups:
        comm.agree(group, _NOTHING, "backward")
    if not groups:
        yield
        return
    with comm.moving("tensor_backward"):
        yield
