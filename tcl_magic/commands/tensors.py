"""Tensor commands: creation, inspection, arithmetic and layout.

Every command that produces a tensor returns it and the session turns it into a new
handle, so inputs are never modified.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .. import convert
from ..spec import (BOOL, DEVICE, DATA, DTYPE, INT, NUMBER, SHAPE, SHAPE_INFERRED, STRING,
                    TENSOR, TENSOR_LIST, TENSOR_OR_NUMBER, Param, command)
from ..errors import TclCommandError

_TENSOR = Param("tensor", TENSOR, aliases=("input",), help="tensor handle")
_DTYPE = Param("dtype", DTYPE, torch.float32, help="element type")
_DEVICE = Param("device", DEVICE, torch.device("cpu"), help="cpu, cuda or cuda:N")
_GRAD = Param("requires_grad", BOOL, False, help="track gradients")


def _create_positional(args: Sequence[str], ctx: Any) -> dict[str, str] | None:
    """`values ?shape? ?dtype? ...`, where a second word naming a dtype is the dtype."""
    names = ["data", "shape", "dtype", "device", "requires_grad"]
    if len(args) >= 2 and args[1].lower() in convert.DTYPES:
        names.remove("shape")
    if not 1 <= len(args) <= len(names):
        return None
    return dict(zip(names, args))


@command("tensor_create", Param("data", DATA, aliases=("values",), help="Tcl list of numbers, may be nested"),
         Param("shape", SHAPE_INFERRED, None), _DTYPE, _DEVICE, _GRAD,
         usage="values ?shape? ?dtype? ?device? ?requires_grad?", positional=_create_positional)
def tensor_create(ctx, data, shape, dtype, device, requires_grad):
    """A tensor from a (nested) Tcl list of numbers."""
    _check_fits(data, dtype)
    tensor = data.to(dtype)
    if shape is not None:
        tensor = tensor.reshape(shape)
    return tensor.to(device).requires_grad_(requires_grad)


def _check_fits(data: torch.Tensor, dtype: torch.dtype) -> None:
    """Refuse values the dtype cannot hold, as torch.tensor(values, dtype=...) does (a cast
    would wrap 300 to 44 in uint8 without a word)."""
    if dtype.is_floating_point or dtype == torch.bool or dtype.is_complex or not data.numel():
        return
    info = torch.iinfo(dtype)
    low, high = data.min().item(), data.max().item()
    if low < info.min or high > info.max or (data.dtype.is_floating_point and not torch.isfinite(data).all()):
        bad = high if high > info.max else low
        raise TclCommandError(f"Invalid data parameter. The value {bad} cannot be converted to "
                              f"{str(dtype).removeprefix('torch.')} without overflow.", "VALUE")


def _factory(name: str, make, doc: str):
    @command(name, Param("shape", SHAPE), _DTYPE, _DEVICE, _GRAD)
    def factory(ctx, shape, dtype, device, requires_grad):
        return make(shape, dtype=dtype, device=device, requires_grad=requires_grad)
    factory.__doc__ = doc
    factory.spec.doc = doc
    return factory


ones = _factory("ones", torch.ones, "A tensor of ones.")
zeros = _factory("zeros", torch.zeros, "A tensor of zeros.")
empty = _factory("empty", torch.empty, "An uninitialised tensor.")
randn = _factory("randn", torch.randn, "Samples of the standard normal distribution.")
rand = _factory("rand", torch.rand, "Samples of the uniform distribution on [0, 1).")


@command("full", Param("shape", SHAPE), Param("value", NUMBER), _DTYPE, _DEVICE, _GRAD)
def full(ctx, shape, value, dtype, device, requires_grad):
    """A tensor filled with one value."""
    return torch.full(shape, value, dtype=dtype, device=device, requires_grad=requires_grad)


def _arange_positional(args: Sequence[str], ctx: Any) -> dict[str, str] | None:
    forms = {1: ["end"], 2: ["start", "end"], 3: ["start", "end", "step"]}
    return dict(zip(forms[len(args)], args)) if len(args) in forms else None


@command("arange", Param("start", NUMBER, 0), Param("end", NUMBER), Param("step", NUMBER, 1),
         Param("dtype", DTYPE, None), _DEVICE, usage="end | start end ?step?", positional=_arange_positional)
def arange(ctx, start, end, step, dtype, device):
    """Evenly spaced values in [start, end) (int64 for integer arguments, like torch)."""
    return torch.arange(start, end, step, dtype=dtype, device=device)


@command("tensor_shape", _TENSOR)
def tensor_shape(ctx, tensor):
    """The shape as a Tcl list of integers."""
    return tuple(tensor.shape)


@command("tensor_dtype", _TENSOR)
def tensor_dtype(ctx, tensor):
    """The dtype, capitalised (`Float32`)."""
    return convert.dtype_to_tcl(tensor.dtype)


@command("tensor_device", _TENSOR)
def tensor_device(ctx, tensor):
    """Where the tensor lives (`cpu`, `cuda:0`)."""
    return str(tensor.device)


@command("tensor_numel", _TENSOR)
def tensor_numel(ctx, tensor):
    """The number of elements."""
    return tensor.numel()


@command("tensor_print", _TENSOR)
def tensor_print(ctx, tensor):
    """A readable rendering, like torch's repr."""
    return str(tensor)


@command("tensor_to_list", _TENSOR)
def tensor_to_list(ctx, tensor):
    """The values as a flat Tcl list."""
    return convert.tensor_to_tcl(tensor)


@command("tensor_item", _TENSOR)
def tensor_item(ctx, tensor):
    """The value of a one-element tensor."""
    if tensor.numel() != 1:
        raise TclCommandError(f"torch::tensor_item needs a tensor of one element, "
                              f"this one has {tensor.numel()} (shape {list(tensor.shape)})", "VALUE")
    return convert.scalar_to_tcl(tensor.item())


@command("tensor_free", Param("tensor", STRING, aliases=("input",), help="tensor handle"))
def tensor_free(ctx, tensor):
    """Drop a handle (and its memory, if nothing else holds it) at once."""
    ctx.handles.free(tensor)
    return ""


def _binary(name: str, op, doc: str):
    @command(name, Param("a", TENSOR, aliases=("input1", "tensor1")),
             Param("b", TENSOR_OR_NUMBER, aliases=("input2", "tensor2", "other")))
    def binary(ctx, a, b):
        return op(a, b)
    binary.__doc__ = doc
    binary.spec.doc = doc
    return binary


tensor_add = _binary("tensor_add", torch.add, "a + b (b is a handle or a number).")
tensor_sub = _binary("tensor_sub", torch.sub, "a - b (b is a handle or a number).")
tensor_mul = _binary("tensor_mul", torch.mul, "a * b (b is a handle or a number).")
tensor_div = _binary("tensor_div", torch.div, "a / b (b is a handle or a number).")


@command("tensor_sum", _TENSOR, Param("dim", INT, None))
def tensor_sum(ctx, tensor, dim):
    """The sum of all elements, or along one dimension."""
    return tensor.sum() if dim is None else tensor.sum(dim)


@command("tensor_mean", _TENSOR, Param("dim", INT, None))
def tensor_mean(ctx, tensor, dim):
    """The mean of all elements, or along one dimension."""
    return tensor.mean() if dim is None else tensor.mean(dim)


@command("tensor_reshape", _TENSOR, Param("shape", SHAPE_INFERRED))
def tensor_reshape(ctx, tensor, shape):
    """The same values in a new shape (one -1 is inferred)."""
    return tensor.reshape(shape)


@command("tensor_cat", Param("tensors", TENSOR_LIST), Param("dim", INT, 0))
def tensor_cat(ctx, tensors, dim):
    """Concatenate along an existing dimension."""
    return torch.cat(tensors, dim)


@command("tensor_stack", Param("tensors", TENSOR_LIST), Param("dim", INT, 0))
def tensor_stack(ctx, tensors, dim):
    """Stack along a new dimension."""
    return torch.stack(tensors, dim)


@command("tensor_to", _TENSOR, Param("target", STRING, aliases=("device", "dtype", "device_or_dtype")),
         usage="tensor device_or_dtype")
def tensor_to(ctx, tensor, target):
    """A copy on another device or with another dtype."""
    if target.lower() in convert.DTYPES:
        return tensor.to(convert.dtype_from_tcl(target))
    try:
        return tensor.to(convert.device_from_tcl(target))
    except convert.ConversionError as err:
        raise TclCommandError(f'Invalid device_or_dtype parameter: "{target}" is neither a dtype '
                              f"({convert.DTYPE_CHOICES}) nor a usable device: {err}", "VALUE") from None


@command("cuda_is_available")
def cuda_is_available(ctx):
    """1 when this rank can use CUDA."""
    return torch.cuda.is_available()


@command("cuda_device_count")
def cuda_device_count(ctx):
    """The number of CUDA devices this rank sees."""
    return torch.cuda.device_count()
