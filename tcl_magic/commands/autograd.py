"""Autograd: which tensors track gradients, the backward pass, the gradients it leaves,
and scripts run without gradients.

`tensor_backward` is the one tensor command with an effect beyond its result: it fills
the `.grad` of the leaf tensors it reaches (adding to what is there, as in torch). When the
graph runs through a data-parallel module, it is also a collective (see
`distributed_data_parallel`).
"""
from __future__ import annotations

import torch
from torch import nn

from .. import convert
from ..comm import data_parallel
from ..errors import TclCommandError
from ..spec import BOOL, NUMBER, SCRIPT, TENSOR, Param, ParamType, Scoped, command
from .transforms import TENSORS

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


@command("grad", Param("outputs", TENSORS, aliases=("output",), help="the tensor(s) to differentiate"),
         Param("inputs", TENSORS, aliases=("input",), help="the tensor(s) to differentiate with respect to"),
         Param("grad_outputs", TENSORS, None, help="d(result)/d(outputs), one per output; none: ones"),
         Param("retain_graph", BOOL, None, help="keep the graph for another pass (none: as -createGraph)"),
         Param("create_graph", BOOL, False, help="record the gradients' own graph (for higher derivatives)"),
         Param("allow_unused", BOOL, True, help="an input the outputs do not depend on gets zeros (0: an error)"))
def grad(ctx, outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused):
    """The gradients of the outputs with respect to the inputs, returned instead of added
    to the inputs' .grad (torch.autograd.grad); without -gradOutputs, of the sum of the
    outputs' elements."""
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    if grad_outputs is None:
        grad_outputs = tuple(torch.ones_like(t) for t in outputs)
    for t in outputs:
        if not t.requires_grad:
            raise TclCommandError("an output does not require gradients: nothing led to it from a tensor made "
                                  "with -requiresGrad 1 or a layer's parameters (or it was computed inside "
                                  "torch::no_grad)", "VALUE")
    single = not isinstance(inputs, tuple)
    for t in (inputs,) if single else inputs:
        if not t.requires_grad:
            raise TclCommandError("an input does not require gradients: make it with -requiresGrad 1 (or "
                                  "torch::tensor_requires_grad $t 1)", "VALUE")
    try:
        found = torch.autograd.grad(outputs, inputs, grad_outputs, retain_graph=retain_graph,
                                    create_graph=create_graph, allow_unused=allow_unused,
                                    materialize_grads=allow_unused)
    except TypeError as err:
        raise TclCommandError(f"torch::grad: {err}", "TORCH") from None
    return found[0] if single else list(found)


def _gradients_of(text, ctx):
    """A module handle (its parameters), or a Tcl list of tensor handles."""
    words = ctx.split_list(text)
    if len(words) == 1 and not ctx.handles.has(words[0]):
        return list(ctx.handles.get_object(words[0], nn.Module, "module").parameters())
    if not words:
        raise convert.ConversionError("Must be a module handle or a list of tensor handles.")
    return [ctx.handles.get(word) for word in words]


@command("nn_utils_clip_grad_norm_",
         Param("parameters", ParamType("parameters", _gradients_of), aliases=("params", "module", "model"),
               help="a module handle (its parameters) or a list of tensor handles"),
         Param("max_norm", NUMBER, help="the largest norm the gradients keep"),
         Param("norm_type", NUMBER, 2.0, help="the p of the p-norm (inf: the largest element)"),
         Param("error_if_nonfinite", BOOL, False, help="an error when the total norm is nan or inf"), once=True)
def nn_utils_clip_grad_norm_(ctx, parameters, max_norm, norm_type, error_if_nonfinite):
    """Scale the gradients of the parameters in place so that their norm, taken together as
    one vector, is at most max_norm (torch.nn.utils.clip_grad_norm_); returns the norm they
    had. Parameters without a gradient are left out."""
    if not max_norm >= 0:
        raise TclCommandError(f"torch::nn_utils_clip_grad_norm_: max_norm must be at least 0 (got {max_norm})",
                              "VALUE")
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type=norm_type,
                                          error_if_nonfinite=error_if_nonfinite)


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
