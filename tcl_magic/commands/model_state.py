"""The original's model-keeping vocabulary: a module's parameters frozen or counted, its
device, and its state (and an optimizer's) saved to and loaded from files with torch.save
and torch.load. Files hold torch's own state dicts, so Python reads them as they are.
"""
from __future__ import annotations

import torch
from torch import nn

from ..spec import Param, command
from .derive import MODULE, exports, fn

_MODEL = "model|module|layer|input:M"


def _requires_grad(model: nn.Module, flag: bool) -> str:
    model.requires_grad_(flag)
    return "Model parameters frozen" if not flag else "Model parameters unfrozen"


def _device_of(model: nn.Module) -> str:
    tensors = [*model.parameters(), *model.buffers()]
    return str(tensors[0].device) if tensors else "cpu"


_LAYER = Param("layer", MODULE, aliases=("input", "model", "module"), help="module handle")


@command("layer_cpu", _LAYER)
def layer_cpu(ctx, layer):
    """Move the module's parameters and buffers to the CPU; answers its handle."""
    layer.to("cpu")
    return ctx.handles.name_of(layer)


@command("layer_cuda", _LAYER)
def layer_cuda(ctx, layer):
    """Move the module to the CUDA device; refused where there is none."""
    if not torch.cuda.is_available():
        raise RuntimeError("CUDA not available on this machine")
    layer.to("cuda")
    return ctx.handles.name_of(layer)


def _file(filename: str) -> str:
    if not filename.strip():
        raise ValueError("a file name is required (this one is empty)")
    return filename


def _load(filename: str):
    try:
        return torch.load(_file(filename), map_location="cpu", weights_only=True)
    except OSError as err:
        raise ValueError(f"cannot read {filename}: {err.strerror or err}") from None


def _save(obj, filename: str) -> None:
    try:
        torch.save(obj, _file(filename))
    except OSError as err:
        raise ValueError(f"cannot write {filename}: {err.strerror or err}") from None


def _save_checkpoint(model, optimizer, filename, epoch, loss, lr):
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    _save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "loss": loss,
           "lr": optimizer.param_groups[0]["lr"]}, filename)
    return "OK"


def _describe(checkpoint: dict) -> str:
    return f"epoch={checkpoint.get('epoch')}, loss={checkpoint.get('loss')}, lr={checkpoint.get('lr')}"


def _load_checkpoint(filename, model, optimizer):
    checkpoint = _load(filename)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    return f"Checkpoint loaded: {_describe(checkpoint)}"


def _checkpoint_info(filename):
    checkpoint = _load(filename)
    return ("epoch", checkpoint.get("epoch"), "loss", checkpoint.get("loss"), "lr", checkpoint.get("lr"),
            "parameters", sum(t.numel() for t in checkpoint.get("model", {}).values()))


def _summary(model: nn.Module) -> str:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return f"Model Summary\n{model}\nTotal parameters: {total}\nTrainable parameters: {trainable}"


def _parameters_to(parameters, device):
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("CUDA not available on this machine")
    with torch.no_grad():
        for p in parameters:
            p.data = p.data.to(device)
    return "OK"


STATE = [
    fn("freeze_model", lambda model: _requires_grad(model, False), _MODEL,
       doc="Stop gradients for every parameter of the module (requires_grad off)."),
    fn("unfreeze_model", lambda model: _requires_grad(model, True), _MODEL,
       doc="Let gradients reach every parameter of the module again."),
    fn("count_parameters", lambda model: sum(p.numel() for p in model.parameters()), _MODEL,
       doc="How many numbers the module's parameters hold."),
    fn("model_summary", _summary, _MODEL, doc="The module's structure and parameter counts."),
    fn("layer_device", _device_of, _MODEL, doc="The device the module's parameters are on."),
    fn("parameters_to", _parameters_to, "parameters|params:P device:S=cpu",
       doc="Move the parameters (a module's, or tensors) to a device, in place."),
    fn("save_state", lambda module, filename: _save(module.state_dict(), filename) or "OK",
       "module|model:M filename|file:S", doc="Save the module's state dict to a file (torch.save)."),
    fn("load_state", lambda module, filename: module.load_state_dict(_load(filename)) and "OK",
       "module|model:M filename|file:S", doc="Load the module's state dict from a file (torch.load)."),
    fn("save_state_dict", lambda model, filename: _save(model.state_dict(), filename) or
       f"Model state dict saved to: {filename}",
       "model|module:M filename|file:S", doc="Save the module's state dict to a file (torch.save)."),
    fn("load_state_dict", lambda model, filename: model.load_state_dict(_load(filename)) and "OK",
       "model|module:M filename|file:S", doc="Load the module's state dict from a file (torch.load)."),
    fn("save_checkpoint", _save_checkpoint, "model|module:M optimizer|opt:O filename|file:S epoch:I=0 loss:N=0.0 "
       "lr:N=None", doc="Save the module's and the optimizer's states, the epoch, loss and learning rate."),
    fn("load_checkpoint", _load_checkpoint, "filename|file:S model|module:M optimizer|opt:O=None",
       doc="Load a checkpoint into the module (and the optimizer); answers its epoch, loss and rate."),
    fn("get_checkpoint_info", _checkpoint_info, "filename|file:S",
       doc="A checkpoint's epoch, loss, learning rate and parameter count, as a dict."),
]

globals().update(exports(*STATE))
