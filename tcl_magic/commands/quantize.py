"""The original's quantization vocabulary: torch's quantized tensors (per tensor and per
channel), their parts, fake quantization and the quantized element-wise operators, one row
each derived from torch (see derive.py). The quantized operators take float tensors too,
quantized first with the output's scale and zero point.
"""
from __future__ import annotations

import torch

from ..errors import TclCommandError
from ..handles import HandleError
from ..spec import ParamType, choice
from .derive import KINDS, exports, fn


def _quantized_handle(text: str, ctx) -> torch.Tensor:
    """A tensor handle; one that names nothing is also the original's `Invalid quantized tensor`."""
    try:
        return ctx.handles.get(text)
    except HandleError:
        raise HandleError("tensor", text, " (Invalid quantized tensor)") from None


KINDS.setdefault("QD", choice("quint8", "qint8", "qint32", legacy={"torch.quint8": "quint8", "torch.qint8": "qint8",
                                                                   "torch.qint32": "qint32"}))
KINDS.setdefault("QT", ParamType("tensor", _quantized_handle))
_X = "input|tensor|quantized_tensor:QT"


def _needs(scheme: str, read):
    """A reading of a quantized tensor's parts (int_repr, q_scale, q_per_channel_axis ...): a
    tensor quantized otherwise, or not at all, is the original's `Invalid quantized tensor`."""
    def reader(input: torch.Tensor):
        schemes = {"any": (torch.per_tensor_affine, torch.per_channel_affine,
                           torch.per_tensor_symmetric, torch.per_channel_symmetric),
                   "tensor": (torch.per_tensor_affine, torch.per_tensor_symmetric),
                   "channel": (torch.per_channel_affine, torch.per_channel_symmetric,
                               torch.per_channel_affine_float_qparams)}[scheme]
        if not input.is_quantized or input.qscheme() not in schemes:
            raise TclCommandError("Invalid quantized tensor", "VALUE")
        return read(input)
    return reader


def _qdtype(name: str) -> torch.dtype:
    return getattr(torch, name)


def _quantized(tensor: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """A quantized tensor as it is, a float one quantized (quint8) with the given scale."""
    if tensor.is_quantized:
        return tensor
    return torch.quantize_per_tensor(tensor.float(), scale, zero_point, torch.quint8)


def _add(tensor1, tensor2, scale, zero_point, alpha):
    if alpha != 1.0:
        tensor2 = (tensor2.dequantize() if tensor2.is_quantized else tensor2) * alpha
    return torch.ops.quantized.add(_quantized(tensor1, scale, zero_point), _quantized(tensor2, scale, zero_point),
                                   scale, zero_point)


def _mul(tensor1, tensor2, scale, zero_point):
    return torch.ops.quantized.mul(_quantized(tensor1, scale, zero_point), _quantized(tensor2, scale, zero_point),
                                   scale, zero_point)


def _per_channel_zero_points(zero_points: torch.Tensor) -> torch.Tensor:
    return zero_points.round().to(torch.int32) if zero_points.dtype.is_floating_point else zero_points.to(torch.int32)


QUANTIZE = [
    fn("quantize_per_tensor", lambda input, scale, zero_point, dtype: torch.quantize_per_tensor(
        input.float(), scale, zero_point, _qdtype(dtype)), "input|tensor:T scale:PN zero_point|zeroPoint:I dtype:QD",
       doc="The tensor quantized with one scale and zero point (quint8, qint8 or qint32)."),
    fn("quantize_per_channel", lambda input, scales, zero_points, axis, dtype: torch.quantize_per_channel(
        input.float(), scales.double(), zero_points.long(), axis, _qdtype(dtype)),
       "input|tensor:T scales:T zero_points|zeroPoints:T axis:I dtype:QD",
       doc="The tensor quantized with a scale and zero point per slice along axis."),
    fn("dequantize", lambda input: input.dequantize() if input.is_quantized else input.float(), _X,
       also=("deQuantize",), doc="The float values of a quantized tensor."),
    fn("int_repr", _needs("any", lambda input: input.int_repr()), _X, doc="The integers a quantized tensor stores."),
    fn("q_scale", _needs("tensor", lambda input: input.q_scale()), _X, doc="A per-tensor quantized tensor's scale."),
    fn("q_zero_point", _needs("tensor", lambda input: input.q_zero_point()), _X, doc="A per-tensor quantized tensor's zero point."),
    fn("q_per_channel_scales", _needs("channel", lambda input: input.q_per_channel_scales()), _X,
       doc="A per-channel quantized tensor's scales."),
    fn("q_per_channel_zero_points", _needs("channel", lambda input: input.q_per_channel_zero_points()), _X,
       doc="A per-channel quantized tensor's zero points."),
    fn("q_per_channel_axis", _needs("channel", lambda input: input.q_per_channel_axis()), _X,
       doc="The axis a per-channel quantized tensor is quantized along."),
    fn("fake_quantize_per_tensor", lambda input, scale, zero_point, quant_min, quant_max:
       torch.fake_quantize_per_tensor_affine(input.float(), scale, zero_point, quant_min, quant_max),
       "input|tensor:T scale:PN zero_point|zeroPoint:I quant_min|quantMin:I=0 quant_max|quantMax:I=255",
       doc="The tensor quantized and dequantized again (per tensor), in float."),
    fn("fake_quantize_per_channel", lambda input, scales, zero_points, axis, quant_min, quant_max:
       torch.fake_quantize_per_channel_affine(input.float(), scales.float(), _per_channel_zero_points(zero_points),
                                              axis, quant_min, quant_max),
       "input|tensor:T scales:T zero_points|zeroPoints:T axis:I quant_min|quantMin:I=0 quant_max|quantMax:I=255",
       doc="The tensor quantized and dequantized again (per channel along axis), in float."),
    fn("quantized_add", _add, "tensor1|input1|a:T tensor2|input2|b:T scale:PN zero_point|zeroPoint:I alpha:N=1.0",
       doc="The sum of two tensors, quantized with the output's scale and zero point."),
    fn("quantized_mul", _mul, "tensor1|input1|a:T tensor2|input2|b:T scale:PN zero_point|zeroPoint:I",
       doc="The product of two tensors, quantized with the output's scale and zero point."),
    fn("quantized_relu", lambda input: torch.relu(input), _X, doc="max(x, 0) of a quantized (or float) tensor."),
]

globals().update(exports(*QUANTIZE))
