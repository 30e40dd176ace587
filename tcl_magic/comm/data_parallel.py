"""Data-parallel training on the ranks of a group, with torch's DistributedDataParallel.

DDP communicates inside calls that do not look like collectives: building the wrapper
(parameters broadcast from the first rank), its forward pass (buffers, bucket indices) and
above all the backward pass (gradients averaged bucket by bucket, from autograd hooks).
Each of these that communicates is declared to the agreement layer, so a rank that errs,
skips a step or wraps a different model stops every member at once with a message naming
it, as for any collective, instead of leaving the others blocked in gloo or NCCL until the
timeout. Once DDP has rebuilt its buckets (its second step), a forward pass of a model
without buffers sends nothing, so a training step is one round: its backward pass's.
"""
from __future__ import annotations

import contextlib
import zlib
from typing import Iterator

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import TclCommandError
from .agreement import Call
from .world import Comm, Group


class DataParallel(DistributedDataParallel):
    """torch's DDP, knowing its group (whose members every forward and backward must meet)."""

    def __init__(self, module: nn.Module, group: Group, **options) -> None:
        super().__init__(module, process_group=group.pg, **options)
        self.tcl_group = group


class PendingBackward(dict):
    """Board keys -> (group, gradient bytes) of the data-parallel forward passes that will
    average gradients in the next backward pass (one session's)."""


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
    call = Call("data_parallel", group, arg=zlib.crc32(repr(shapes).encode()) & 0x7FFFFFFF, refusal=failure,
                payload=_parameter_bytes(module))
    with comm.agreement.collective(call):
        module.to(comm.device)
        ids = [comm.device.index or 0] if comm.device.type == "cuda" else None
        return DataParallel(module, group, device_ids=ids)


def forward(comm: Comm, pending: PendingBackward, ddp: DataParallel, inputs: torch.Tensor) -> torch.Tensor:
    group = ddp.tcl_group
    with comm.agreement.collective(Call("forward", group)) if _forward_communicates(ddp) \
            else contextlib.nullcontext():  # nothing is sent: an error here is the caller's
        out = ddp(inputs)
    if torch.is_grad_enabled():
        pending[group.key] = (group, _parameter_bytes(ddp))
    return out


@contextlib.contextmanager
def backward_pass(comm: Comm, pending: PendingBackward) -> Iterator[None]:
    """Around a backward pass: after a data-parallel forward, it averages gradients across
    the group, so every member must run it."""
    steps = list(pending.values())
    pending.clear()
    with contextlib.ExitStack() as rounds:
        for group, gradient_bytes in steps:
            rounds.enter_context(comm.agreement.collective(Call("backward", group, payload=gradient_bytes)))
        yield


def _parameter_bytes(module: nn.Module) -> int:
    """What a step's gradients (or the first rank's parameters) weigh: the timeline's bytes."""
    return sum(p.numel() * p.element_size() for p in module.parameters() if p.requires_grad)


def _forward_communicates(ddp: DataParallel) -> bool:
    """Whether DDP's forward pass may send anything: until it has rebuilt its buckets (in
    the second step), and whenever it broadcasts the module's buffers."""
    return not getattr(ddp, "_has_rebuilt_buckets", False) or ddp.will_sync_module_buffers()
