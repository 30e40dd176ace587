"""Optimizers: torch.optim behind handles.

`optimizer_step` and `optimizer_zero_grad` are the commands that change tensors in place:
they update the parameters (and their gradients) that the optimizer was given, which is
what training is. Every other command leaves its inputs as they were.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import convert
from ..errors import TclCommandError, invalid
from ..handles import HandleError
from ..spec import BOOL, NUMBER, Param, ParamType, command


def _parameters(text: str, ctx) -> list[torch.Tensor]:
    """A module handle (its parameters) or a Tcl list of tensor handles."""
    words = ctx.split_list(text)
    if len(words) == 1:
        try:
            return list(ctx.handles.get_object(words[0], nn.Module, "module").parameters())
        except HandleError:
            pass
    if not words:
        raise convert.ConversionError("Must be a module handle or a non-empty list of tensor handles.")
    tensors = [ctx.handles.get(word) for word in words]
    for word, tensor in zip(words, tensors):
        if not tensor.is_leaf:  # as torch.optim says: a leaf without gradients is simply left as it is
            raise TclCommandError(f"{word} cannot be optimized: an optimizer updates leaf tensors (a layer's "
                                  "parameters, or a tensor made with -requiresGrad 1), not results of "
                                  "other tensors", "VALUE")
    return tensors


def _optimizer(text: str, ctx) -> torch.optim.Optimizer:
    return ctx.handles.get_object(text, torch.optim.Optimizer, "optimizer")


PARAMETERS = ParamType("parameters", _parameters)
OPTIMIZER = ParamType("optimizer", _optimizer)
_PARAMS = Param("parameters", PARAMETERS, aliases=("params",), help="a module handle or a list of tensor handles")
_DECAY = Param("weight_decay", NUMBER, 0.0, help="L2 penalty")
_OPT = Param("optimizer", OPTIMIZER, aliases=("opt",), help="optimizer handle")


def _non_negative(**values: float) -> None:
    for label, value in values.items():
        if not value >= 0:
            raise invalid(label, "Must be at least 0.", value)


@command("optimizer_sgd", _PARAMS, Param("lr", NUMBER, 0.01, aliases=("learning_rate",)),
         Param("momentum", NUMBER, 0.0), Param("dampening", NUMBER, 0.0), _DECAY, Param("nesterov", BOOL, False))
def optimizer_sgd(ctx, parameters, lr, momentum, dampening, weight_decay, nesterov):
    """Stochastic gradient descent, with optional momentum, dampening, weight decay, Nesterov."""
    _non_negative(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise TclCommandError("nesterov needs a momentum above 0 and no dampening", "VALUE")
    optimizer = torch.optim.SGD(parameters, lr=lr, momentum=momentum, dampening=dampening,
                                weight_decay=weight_decay, nesterov=nesterov)
    return ctx.handles.add_object("optimizer", optimizer)


@command("optimizer_adam", _PARAMS, Param("lr", NUMBER, aliases=("learning_rate",)),
         Param("beta1", NUMBER, 0.9), Param("beta2", NUMBER, 0.999), _DECAY)
def optimizer_adam(ctx, parameters, lr, beta1, beta2, weight_decay):
    """Adam: per-parameter steps from running averages of the gradient and its square."""
    _non_negative(lr=lr, weight_decay=weight_decay)
    for label, beta in (("beta1", beta1), ("beta2", beta2)):
        if not 0 <= beta < 1:
            raise invalid(label, "Must be at least 0 and less than 1.", beta)
    optimizer = torch.optim.Adam(parameters, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)
    return ctx.handles.add_object("optimizer", optimizer)


@command("optimizer_step", _OPT, once=True)
def optimizer_step(ctx, optimizer):
    """Update the parameters in place from their gradients."""
    optimizer.step()
    return "OK"


@command("optimizer_zero_grad", _OPT, Param("set_to_none", BOOL, True))
def optimizer_zero_grad(ctx, optimizer, set_to_none):
    """Clear the parameters' gradients (to none, or to zeros), before the next backward pass."""
    optimizer.zero_grad(set_to_none=set_to_none)
    return "OK"
