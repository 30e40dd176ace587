"""Layers, models and losses: torch.nn modules behind handles, and the loss functions.

A module handle (`linear1`, `sequential1`, `ddp1`) names a torch.nn.Module; its parameters
are tensors like any other (`layer_parameters` gives their handles), which optimizers
update in place. `distributed_data_parallel` wraps a module with torch's own
DistributedDataParallel so that the ranks of a group train one model together.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..comm import data_parallel
from ..errors import TclCommandError, invalid
from ..spec import BOOL, DEVICE, DTYPE, INT, STRING, TENSOR, Param, ParamType, choice, command
from .derive import OPTIONAL_TENSOR

_GROUP = Param("group", STRING, "", help='process group name ("" = the world)')


def _module(text: str, ctx) -> nn.Module:
    return ctx.handles.get_object(text, nn.Module, "module")


def _modules(text: str, ctx) -> list[nn.Module]:
    return [_module(word, ctx) for word in ctx.split_list(text)]


MODULE = ParamType("module", _module)
MODULES = ParamType("modules", _modules)
_LAYER = Param("layer", MODULE, aliases=("model", "module"), help="module handle")
_MODEL = Param("model", MODULE, aliases=("layer", "module"), help="module handle")


def _kind(module: nn.Module) -> str:
    return {nn.Linear: "linear", nn.Sequential: "sequential", nn.ReLU: "relu", nn.Sigmoid: "sigmoid",
            nn.Tanh: "tanh", data_parallel.DataParallel: "ddp"}[type(module)]


def _name(ctx, module: nn.Module) -> str:
    """The module's handle (a new one the first time a command gives it back)."""
    return ctx.handles.name_of(module) or ctx.handles.add_object(_kind(module), module)


# --- layers ------------------------------------------------------------------------------

@command("linear", Param("in_features", INT), Param("out_features", INT), Param("bias", BOOL, True),
         also=("linear_layer",))
def linear(ctx, in_features, out_features, bias):
    """A fully connected layer: y = x W^T + b, W of shape [out_features, in_features]."""
    for label, value in (("in_features", in_features), ("out_features", out_features)):
        if value < 1:
            raise invalid(label, "Must be positive (at least 1).", value)
    return _name(ctx, nn.Linear(in_features, out_features, bias=bias))


def _activation(name: str, kind: type, doc: str):
    @command(name)
    def activation(ctx):
        return _name(ctx, kind())
    activation.spec.doc = doc
    return activation


relu = _activation("relu", nn.ReLU, "A ReLU module (max(x, 0)), to put in a sequential.")
sigmoid = _activation("sigmoid", nn.Sigmoid, "A sigmoid module, to put in a sequential.")
tanh = _activation("tanh", nn.Tanh, "A tanh module, to put in a sequential.")


@command("sequential", Param("modules", MODULES, None, help="Tcl list of module handles"))
def sequential(ctx, modules):
    """A model that applies the modules one after another."""
    return _name(ctx, nn.Sequential(*(modules or [])))


@command("layer_forward", _LAYER, Param("input", TENSOR, aliases=("tensor",)), also=("model_forward",), once=True)
def layer_forward(ctx, layer, input):
    """The module applied to a tensor (the graph is recorded for backward unless gradients are off)."""
    if isinstance(layer, data_parallel.DataParallel):
        return data_parallel.forward(ctx.comm, ctx.data_parallel, layer, input)
    return layer(input)


@command("layer_parameters", _LAYER)
def layer_parameters(ctx, layer):
    """The module's trainable tensors, as a Tcl list of handles (the tensors themselves,
    which optimizers update in place)."""
    return list(layer.parameters())


@command("layer_to", _LAYER, Param("device", DEVICE, None), Param("dtype", DTYPE, None),
         tail=("device", "dtype"), usage="layer ?device? ?dtype?")
def layer_to(ctx, layer, device, dtype):
    """Move the module's parameters to a device and/or dtype (in place); answers the handle."""
    if device is None and dtype is None:
        raise TclCommandError("torch::layer_to needs a device, a dtype or both", "VALUE")
    layer.to(device=device, dtype=dtype)
    return _name(ctx, layer)


@command("model_train", _MODEL)
def model_train(ctx, model):
    """Training mode (dropout active, batch norm learning); answers the handle."""
    model.train()
    return _name(ctx, model)


@command("model_eval", _MODEL)
def model_eval(ctx, model):
    """Evaluation mode; answers the handle."""
    model.eval()
    return _name(ctx, model)


@command("distributed_data_parallel", _MODEL, _GROUP, group_param="group")
def distributed_data_parallel(ctx, model, group):
    """The model wrapped with torch's DistributedDataParallel over the group: every member
    starts from the first member's parameters, and each backward pass averages the
    gradients across the group. In a world of one, the model itself."""
    return _name(ctx, data_parallel.wrap(ctx.comm, model, group))


# --- losses ------------------------------------------------------------------------------

REDUCTION = choice("mean", "sum", "none", legacy={"0": "none", "1": "mean", "2": "sum"})
"""A loss's reduction: its name, or the original's integer for it (0 none, 1 mean, 2 sum)."""
_REDUCTION = Param("reduction", REDUCTION, "mean", help="mean, sum or none (per element)")
_INPUT = Param("input", TENSOR, aliases=("tensor",), help="the model's output")
_TARGET = Param("target", TENSOR, help="what it should have been")
# "none" by position is the weight left out (the original's order: input target ?weight? ?reduction?)
_WEIGHT = Param("weight", ParamType("tensor", OPTIONAL_TENSOR.parse, lambda text: text.lower() == "none"), None, help="a weight per class (per element for bce_loss)")


def _same_shape(name: str, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Element-wise losses refuse shapes that differ (torch would broadcast [N, 1] against
    [N] to [N, N] with a mere warning, and train on nonsense)."""
    if input.shape != target.shape:
        raise TclCommandError(f"torch::{name}: the input has shape {list(input.shape)} and the target "
                              f"{list(target.shape)}: they must be the same (torch::tensor_reshape one of them)",
                              "SHAPE")
    return _same_dtype(input, target)


def _same_dtype(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Targets made from Tcl integers are int64: compare them as the input's floats."""
    return target.to(input.dtype) if input.dtype.is_floating_point and target.dtype != input.dtype else target


def _class_indices(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A target with one dimension less than the input holds class indices: as int64,
    whatever dtype it was made with (a target of the input's shape holds probabilities)."""
    return target.long() if target.dim() == input.dim() - 1 else _same_dtype(input, target)


@command("mse_loss", _INPUT, _TARGET, _REDUCTION)
def mse_loss(ctx, input, target, reduction):
    """The mean squared error between input and target."""
    return F.mse_loss(input, _same_shape("mse_loss", input, target), reduction=reduction)


@command("l1_loss", _INPUT, _TARGET, _REDUCTION)
def l1_loss(ctx, input, target, reduction):
    """The mean absolute error between input and target."""
    return F.l1_loss(input, _same_shape("l1_loss", input, target), reduction=reduction)


@command("cross_entropy_loss", _INPUT, _TARGET, _WEIGHT, _REDUCTION, tail=("weight", "reduction"))
def cross_entropy_loss(ctx, input, target, weight, reduction):
    """Cross entropy of raw scores [N, C] against class indices [N] (or class probabilities)."""
    return F.cross_entropy(input, _class_indices(input, target), weight=weight, reduction=reduction)


@command("nll_loss", _INPUT, _TARGET, _WEIGHT, _REDUCTION, tail=("weight", "reduction"))
def nll_loss(ctx, input, target, weight, reduction):
    """Negative log likelihood of log-probabilities [N, C] (log_softmax) against class indices [N]."""
    return F.nll_loss(input, _class_indices(input, target), weight=weight, reduction=reduction)


@command("bce_loss", _INPUT, _TARGET, _WEIGHT, _REDUCTION, tail=("weight", "reduction"))
def bce_loss(ctx, input, target, weight, reduction):
    """Binary cross entropy of probabilities in [0, 1] against 0/1 targets."""
    return F.binary_cross_entropy(input, _same_shape("bce_loss", input, target), weight=weight, reduction=reduction)
