"""The original's losses, one row each derived from torch.nn.functional (see derive.py);
the losses torch has no function for (dice, focal, tversky) are short formulas here.
"""
from __future__ import annotations

import dataclasses

import torch
from torch.nn import functional as F

from .derive import exports, fn
from .nn import REDUCTION

_IT = "input:T target:T"
_RED = "reduction:S=mean"


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    return {"mean": loss.mean, "sum": loss.sum}.get(reduction, lambda: loss)()


def _float_target(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return target.to(input.dtype) if input.dtype.is_floating_point else target


def _dice(input, target, smooth, reduction):
    """The original's dice loss takes logits: the prediction is their sigmoid."""
    target = _float_target(input, target)
    input = torch.sigmoid(input if input.dtype.is_floating_point else input.float())
    dims = tuple(range(1, input.dim())) or None
    overlap = (input * target).sum(dims) if dims else (input * target).sum()
    total = (input.sum(dims) + target.sum(dims)) if dims else input.sum() + target.sum()
    return _reduce(1 - (2 * overlap + smooth) / (total + smooth), reduction)


def _tversky(input, target, alpha, beta, smooth, reduction):
    """As dice: the prediction is the sigmoid of the logits given."""
    target = _float_target(input, target)
    input = torch.sigmoid(input if input.dtype.is_floating_point else input.float())
    tp, fp, fn_ = (input * target).sum(), (input * (1 - target)).sum(), ((1 - input) * target).sum()
    return _reduce(1 - (tp + smooth) / (tp + alpha * fp + beta * fn_ + smooth), reduction)


def _focal(input, target, alpha, gamma, reduction):
    ce = F.cross_entropy(input, target.long(), reduction="none")
    return _reduce(alpha * (1 - torch.exp(-ce)) ** gamma * ce, reduction)


LOSSES = [
    fn("huber_loss", F.huber_loss, f"{_IT} {_RED} delta=1.0"),
    fn("smooth_l1_loss", F.smooth_l1_loss, f"{_IT} {_RED} beta=1.0", also=("smoothL1Loss",)),
    fn("soft_margin_loss", F.soft_margin_loss, f"{_IT} {_RED}"),
    fn("kl_div_loss", F.kl_div, f"{_IT} {_RED} log_target|logTarget=False"),
    fn("hinge_embedding_loss", F.hinge_embedding_loss, f"{_IT} margin=1.0 {_RED}"),
    fn("multi_margin_loss", F.multi_margin_loss, f"input:T target:T p:I=1 margin=1.0 {_RED}",
       prepare=lambda target, **kw: dict(target=target.long(), **kw)),
    fn("multilabel_margin_loss", F.multilabel_margin_loss, f"{_IT} {_RED}",
       prepare=lambda target, **kw: dict(target=target.long(), **kw)),
    fn("multilabel_soft_margin_loss", F.multilabel_soft_margin_loss, f"{_IT} {_RED}"),
    fn("poisson_nll_loss", F.poisson_nll_loss, f"{_IT} log_input|logInput=True full=False {_RED}"),
    fn("gaussian_nll_loss", F.gaussian_nll_loss, f"{_IT} var:T full=False eps=1e-06 {_RED}"),
    fn("cosine_embedding_loss", F.cosine_embedding_loss, f"input1:T input2:T target:T margin=0.0 {_RED}"),
    fn("margin_ranking_loss", F.margin_ranking_loss, f"input1:T input2:T target:T margin=0.0 {_RED}"),
    fn("triplet_margin_loss", F.triplet_margin_loss, f"anchor:T positive:T negative:T margin=1.0 p=2.0 {_RED}"),
    fn("triplet_margin_with_distance_loss", F.triplet_margin_with_distance_loss,
       f"anchor:T positive:T negative:T distance_function|distanceFunction:S=euclidean>- margin=1.0 {_RED}"),
    fn("dice_loss", _dice, f"{_IT} smooth:N=1.0 {_RED}",
       doc="1 - the Dice coefficient of sigmoid(input) (input: logits) and target."),
    fn("tversky_loss", _tversky, f"{_IT} alpha:N=0.5 beta:N=0.5 smooth:N=1.0 {_RED}",
       doc="1 - the Tversky index of sigmoid(input) (input: logits) and target."),
    fn("focal_loss", _focal, f"{_IT} alpha:N=1.0 gamma:N=2.0 {_RED}",
       doc="Cross entropy weighted by alpha * (1 - p)^gamma, for rare classes."),
]



def _reductions(row):
    """The row with its reduction taken as the original takes it: a name, or 0 (none), 1
    (mean) or 2 (sum)."""
    params = tuple(dataclasses.replace(p, kind=REDUCTION) if p.name == "reduction" else p for p in row.spec.params)
    row.spec = dataclasses.replace(row.spec, params=params)
    return row


globals().update(exports(*map(_reductions, LOSSES)))
