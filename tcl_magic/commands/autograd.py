"""Autograd: which tensors track gradients, the backward pass, the gradients it leaves,
and scripts run without gradients.

`tensor_backward` is the one tensor command with an effect beyond its result: it fills
the `.grad` of the leaf tensors it reaches (adding to what is there, as in torch). When the
graph runs through a data-parallel module, it is also a collective (see
`distributed_data_parallel`).
"""
from __future__ import annotations

import torch

from ..comm import data_parallel
from ..errors import TclCommandError
from ..spec import BOOL, SCRIPT, TENSOR, Param, Scoped, command

_INPUT = Param("tensor", TENSOR, aliases=("input",), help="tensor handle")


@command("tensor_requires_grad", _INPUT, Param("requires_grad", BOOL, None))
def tensor_requires_grad(ctx, tensor, requires_grad):
    """Whether the tensor tracks gradients (1/0); given a flag, a new leaf tensor with the
    same values that does (or does not): the input is left as it was."""
    if requires_grad is None:
        return tensor.requires_grad
    if requires_grad and not (tensor.dtype.is_floating_point or tensor.dtype.is_complex):
        raise TclCommandError(f"only floating-point tensors can require gradients; this one is "
                              f"{str(tensor.dtype).removeprefix('torch.')} (convert it with torch::tensor_to)", "VALUE")
    return tensor.detach().clone().requires_grad_(requires_grad)


@command("tensor_backward", _INPUT, Param("gradient", TENSOR, None, help="d(output)/d(tensor), for a tensor "
                                                                         "of more than one element"),
         Param("retain_graph", BOOL, False, help="keep the graph for another backward pass"), also=("backward",),
         once=True)
def tensor_backward(ctx, tensor, gradient, retain_graph):
    """Compute the gradients of the tensor with respect to every leaf that requires them,
    adding them to those leaves' gradients."""
    if not tensor.requires_grad:
        raise TclCommandError("this tensor does not require gradients: nothing led to it from a tensor made "
                              "with -requiresGrad 1 or a layer's parameters (or it was computed inside "
                              "torch::no_grad)", "VALUE")
    if gradient is None and tensor.numel() != 1:
        raise TclCommandError(f"backward of a tensor of {tensor.numel()} elements (shape {list(tensor.shape)}) "
                              "needs -gradient (a tensor of its shape), or reduce it to one value first "
                              "(torch::tensor_sum, torch::tensor_mean)", "VALUE")
    with data_parallel.backward_pass(ctx.comm, ctx.data_parallel):
        tensor.backward(gradient, retain_graph=retain_graph)
    return "OK"


@command("tensor_grad", _INPUT)
def tensor_grad(ctx, tensor):
    """The gradient accumulated in the tensor by backward passes (the same storage: an
    optimizer step or zero_grad changes it)."""
    why = ("it does not require gradients" if not tensor.requires_grad else
           "it is not a leaf (its gradient is not kept)" if not tensor.is_leaf else
           "no backward pass has reached it yet (or the gradients were zeroed to none)"
           if tensor.grad is None else None)
    if why is not None:
        raise TclCommandError(f"this tensor has no gradient: {why}", "VALUE")
    return tensor.grad


@command("tensor_detach", _INPUT)
def tensor_detach(ctx, tensor):
    """The same values, cut from the graph (no gradient flows back through it)."""
    return tensor.detach()


@command("no_grad", Param("body", SCRIPT, None, aliases=("script",), help="a script run without gradients"))
def no_grad(ctx, body):
    """With a script: run it in the caller's frame with gradient tracking off, then restore
    it. Without: turn gradient tracking off until torch::enable_grad (as the original did)."""
    return _grad_mode(False, body)


@command("enable_grad", Param("body", SCRIPT, None, aliases=("script",), help="a script run with gradients"))
def enable_grad(ctx, body):
    """With a script: run it with gradient tracking on, then restore the mode. Without:
    turn gradient tracking back on."""
    return _grad_mode(True, body)


@command("set_grad_enabled", Param("enabled", BOOL))
def set_grad_enabled(ctx, enabled):
    """Turn gradient tracking on or off; answers the new mode."""
    torch.set_grad_enabled(enabled)
    return enabled


@command("is_grad_enabled")
def is_grad_enabled(ctx):
    """1 when operations record a graph for backward."""
    return torch.is_grad_enabled()


def _grad_mode(enabled: bool, body: str | None):
    if body is None:
        torch.set_grad_enabled(enabled)
        return "ok"
    before = torch.is_grad_enabled()
    torch.set_grad_enabled(enabled)
    return Scoped(body, lambda: torch.set_grad_enabled(before))
