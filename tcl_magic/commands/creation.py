"""The original's tensor makers: `*_like`, ranges, windows and random samples, one row each
derived from torch (see derive.py). Trailing dtype and device words come in either order,
as in the original's factories.
"""
from __future__ import annotations

import torch

from .derive import exports, fn

_TAIL = ("dtype", "device", "requires_grad")
_MAKE = "dtype:D=None device:V=None requires_grad|requiresGrad:B=False"


def _like(name: str, target, middle: str = "", camel: str = ""):
    return fn(name, target, f"input|tensor:T {middle} {_MAKE}".replace("  ", " "), tail=_TAIL,
              also=(camel,) if camel else ())


LIKE = [
    _like("zeros_like", torch.zeros_like), _like("ones_like", torch.ones_like),
    _like("empty_like", torch.empty_like), _like("rand_like", torch.rand_like),
    _like("randn_like", torch.randn_like), _like("full_like", torch.full_like, "fill_value|value:N"),
    fn("randint_like", lambda input, high, low, dtype, device, requires_grad: torch.randint_like(
        input, low, high, dtype=dtype or torch.int64, device=device, requires_grad=requires_grad),
       f"input|tensor:T high:I low:I=0 {_MAKE}", tail=_TAIL,
       doc="Random integers in [low, high), shaped like input (int64 unless dtype says otherwise)."),
]

RANGES = [
    fn("linspace", torch.linspace, f"start:N end:N steps:I {_MAKE}", tail=_TAIL),
    fn("logspace", torch.logspace, f"start:N end:N steps:I base:N=10.0 {_MAKE}", tail=_TAIL),
    fn("eye", lambda n, m, dtype, device, requires_grad: torch.eye(
        n, n if m is None else m, dtype=dtype, device=device, requires_grad=requires_grad),
       f"n:I m:I=None {_MAKE}", tail=_TAIL, doc="The identity matrix (n x m)."),
]

for _name in ("hann_window", "hamming_window", "bartlett_window", "blackman_window"):
    RANGES.append(fn(_name, getattr(torch, _name), "window_length|length:I periodic:B=True dtype:D=None device:V=None",
                     tail=("periodic", "dtype", "device")))
RANGES.append(fn("kaiser_window", torch.kaiser_window,
                 "window_length|length:I beta:N=12.0 periodic:B=True dtype:D=None device:V=None",
                 tail=("beta", "periodic", "dtype", "device")))
del _name

def _probability(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"Probability p must be in range [0, 1], not {p}")
    return p


RANDOM = [
    fn("tensor_rand", torch.rand, f"size|shape:SH {_MAKE}", tail=_TAIL),
    fn("tensor_randn", torch.randn, f"size|shape:SH {_MAKE}", tail=_TAIL),
    fn("normal", lambda mean, std, size, dtype, device: torch.normal(mean, std, size, dtype=dtype, device=device),
       "mean:N=0.0 std:N=1.0 size|shape:SH=[1] dtype:D=None device:V=None", also=("Normal",), tail=("dtype", "device"),
       doc="Samples of a normal distribution."),
    fn("uniform", lambda size, low, high, dtype, device: torch.empty(size, dtype=dtype, device=device).uniform_(low, high),
       "size|shape:SH low:N high:N dtype:D=None device:V=None", tail=("dtype", "device"),
       doc="Samples of the uniform distribution on [low, high)."),
    fn("exponential", lambda size, rate, dtype, device: torch.empty(size, dtype=dtype, device=device).exponential_(rate),
       "size|shape:SH rate|lambd:PN=1.0 dtype:D=None device:V=None", tail=("dtype", "device"),
       doc="Samples of the exponential distribution."),
    fn("poisson", lambda size, lam, dtype, device: torch.poisson(torch.full(size, lam, dtype=dtype, device=device)),
       "size|shape:SH lambda|lam:N>lam dtype:D=None device:V=None", tail=("dtype", "device"),
       doc="Samples of the Poisson distribution.", also=("poissonDist", "Poisson")),
    fn("bernoulli", lambda input, p: torch.bernoulli(input) if p is None else torch.bernoulli(input, _probability(p)),
       "input|tensor:T p|probability:N=None", doc="0 or 1 for each element, 1 with the element's probability (or p)."),
    fn("gamma", lambda size, alpha, beta, dtype, device: torch._standard_gamma(
        torch.full(size, alpha, dtype=dtype or torch.get_default_dtype(), device=device)) / beta,
       "size|shape:SH alpha|concentration:PN beta|rate:PN dtype:D=None device:V=None", tail=("dtype", "device"),
       doc="Samples of the gamma distribution of shape alpha and rate beta."),
    fn("multinomial", torch.multinomial, "input|tensor num_samples|numSamples replacement=False"),
]

globals().update(exports(*LIKE, *RANGES, *RANDOM))
