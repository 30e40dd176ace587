"""The original's multi-dimensional indexing and combinatorics: indexing by a list of index
tensors, gathering and scattering whole index tuples (the last dimension of `indices` is
a position in the leading dimensions of the input), all r-combinations, and finite
differences (the original's gradient). Each is one torch expression under the original's
names and orders (see derive.py).
"""
from __future__ import annotations

import torch

from .derive import exports, fn

_X = "input|tensor:T"


def _positions(indices: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """An index tensor (..., K) as K index tensors: one per leading dimension of the input.
    A 1-D index tensor is a list of positions in the first dimension (K = 1), as the
    original read it."""
    if indices.dtype.is_floating_point or indices.is_complex():
        raise ValueError("indices must be integers")
    indices = indices.long() if indices.dim() > 1 else indices.long().unsqueeze(-1)
    return tuple(indices.unbind(-1))


def _gather_nd(input, indices):
    """input[indices[..., 0], indices[..., 1], ...]: the entries (or slices) at each tuple."""
    return input[_positions(indices)]


def _scatter_nd(input, indices, updates):
    """A copy of input with the entries (or slices) at each index tuple set to updates."""
    out = input.clone()
    out[_positions(indices)] = updates.to(out.dtype)
    return out


def _advanced_index(tensor, indices):
    """tensor[i0, i1, ...]: torch's advanced indexing by index tensors, one per dimension."""
    if not indices:
        raise ValueError("give at least one index tensor")
    return tensor[tuple(i.long() if not i.dtype == torch.bool else i for i in indices)]


def _gradient(input, spacing, dim):
    """The original's finite differences: each value's difference with the next along dim
    (the last by default), over the spacing; one element fewer along dim."""
    input = input if input.dtype.is_floating_point or input.is_complex() else input.double()
    if spacing and len(spacing) > 1:
        raise ValueError("spacing is one number: the distance between neighbouring samples along dim")
    step = spacing[0] if spacing else 1.0
    if step == 0:
        raise ValueError("spacing must not be 0")
    return torch.diff(input, dim=dim) / step


INDEXING = [
    fn("tensor_advanced_index", _advanced_index, "tensor|input:T indices:TL",
       doc="The tensor indexed by a list of index tensors, one per leading dimension."),
    fn("gather_nd", _gather_nd, f"{_X} indices:T", doc="The entries (or slices) of input at each index tuple "
       "(the last dimension of indices)."),
    fn("scatter_nd", _scatter_nd, f"{_X} indices:T updates:T",
       doc="A copy of input with updates written at each index tuple."),
    fn("combinations", torch.combinations, f"{_X} r:I=2 with_replacement|withReplacement|replacement:B=False"),
    fn("gradient", _gradient, f"{_X} spacing:NL=None dim|dimension:I=-1", also=("gradientCmd",),
       doc="Finite differences along dim (the last by default), over the spacing: one element fewer "
       "along dim, as the original answered."),
]

globals().update(exports(*INDEXING))
