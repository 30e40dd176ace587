"""Tensor commands: creation, inspection, arithmetic and layout.

Every command that produces a tensor returns it and the session turns it into a new
handle, so inputs are never modified.
"""
from __future__ import annotations

import math

import torch

from .. import convert
from ..spec import (BOOL, DEVICE, DATA, DTYPE, INT, NUMBER, SHAPE, SHAPE_INFERRED, STRING,
                    TENSOR, TENSOR_LIST, TENSOR_OR_NUMBER, Param, command, declare)
from ..errors import TclCommandError, invalid

_TENSOR = Param("tensor", TENSOR, aliases=("input",), help="tensor handle")
_DTYPE = Param("dtype", DTYPE, torch.float32, help="element type")
_DEVICE = Param("device", DEVICE, torch.device("cpu"), help="cpu, cuda or cuda:N")
_GRAD = Param("requires_grad", BOOL, False, help="track gradients")


_TAIL = ("dtype", "device", "requires_grad")


@command("tensor_create", Param("data", DATA, aliases=("values",), help="Tcl list of numbers, may be nested"),
         Param("shape", SHAPE_INFERRED, None), _DTYPE, _DEVICE, _GRAD,
         usage="values ?shape? ?dtype? ?device? ?requires_grad?", tail=_TAIL,
         forms={1: ("data",), 2: ("data", "shape")})
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


def _factory(name: str, make, doc: str, also: tuple[str, ...] = ()):
    return declare(name, Param("shape", SHAPE, aliases=("size",)), _DTYPE, _DEVICE, _GRAD, doc=doc, tail=_TAIL, also=also,
                   run=lambda shape, dtype, device, grad: make(shape, dtype=dtype, device=device, requires_grad=grad))


ones = _factory("ones", torch.ones, "A tensor of ones.")
zeros = _factory("zeros", torch.zeros, "A tensor of zeros.")
empty = _factory("empty", torch.empty, "An uninitialised tensor.", also=("Empty",))
randn = _factory("randn", torch.randn, "Samples of the standard normal distribution.")
rand = _factory("rand", torch.rand, "Samples of the uniform distribution on [0, 1).")


@command("full", Param("shape", SHAPE, aliases=("size",)), Param("value", NUMBER, aliases=("fill_value",)),
         _DTYPE, _DEVICE, _GRAD, tail=_TAIL)
def full(ctx, shape, value, dtype, device, requires_grad):
    """A tensor filled with one value."""
    return torch.full(shape, value, dtype=dtype, device=device, requires_grad=requires_grad)


@command("arange", Param("start", NUMBER, 0), Param("end", NUMBER), Param("step", NUMBER, 1),
         Param("dtype", DTYPE, None), _DEVICE, _GRAD, usage="end | start end ?step? ?dtype? ?device? ?requires_grad?",
         tail=_TAIL, forms={1: ("end",), 2: ("start", "end"), 3: ("start", "end", "step")})
def arange(ctx, start, end, step, dtype, device, requires_grad):
    """Evenly spaced values in [start, end) (int64 for integer arguments, like torch)."""
    return torch.arange(start, end, step, dtype=dtype, device=device, requires_grad=requires_grad)


@command("randint", Param("low", INT, 0), Param("high", INT), Param("shape", SHAPE, aliases=("size",)),
         Param("dtype", DTYPE, torch.int64), _DEVICE, usage="?low? high shape ?dtype? ?device?",
         tail=("dtype", "device"), forms={2: ("high", "shape"), 3: ("low", "high", "shape")})
def randint(ctx, low, high, shape, dtype, device):
    """Random integers in [low, high)."""
    if high <= low:
        raise invalid("high", f"Must be more than low ({low}).", high)
    return torch.randint(low, high, shape, dtype=dtype, device=device)


@command("manual_seed", Param("seed", INT, aliases=("s",)))
def manual_seed(ctx, seed):
    """Seed every random number generator of this rank (CPU and CUDA), for repeatable runs."""
    if seed < 0:
        raise invalid("seed", "Must be at least 0.", seed)
    torch.manual_seed(seed)
    return "ok"


@command("tensor_shape", _TENSOR, also=("tensor_size",))
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
    return _item_text(tensor)


def _item_text(tensor: torch.Tensor):
    """The original's form of a floating value, six decimals (`5.000000`), where those give
    back the same value in the tensor's dtype; else the fewest digits that do (`1e-07`,
    `3.14159265359`)."""
    value = tensor.item()
    if not tensor.dtype.is_floating_point or not math.isfinite(value):
        return convert.scalar_to_tcl(value)
    for text in (f"{value:f}", *(f"{value:.{digits}g}" for digits in range(1, 18))):
        if torch.tensor(float(text), dtype=tensor.dtype).item() == value:
            return text
    return value


@command("tensor_free", Param("tensor", STRING, aliases=("input",), help="tensor handle"))
def tensor_free(ctx, tensor):
    """Drop a handle (and its memory, if nothing else holds it) at once."""
    ctx.handles.free(tensor)
    return ""


_A = Param("a", TENSOR, aliases=("input", "input1", "tensor1"))
_B = Param("b", TENSOR_OR_NUMBER, aliases=("other", "input2", "tensor2"))
_ALPHA = Param("alpha", NUMBER, 1, help="multiplies b first")


@command("tensor_add", _A, _B, _ALPHA)
def tensor_add(ctx, a, b, alpha):
    """a + alpha * b (b is a handle or a number)."""
    return torch.add(a, b) if alpha == 1 else torch.add(a, b, alpha=alpha)


@command("tensor_sub", _A, _B, _ALPHA)
def tensor_sub(ctx, a, b, alpha):
    """a - alpha * b (b is a handle or a number)."""
    return torch.sub(a, b) if alpha == 1 else torch.sub(a, b, alpha=alpha)


@command("tensor_mul", _A, _B)
def tensor_mul(ctx, a, b):
    """a * b (b is a handle or a number)."""
    return torch.mul(a, b)


@command("tensor_div", _A, _B)
def tensor_div(ctx, a, b):
    """a / b (b is a handle or a number)."""
    return torch.div(a, b)


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


@command("tensor_to", _TENSOR, Param("device", DEVICE, None), Param("dtype", DTYPE, None),
         usage="tensor ?device? ?dtype?", tail=("device", "dtype"))
def tensor_to(ctx, tensor, device, dtype):
    """A copy on another device, with another dtype, or both (in either order)."""
    if device is None and dtype is None:
        raise TclCommandError("torch::tensor_to needs a device, a dtype or both "
                              f"(dtypes: {convert.DTYPE_CHOICES})", "VALUE")
    return tensor.to(device=device, dtype=dtype)


@command("cuda_is_available")
def cuda_is_available(ctx):
    """1 when this rank can use CUDA."""
    return torch.cuda.is_available()


@command("cuda_device_count")
def cuda_device_count(ctx):
    """The number of CUDA devices this rank sees."""
    return torch.cuda.device_count()
