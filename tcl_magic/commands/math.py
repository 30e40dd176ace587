"""Tensor math: matrix products, element-wise functions, activations, reductions to an
index, comparisons, and selecting or rearranging parts of a tensor.

Like every command that makes a tensor, each returns a new handle and leaves its inputs
as they were.
"""
from __future__ import annotations

import torch

from ..errors import invalid
from ..handles import HandleError
from ..spec import BOOL, DTYPE, INT, NUMBER, TENSOR, TENSOR_OR_NUMBER, Param, ParamType, command, declare
from .. import convert

_INPUT = Param("tensor", TENSOR, aliases=("input",), help="tensor handle")
_A = Param("a", TENSOR, aliases=("input", "input1", "tensor1"))
_B = Param("b", TENSOR_OR_NUMBER, aliases=("other", "input2", "tensor2"))
_DIM = Param("dim", INT, None, aliases=("dimension",), help="a dimension (all of them if none)")
_KEEPDIM = Param("keepdim", BOOL, False, help="keep the reduced dimension, with size 1")


def _indices(text: str, ctx) -> torch.Tensor:
    """A tensor handle of integers, or a Tcl list of integers."""
    tensor = ctx.handles.find(text)
    if tensor is None:
        try:
            return torch.tensor(convert.shape_from_tcl(text, ctx.split_list, allow_inferred=False), dtype=torch.int64)
        except convert.ConversionError:
            raise HandleError("tensor", text, "a handle of integers or a list of non-negative integers") from None
    return tensor


INDICES = ParamType("indices", _indices)


@command("tensor_matmul", Param("a", TENSOR, aliases=("input", "tensor1")),
         Param("b", TENSOR, aliases=("other", "tensor2")))
def tensor_matmul(ctx, a, b):
    """The matrix product (batched and broadcast like torch.matmul)."""
    return torch.matmul(a, b)


@command("tensor_pow", Param("base", TENSOR, aliases=("input", "input1", "tensor")),
         Param("exponent", TENSOR_OR_NUMBER, aliases=("other", "input2")), also=("pow",))
def tensor_pow(ctx, base, exponent):
    """base to the power exponent (a handle or a number), element-wise."""
    return torch.pow(base, exponent)


def _unary(name: str, op, doc: str):
    return declare(name, _INPUT, run=op, doc=doc)


tensor_neg = _unary("tensor_neg", torch.neg, "-x, element-wise.")
tensor_abs = _unary("tensor_abs", torch.abs, "|x|, element-wise.")
tensor_exp = _unary("tensor_exp", torch.exp, "e to the x, element-wise.")
tensor_log = _unary("tensor_log", torch.log, "The natural logarithm, element-wise.")
tensor_sqrt = _unary("tensor_sqrt", torch.sqrt, "The square root, element-wise.")
tensor_relu = _unary("tensor_relu", torch.relu, "max(x, 0), element-wise.")
tensor_sigmoid = _unary("tensor_sigmoid", torch.sigmoid, "1 / (1 + e^-x), element-wise.")
tensor_tanh = _unary("tensor_tanh", torch.tanh, "The hyperbolic tangent, element-wise.")
tensor_clone = _unary("tensor_clone", torch.clone, "A copy that shares nothing with the input "
                      "(gradients still flow back through it).")
tensor_t = _unary("tensor_t", torch.t, "The transpose of a tensor of at most 2 dimensions.")


@command("softmax", _INPUT, Param("dim", INT, aliases=("dimension",)), Param("dtype", DTYPE, None),
         also=("tensor_softmax",))
def softmax(ctx, tensor, dim, dtype):
    """exp(x) / sum(exp(x)) along dim: every slice along it sums to 1."""
    return torch.softmax(tensor, dim, dtype=dtype)


@command("log_softmax", _INPUT, Param("dim", INT, aliases=("dimension",)), Param("dtype", DTYPE, None),
         also=("tensor_log_softmax",))
def log_softmax(ctx, tensor, dim, dtype):
    """The logarithm of softmax, computed stably (what nll_loss takes)."""
    return torch.log_softmax(tensor, dim, dtype=dtype)


def _reduce_to(name: str, op, doc: str):
    return declare(name, _INPUT, _DIM, _KEEPDIM, run=op, doc=doc)


tensor_max = _reduce_to("tensor_max", lambda t, dim, keep: t.max() if dim is None else t.max(dim, keep).values,
                        "The largest value, or the largest along one dimension.")
tensor_min = _reduce_to("tensor_min", lambda t, dim, keep: t.min() if dim is None else t.min(dim, keep).values,
                        "The smallest value, or the smallest along one dimension.")
tensor_argmax = _reduce_to("tensor_argmax", lambda t, dim, keep: t.argmax(dim, keep),
                           "Where the largest value is (an index into the flattened tensor if no dim).")
tensor_argmin = _reduce_to("tensor_argmin", lambda t, dim, keep: t.argmin(dim, keep),
                           "Where the smallest value is (an index into the flattened tensor if no dim).")


def _compare(name: str, op, doc: str):
    return declare(name, _A, _B, run=op, doc=doc, also=(f"tensor_{name}", name.capitalize()))  # the original's Gt


eq = _compare("eq", torch.eq, "a == b element-wise, as a bool tensor.")
ne = _compare("ne", torch.ne, "a != b element-wise, as a bool tensor.")
gt = _compare("gt", torch.gt, "a > b element-wise, as a bool tensor.")
ge = _compare("ge", torch.ge, "a >= b element-wise, as a bool tensor.")
lt = _compare("lt", torch.lt, "a < b element-wise, as a bool tensor.")
le = _compare("le", torch.le, "a <= b element-wise, as a bool tensor.")


@command("tensor_allclose", _A, Param("b", TENSOR, aliases=("other", "input2", "tensor2")),
         Param("rtol", NUMBER, 1e-05), Param("atol", NUMBER, 1e-08), also=("allclose",))
def tensor_allclose(ctx, a, b, rtol, atol):
    """1 when |a - b| <= atol + rtol * |b| everywhere (shapes broadcast), else 0."""
    if a.dtype != b.dtype:
        b = b.to(a.dtype)
    return torch.allclose(a, b, rtol=rtol, atol=atol)


@command("tensor_transpose", _INPUT, Param("dim0", INT, 0), Param("dim1", INT, 1))
def tensor_transpose(ctx, tensor, dim0, dim1):
    """dim0 and dim1 swapped (the first two by default)."""
    return tensor.transpose(dim0, dim1)


@command("tensor_index_select", Param("tensor", TENSOR, aliases=("input",)),
         Param("dim", INT, aliases=("dimension",)), Param("indices", INDICES, aliases=("index",)))
def tensor_index_select(ctx, tensor, dim, indices):
    """The entries at the given indices along dim (a handle of integers, or a Tcl list)."""
    return torch.index_select(tensor, dim, indices.to(device=tensor.device, dtype=torch.int64))


@command("tensor_narrow", Param("tensor", TENSOR, aliases=("input",)), Param("dim", INT, aliases=("dimension",)),
         Param("start", INT), Param("length", INT), also=("narrow_copy",))
def tensor_narrow(ctx, tensor, dim, start, length):
    """length entries from start along dim (a copy)."""
    return tensor.narrow(dim, start, length).clone()


@command("tensor_slice", Param("tensor", TENSOR, aliases=("input",)), Param("dim", INT, aliases=("dimension",)),
         Param("start", INT), Param("end", INT, None), Param("step", INT, 1))
def tensor_slice(ctx, tensor, dim, start, end, step):
    """Entries start, start+step, ... before end along dim, like Python's x[start:end:step]."""
    if step < 1:
        raise invalid("step", "Must be at least 1.", step)
    if not -tensor.dim() <= dim < tensor.dim():
        raise invalid("dim", f"The tensor has {tensor.dim()} dimension(s).", dim)
    index = [slice(None)] * tensor.dim()
    index[dim] = slice(start, end, step)
    return tensor[tuple(index)].clone()


@command("tensor_squeeze", _INPUT, Param("dim", INT, None, aliases=("dimension",)))
def tensor_squeeze(ctx, tensor, dim):
    """Dimensions of size 1 removed (all of them, or just dim)."""
    return tensor.squeeze() if dim is None else tensor.squeeze(dim)


@command("tensor_unsqueeze", _INPUT, Param("dim", INT, aliases=("dimension",)))
def tensor_unsqueeze(ctx, tensor, dim):
    """A new dimension of size 1 at dim."""
    return tensor.unsqueeze(dim)
