"""The original's element-wise vocabulary: math functions, activations and element-wise
pairs, each one row derived from torch (see derive.py): the row holds the original's name,
synonyms and parameter spellings; torch's schema gives the kinds and defaults.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from .derive import doc_of as _doc_of, exports, fn

_X = "input|tensor|x"
_PAIR = "input|input1|tensor1|tensor|x:T other|input2|tensor2|y:TN"


def _unary(name: str, target, *also: str, doc: str = ""):
    return fn(name, target, _X, doc=doc, also=also)


MATH = [_unary(name, getattr(torch, name), *also) for name, *also in (
    ("acos",), ("acosh",), ("asin",), ("asinh",), ("atan",), ("atanh",), ("ceil",), ("floor", "Floor"),
    ("round", "Round"), ("trunc",), ("frac", "Frac"), ("exp2",), ("expm1",), ("log10",), ("log1p",), ("log2",),
    ("rsqrt", "rSqrt"), ("square", "Square"), ("sin",), ("sinh", "siNh"), ("cos",), ("cosh",), ("tan",),
    ("isfinite", "isFinite"), ("isinf", "isInf"), ("isnan", "isNan"), ("logical_not",), ("bitwise_not",),
    ("deg2rad", "deg2Rad"), ("rad2deg", "radToDeg"), ("sign",), ("sgn",), ("reciprocal",), ("erf",),
    ("erfc",), ("lgamma",), ("digamma",), ("sinc",), ("signbit",), ("positive",), ("fix",))]
MATH.append(fn("exp10", lambda input: torch.pow(10.0, input), _X + ":T", doc="10 to the x, element-wise."))

ACTIVATIONS = [
    _unary("relu6", F.relu6), _unary("selu", F.selu), _unary("silu", F.silu, "siLU"), _unary("mish", F.mish),
    _unary("hardsigmoid", F.hardsigmoid, "hardSigmoid"), _unary("hardswish", F.hardswish, "hardSwish"),
    _unary("tanhshrink", F.tanhshrink, "tanhShrink"), _unary("softsign", F.softsign, "softSign"),
    fn("softplus", F.softplus, _X + " beta:N=1.0 threshold:N=20.0", also=("softPlus",)),
    fn("elu", F.elu, _X + " alpha=1.0", also=("Elu",)),
    fn("celu", F.celu, _X + " alpha=1.0"),
    fn("gelu", F.gelu, _X + " approximate"),
    fn("leaky_relu", F.leaky_relu, _X + " negative_slope|slope=0.01"),
    fn("hardtanh", F.hardtanh, _X + " min_val|min=-1.0 max_val|max=1.0", also=("hardTanh",)),
    fn("threshold", F.threshold, _X + " threshold:N value:N", also=("Threshold",)),
    fn("rrelu", F.rrelu, _X + " lower=0.125 upper=0.3333333333333333", also=("rRelu",)),
    fn("glu", F.glu, _X + " dim=-1"),
    fn("logsoftmax", F.log_softmax, _X + " dim|dimension=-1"),
    fn("softmin", F.softmin, _X + " dim|dimension:I=-1", also=("softMin",)),
    fn("softmax2d", lambda input, dim: torch.softmax(input if input.is_floating_point() else input.float(), dim),
       _X + ":T dim|dimension:I=1", also=("softmax2D",),
       doc="softmax along dim: by default 1, the channels of an image batch (the original's default)."),
    fn("prelu", F.prelu, _X + " weight"),
]

def _pair(name: str, *also: str):
    """torch names its second operand differently from function to function (other, tensor,
    vec2): it is given by position."""
    target = getattr(torch, name)
    return fn(name, lambda input, other: target(input, other), _PAIR, also=also, doc=_doc_of(target))


PAIRS = [_pair(name, *also) for name, *also in (
    ("bitwise_and",), ("bitwise_or",), ("bitwise_xor",), ("bitwise_left_shift",), ("bitwise_right_shift",),
    ("logical_and",), ("logical_or",), ("logical_xor",), ("dot",), ("outer", "Outer"), ("kron",),
    ("maximum",), ("minimum",), ("fmod",), ("remainder",), ("hypot",), ("copysign",))]
PAIRS += [
    fn("atan2", torch.atan2, "input|y|input1|tensor1:T other|x|input2|tensor2:T"),
    fn("cross", torch.linalg.cross, _PAIR + " dim:I=-1"),
    fn("isclose", torch.isclose, _PAIR + " rtol=1e-05 atol=1e-08 equal_nan|equalNan=False", also=("isClose",)),
]

globals().update(exports(*MATH, *ACTIVATIONS, *PAIRS))
