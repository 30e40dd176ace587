"""The original's weight reparametrizations and embedding helpers: weight and spectral
normalization of a weight tensor (the forms torch.nn.utils.parametrizations computes),
setting a convolution's weights, torch's embedding_bag, and the sinusoidal positional
encoding of "Attention Is All You Need", one row each (see derive.py).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .derive import exports, fn

_X = "input|tensor:T"


def _weight_norm(input, dim):
    """The weight's direction v / ||v||, the norm taken over every dimension but dim (the
    weight norm reparametrization w = g v / ||v|| with a magnitude g of 1)."""
    input = input if input.dtype.is_floating_point else input.float()
    return input / torch.norm_except_dim(input, 2, dim)


def _spectral_norm(input, n_power_iterations):
    """The weight divided by its largest singular value (the weight as a matrix of its first
    dimension by the rest). The value is exact (torch.linalg.matrix_norm), which the power
    iterations the parametrization runs estimate; their count is checked and kept for the
    original's syntax."""
    if n_power_iterations < 1:
        raise ValueError("n_power_iterations must be at least 1")
    input = input if input.dtype.is_floating_point else input.float()
    matrix = input.reshape(input.shape[0], -1) if input.dim() > 1 else input.reshape(1, -1)
    return input / torch.linalg.matrix_norm(matrix, ord=2)


def _set_weights(layer, weight, bias):
    """The convolution's weight (and bias) replaced by copies of the given tensors."""
    if not isinstance(layer, nn.Conv2d):
        raise ValueError("the layer is not a conv2d module")
    with torch.no_grad():
        if weight.shape != layer.weight.shape:
            raise ValueError(f"the weight's shape is {list(weight.shape)}, the layer's {list(layer.weight.shape)}")
        layer.weight.copy_(weight)
        if bias is not None:
            if layer.bias is None or bias.shape != layer.bias.shape:
                raise ValueError("the bias does not fit the layer")
            layer.bias.copy_(bias)
    return "OK"


_BAG_MODES = {0: "sum", 1: "mean", 2: "max", "sum": "sum", "mean": "mean", "max": "max"}


def _embedding_bag(input, weight, offsets, mode, per_sample_weights):
    """torch's embedding_bag; the mode is 0 (sum), 1 (mean) or 2 (max), or its name."""
    key = int(mode) if str(mode).lstrip("-").isdigit() else str(mode)
    if key not in _BAG_MODES:
        raise ValueError("mode must be 0 (sum), 1 (mean) or 2 (max)")
    return F.embedding_bag(input.long(), weight, offsets.long(), mode=_BAG_MODES[key],
                           per_sample_weights=per_sample_weights)


def _positional_encoding(seq_len, d_model, dropout):
    """sin(pos / 10000^(2i/d)) in the even columns, cos in the odd, with dropout p."""
    if d_model % 2:
        raise ValueError("d_model must be even")
    if not 0.0 <= dropout <= 1.0:
        raise ValueError("dropout must be between 0 and 1")
    position = torch.arange(seq_len, dtype=torch.float32).unsqueeze(1)
    rate = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    encoding = torch.zeros(seq_len, d_model)
    encoding[:, 0::2] = torch.sin(position * rate)
    encoding[:, 1::2] = torch.cos(position * rate)
    return F.dropout(encoding, dropout) if dropout > 0 else encoding


WEIGHTS = [
    fn("weight_norm", _weight_norm, f"{_X} dim:I=0", doc="The weight's direction: v / ||v|| over every dim but dim."),
    fn("spectral_norm", _spectral_norm, f"{_X} n_power_iterations|nPowerIterations:I=1",
       doc="The weight divided by its largest singular value."),
    fn("conv2d_set_weights", _set_weights, "layer|module:M weight:T bias:T=None",
       doc="A conv2d layer's weight (and bias) set to copies of the tensors given."),
    fn("embedding_bag", _embedding_bag, f"{_X} weight:T offsets:T mode:S per_sample_weights|perSampleWeights:T=None",
       doc="Sums, means or maxima of the bags of embeddings offsets delimit."),
    fn("positional_encoding", _positional_encoding, "seq_len|seqLen:PI d_model|dModel:PI dropout:N=0.0",
       doc="The sinusoidal positional encoding (seq_len x d_model)."),
]

globals().update(exports(*WEIGHTS))
