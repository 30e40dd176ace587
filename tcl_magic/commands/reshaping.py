"""The original's reductions, scans, rearrangements and linear algebra, one row each
derived from torch (see derive.py). A torch function that answers several tensors (cummax's
values and indices, qr's Q and R) answers a Tcl list of handles.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from .. import convert
from ..spec import TENSOR_LIST, ParamType
from .derive import KINDS, exports, fn

_X = "input|tensor"
_DIM = "dim|dimension"


def _contracted(text: str, ctx) -> tuple[list[int], list[int]]:
    """tensordot's dims: the original's list of dimensions contracted in both tensors
    (`{0 1}`), or torch's two lists, a's then b's (`{{1} {0}}`)."""
    words = ctx.split_list(text)
    if "{" in text and len(words) == 2:
        return (convert.int_list_from_tcl(words[0], ctx.split_list),
                convert.int_list_from_tcl(words[1], ctx.split_list))
    dims = convert.int_list_from_tcl(text, ctx.split_list)
    return dims, list(dims)


def _indexing(text: str, ctx) -> str | list:
    """meshgrid's indexing word (ij, xy), or more tensors (`torch::meshgrid $x $y`: the
    second handle falls in this place)."""
    return text.lower() if text.lower() in ("ij", "xy") else TENSOR_LIST.parse(text, ctx)


# the kinds of this module's own parameters, for its rows' words
KINDS.setdefault("TD", ParamType("dimensions", _contracted))
KINDS.setdefault("IX", ParamType("ij, xy or tensors", _indexing))


def _values(result):
    """A torch result of values and indices (cummax, kthvalue): the values, as the original answered."""
    return result.values


def _labelled(labels, tensors) -> tuple:
    """Several results as a Tcl dict, label then handle (`Q tensor5 R tensor6`), as the original answered."""
    return tuple(item for pair in zip(labels, tensors) for item in pair)


def _svd(A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    U, S, Vh = torch.linalg.svd(A, full_matrices=False)
    return U, S, Vh.mH


def _more(indexing) -> list:
    return indexing if isinstance(indexing, list) else []


def _way(indexing) -> str:
    return "ij" if isinstance(indexing, list) else indexing


def _tensors(*tensors):
    """`torch::hstack $a $b` and `torch::hstack [list $a $b]` alike: the words' handles."""
    return [t for group in tensors for t in (group if isinstance(group, list) else [group])]


REDUCTIONS = [
    fn("cumsum", torch.cumsum, f"{_X} {_DIM}=0", also=("cumSum",)),
    fn("cumprod", torch.cumprod, f"{_X} {_DIM}=0", also=("cumProd",)),
    fn("cummax", torch.cummax, f"{_X} {_DIM}", post=_values, also=("cumMax",)),
    fn("cummin", torch.cummin, f"{_X} {_DIM}", post=_values, also=("cumMin",)),
    fn("diff", torch.diff, f"{_X} n=1 {_DIM}=-1"),
    fn("kthvalue", torch.kthvalue, f"{_X} k {_DIM}=-1 keepdim|keepDim=False", post=_values, also=("kthValue",)),
    fn("mean_dim", torch.mean, f"{_X} {_DIM}:L keepdim|keepDim:B=False"),
    fn("median_dim", lambda input, dim, keepdim: torch.median(input, dim, keepdim).values,
       f"{_X}:T {_DIM}:I keepdim|keepDim:B=False", doc="The median along one dimension."),
    fn("std_dim", lambda input, dim, unbiased, keepdim: torch.std(input, dim, unbiased=unbiased, keepdim=keepdim),
       f"{_X}:T {_DIM}:L unbiased:B=True keepdim|keepDim:B=False", doc="The standard deviation along dimensions."),
    fn("var_dim", lambda input, dim, unbiased, keepdim: torch.var(input, dim, unbiased=unbiased, keepdim=keepdim),
       f"{_X}:T {_DIM}:L unbiased:B=True keepdim|keepDim:B=False", doc="The variance along dimensions."),
    fn("tensor_std", lambda input, dim, unbiased: torch.std(input, dim, unbiased=unbiased),
       f"{_X}:T {_DIM}:I=None unbiased:B=True", doc="The standard deviation, of all or along one dimension."),
    fn("tensor_var", lambda input, dim, unbiased, keepdim: torch.var(input, dim, unbiased=unbiased, keepdim=keepdim),
       f"{_X}:T {_DIM}:I=None unbiased:B=True keepdim|keepDim:B=False", doc="The variance."),
    fn("tensor_median", lambda input, dim: torch.median(input) if dim is None else torch.median(input, dim).values,
       f"{_X}:T {_DIM}:I=None", doc="The median, of all or along one dimension."),
    fn("tensor_mode", lambda input, dim: torch.mode(input, dim).values, f"{_X}:T {_DIM}:I=-1",
       doc="The most frequent value along a dimension."),
    fn("tensor_quantile", lambda input, q, dim: torch.quantile(input, q, dim), f"{_X}:T q|quantile:N {_DIM}:I=None",
       doc="The q-th quantile, of all or along one dimension."),
    fn("tensor_norm", lambda input, p, dim: torch.norm(input, p, dim), f"{_X}:T p:N=2.0 {_DIM}:I=None",
       doc="The p-norm, of all or along one dimension."),
    fn("tensor_normalize", lambda input, p, dim: F.normalize(input.reshape(-1), p, 0).reshape(input.shape)
       if dim is None else F.normalize(input, p, dim), f"{_X}:T p:N=2.0 {_DIM}:I=None",
       doc="The tensor divided by its p-norm: of all its values, or along dim."),
    fn("vector_norm", torch.linalg.vector_norm, f"{_X} ord=2 {_DIM}:L=None keepdim|keepDim=False"),
    fn("matrix_norm", torch.linalg.matrix_norm, f"{_X} ord:S=fro {_DIM}:L=[-2,-1] keepdim|keepDim=False",
       prepare=lambda input, ord, dim, keepdim: dict(input=input, ord=ord if ord in ("fro", "nuc") else float(ord),
                                                dim=dim, keepdim=keepdim)),
    fn("trace", torch.trace, _X, also=("Trace",)),
    fn("tensor_unique", lambda input, sorted, return_inverse: _labelled(
       ("unique", "inverse"), torch.unique(input, sorted, return_inverse)) if return_inverse
       else torch.unique(input, sorted),
       f"{_X}:T sorted:B=True return_inverse|returnInverse:B=False", doc="The distinct values."),
]

SHAPES = [
    fn("flip", torch.flip, f"{_X} dims|dimensions:L", also=("Flip",)),
    fn("roll", torch.roll, f"{_X} shifts:IL dims:IL=None"),
    fn("rot90", torch.rot90, f"{_X} k=1 dims=[0,1]", also=("Rot90",)),
    fn("tril", torch.tril, f"{_X} diagonal=0"),
    fn("triu", torch.triu, f"{_X} diagonal=0"),
    fn("diag", torch.diag, f"{_X} diagonal=0"),
    fn("diagflat", torch.diagflat, f"{_X} offset=0", also=("diagFlat",)),
    fn("atleast_1d", lambda input: torch.atleast_1d(input), f"{_X}:T", also=("atleast1d",),
       doc="The tensor with at least 1 dimension(s)."),
    fn("atleast_2d", lambda input: torch.atleast_2d(input), f"{_X}:T", also=("atleast2d",),
       doc="The tensor with at least 2 dimension(s)."),
    fn("atleast_3d", lambda input: torch.atleast_3d(input), f"{_X}:T", also=("atleast3d",),
       doc="The tensor with at least 3 dimension(s)."),
    fn("tensor_permute", torch.permute, f"{_X} dims:L"),
    fn("tensor_expand", lambda input, size: input.expand(size), f"{_X}:T size|sizes|shape:L",
       doc="A view of the tensor repeated along its dimensions of size 1."),
    fn("tensor_repeat", lambda input, repeats: input.repeat(repeats), f"{_X}:T repeats:L",
       doc="The tensor tiled repeats times along each dimension."),
    fn("tensor_contiguous", lambda input: input.contiguous(), f"{_X}:T", doc="The values laid out contiguously."),
    fn("tensor_is_contiguous", lambda input: input.is_contiguous(), f"{_X}:T", doc="1 when laid out contiguously."),
    fn("tensor_is_cuda", lambda input: input.is_cuda, f"{_X}:T", doc="1 when the tensor is on a CUDA device."),
    fn("tensor_clamp", lambda input, min, max: input.clone() if min is None and max is None
       else torch.clamp(input, min, max), f"{_X}:T min:N=None max:N=None",
       doc="The values limited to [min, max] (either bound may be left out; neither: a copy)."),
    fn("tensor_masked_fill", torch.masked_fill, f"{_X} mask value:N"),
    fn("tensor_where", torch.where, "condition input|x:T other|y:T"),
    fn("unsqueeze_multiple", lambda input, dims: _unsqueeze_all(input, dims), f"{_X}:T dims:L",
       doc="A new dimension of size 1 at each of dims, the largest first (as the original did)."),
    fn("squeeze_multiple", lambda input, dims: input.squeeze() if dims is None else input.squeeze(tuple(dims)),
       f"{_X}:T dims:L=None", doc="Dimensions of size 1 removed (all, or those of dims)."),
    fn("unfold", lambda input, dimension, size, step: input.unfold(dimension, size, step),
       f"{_X}:T dimension|dim:I size:I step:I", doc="Every slice of size along dimension, step apart."),
    fn("take_along_dim", torch.take_along_dim, f"{_X} indices {_DIM}=None"),
    fn("tensor_split", lambda input, sections, dim: torch.tensor_split(input, _split(sections), dim),
       f"{_X}:T sections|indices|indices_or_sections:IL {_DIM}:I=0", doc="The tensor split into sections, "
       "or at indices, along dim."),
    fn("hsplit", lambda input, sections: torch.hsplit(input, _split(sections)), f"{_X}:T sections|indices:IL",
       also=("hSplit",), doc="The tensor split column-wise."),
    fn("vsplit", lambda input, sections: torch.vsplit(input, _split(sections)), f"{_X}:T sections|indices:IL",
       also=("vSplit",), doc="The tensor split row-wise."),
    fn("dsplit", lambda input, sections: torch.dsplit(input, _split(sections)), f"{_X}:T sections|indices:IL",
       also=("dSplit",), doc="The tensor split depth-wise."),
    fn("tensor_bmm", torch.bmm, f"{_X} other|mat2>mat2"),
    fn("tensordot", lambda a, b, dims: torch.tensordot(a, b, dims), "a|input:T b|other:T dims:TD",
       also=("tensorDot",), doc="The tensor dot product over dims: a list of dimensions contracted in both "
       "tensors (the original's form), or two lists (a's, b's)."),
]

for _name, _target in (("hstack", torch.hstack), ("vstack", torch.vstack), ("dstack", torch.dstack),
                       ("column_stack", torch.column_stack), ("row_stack", torch.vstack)):
    SHAPES.append(fn(_name, lambda tensors, target=_target: target(tensors), "tensors|inputs:TL", rest=True,
                     doc=f"The tensors stacked ({_name.split('_')[0]}-wise).",
                     also=(_name[0] + _name[1:].capitalize(),) if "_" not in _name else ()))
SHAPES += [
    fn("broadcast_tensors", lambda tensors: torch.broadcast_tensors(*tensors), "tensors:TL", rest=True,
       doc="The tensors broadcast to one shape."),
    fn("cartesian_prod", lambda tensors: torch.cartesian_prod(*tensors), "tensors:TL", rest=True,
       doc="The cartesian product of 1-D tensors."),
    fn("meshgrid", lambda tensors, indexing: torch.meshgrid(*tensors, *_more(indexing), indexing=_way(indexing)),
       "tensors:TL indexing:IX=ij", rest=True, also=("meshGrid",), doc="Coordinate grids of 1-D tensors."),
    fn("block_diag", lambda tensors: torch.block_diag(*tensors), "tensors:TL", rest=True,
       doc="A block-diagonal matrix of the tensors."),
    fn("einsum", lambda equation, tensors: torch.einsum(equation, *tensors), "equation:S tensors:TL", rest=True,
       also=("Einsum",), doc="Einstein summation of the tensors by the equation."),
    fn("broadcast_shapes", lambda shapes: list(torch.broadcast_shapes(*shapes)), "shapes:SHL", rest=True,
       doc="The shape that the given shapes broadcast to."),
]
del _name, _target

LINALG = [
    fn("tensor_cholesky", torch.linalg.cholesky, f"{_X}"),
    fn("tensor_qr", lambda A: _labelled("QR", torch.linalg.qr(A)), f"{_X}:T>A",
       doc="The QR decomposition: a dict {Q handle R handle}."),
    fn("tensor_svd", lambda A: _labelled("USV", _svd(A)), f"{_X}:T>A",
       doc="The singular value decomposition A = U diag(S) V^T: a dict {U handle S handle V handle}."),
    fn("tensor_eigen", lambda A: _labelled(("eigenvalues", "eigenvectors"), torch.linalg.eigh(A)), f"{_X}:T>A",
       doc="The eigenvalues (ascending) and eigenvectors of a symmetric matrix: a dict "
       "{eigenvalues handle eigenvectors handle}."),
    fn("tensor_pinv", torch.linalg.pinv, f"{_X} rcond:N=None>rtol"),
    fn("tensor_matrix_exp", torch.linalg.matrix_exp, f"{_X}"),
    fn("matrix_power", torch.linalg.matrix_power, f"{_X} n"),
    fn("matrix_rank", torch.linalg.matrix_rank, f"{_X} tol:N=None>atol hermitian=False"),
    fn("cond", torch.linalg.cond, f"{_X} p|norm:N=None"),
    fn("lstsq", lambda B, A, rcond: torch.linalg.lstsq(A, B, rcond=rcond).solution, "B|b:T A|a:T rcond:N=None",
       also=("leastSquares",), doc="The least-squares solution X of A X = B."),
    fn("solve_triangular", torch.linalg.solve_triangular, "B|b:T A|a:T>input upper:B=False left=True unitriangular=False"),
    fn("cholesky_solve", torch.cholesky_solve, "input|B|b:T input2|L|l:T upper=False"),
    fn("lu_solve", lambda b, lu_data, lu_pivots: torch.linalg.lu_solve(lu_data, lu_pivots, b),
       "b|B:T lu_data|LU_data|LU|lu:T lu_pivots|LU_pivots|pivots:T",
       doc="The solution of A X = B from A's LU factorization."),
]


def _split(sections: int | tuple[int, ...]) -> int | list[int]:
    return sections if isinstance(sections, int) else list(sections)


def _unsqueeze_all(input: torch.Tensor, dims: list[int]) -> torch.Tensor:
    if not dims:
        raise ValueError("dims must name at least one dimension")
    for dim in sorted(dims, reverse=True):
        input = input.unsqueeze(dim)
    return input


globals().update(exports(*REDUCTIONS, *SHAPES, *LINALG))
