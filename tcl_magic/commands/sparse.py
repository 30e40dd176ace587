"""The original's sparse-tensor vocabulary: torch's COO, CSR and CSC layouts made from
index and value tensors, and the operations torch.sparse defines on them, one row each
derived from torch (see derive.py). A sparse tensor is a tensor handle like any other;
commands that need a sparse operand take a dense one too, made sparse first, as the
original's did.
"""
from __future__ import annotations

import torch
from torch import nn

from .derive import exports, fn

_MAKE = "dtype:D=None device:V=None requires_grad|requiresGrad:B=False"
_TAIL = ("dtype", "device", "requires_grad")
_X = "input|tensor|sparse_tensor:T"


def _sparse(tensor: torch.Tensor) -> torch.Tensor:
    """A sparse operand: a dense tensor is turned into COO."""
    return tensor if tensor.layout != torch.strided else tensor.to_sparse()


def _coo(indices, values, size, dtype, device, requires_grad):
    """torch's indices are ndim x nnz; nnz x ndim ones (one point a row) are read as such
    where the size leaves no doubt. Invariants are checked: bad indices are an error."""
    if indices.dim() == 2 and indices.shape[0] != len(size) and indices.shape[1] == len(size):
        indices = indices.T
    made = torch.sparse_coo_tensor(indices.long(), values, tuple(size), dtype=dtype, device=device,
                                   check_invariants=True)
    return made.requires_grad_(requires_grad) if requires_grad else made


def _compressed(target):
    def make(values, size, dtype, device, requires_grad, **indices):
        compressed, plain = indices.values()
        made = target(compressed.long(), plain.long(), values, tuple(size), dtype=dtype, device=device,
                      check_invariants=True)
        return made.requires_grad_(requires_grad) if requires_grad else made
    return make


def _dense(input):
    return input.to_dense() if input.layout != torch.strided else input


def _sum(input, dim):
    result = torch.sparse.sum(_sparse(input)) if dim is None else torch.sparse.sum(_sparse(input), dim)
    return _dense(result)


def _embedding(input, num_embeddings, embedding_dim, padding_idx):
    """The rows of a new embedding table whose gradient is sparse (nn.Embedding(sparse=True));
    a negative padding_idx is none."""
    if num_embeddings < 1 or embedding_dim < 1:
        raise ValueError("num_embeddings and embedding_dim must be at least 1")
    table = nn.Embedding(num_embeddings, embedding_dim, padding_idx=None if padding_idx < 0 else padding_idx,
                         sparse=True)
    return table(input.long())


def _reshape(input, shape):
    """A sparse tensor with the same entries laid out in `shape` (its indices recomputed)."""
    sparse = _sparse(input).coalesce()
    shape = tuple(shape)
    if -1 not in shape and torch.Size(shape).numel() != sparse.shape.numel():
        raise ValueError(f"shape {list(shape)} is invalid for a tensor of {sparse.shape.numel()} elements")
    return sparse.to_dense().reshape(shape).to_sparse()


SPARSE = [
    fn("sparse_coo_tensor", _coo, f"indices:T values:T size:SH {_MAKE}", tail=_TAIL,
       doc="A sparse COO tensor: values at the columns of indices (ndim x nnz), of the given size."),
    fn("sparse_tensor_create", _coo, f"indices:T values:T size:SH {_MAKE}", tail=_TAIL,
       doc="A sparse COO tensor from indices and values (as sparse_coo_tensor)."),
    fn("sparse_csr_tensor", _compressed(torch.sparse_csr_tensor), "crow_indices|crowIndices:T "
       f"col_indices|colIndices:T values:T size:SH {_MAKE}", tail=_TAIL,
       doc="A sparse CSR tensor: compressed row pointers, column indices and values."),
    fn("sparse_csc_tensor", _compressed(torch.sparse_csc_tensor), "ccol_indices|ccolIndices:T "
       f"row_indices|rowIndices:T values:T size:SH {_MAKE}", tail=_TAIL,
       doc="A sparse CSC tensor: compressed column pointers, row indices and values."),
    fn("sparse_to_dense", _dense, _X, doc="The dense tensor a sparse one stands for."),
    fn("sparse_tensor_dense", _dense, _X, doc="The dense tensor a sparse one stands for (as sparse_to_dense)."),
    fn("sparse_add", lambda tensor1, tensor2, alpha: _sparse(tensor1) + alpha * _sparse(tensor2),
       "tensor1|input1|input:T tensor2|input2|other:T alpha:N=1.0", doc="tensor1 + alpha * tensor2, sparse."),
    fn("sparse_mm", lambda sparse_tensor, dense_tensor: torch.sparse.mm(_sparse(sparse_tensor), dense_tensor),
       "sparse_tensor|sparseTensor|input:T dense_tensor|denseTensor|other:T",
       doc="The product of a sparse matrix and a dense one (dense)."),
    fn("sparse_sum", _sum, f"{_X} dim:IL=None", doc="The sum of a sparse tensor's entries (over dim), dense."),
    fn("sparse_softmax", lambda input, dim: torch.sparse.softmax(_sparse(input), dim), f"{_X} dim:I",
       doc="softmax over dim of the specified entries (unspecified ones count as absent)."),
    fn("sparse_log_softmax", lambda input, dim: torch.sparse.log_softmax(_sparse(input), dim), f"{_X} dim:I",
       doc="log_softmax over dim of the specified entries (unspecified ones count as absent)."),
    fn("sparse_mask", lambda tensor, mask: _dense(tensor).sparse_mask(_sparse(mask).coalesce()),
       "tensor|input:T mask:T", doc="The tensor's values at the entries the sparse mask specifies."),
    fn("sparse_transpose", lambda tensor, dim0, dim1: _sparse(tensor).transpose(dim0, dim1),
       "tensor|input|sparse_tensor:T dim0:I dim1:I", doc="A sparse tensor with two dimensions swapped."),
    fn("sparse_reshape", _reshape, f"{_X} shape|size:SH",
       doc="A sparse tensor with the same entries in a new shape."),
    fn("sparse_coalesce", lambda input: _sparse(input).coalesce(), _X,
       doc="A sparse tensor with duplicate indices summed and its indices sorted."),
    fn("sparse_embedding", _embedding, "input|tensor:T num_embeddings|numEmbeddings:I embedding_dim|embeddingDim:I "
       "padding_idx|paddingIdx:I=-1", doc="The rows of a new embedding table whose gradient is sparse."),
]

globals().update(exports(*SPARSE))
