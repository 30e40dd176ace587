"""Optimizers the original names that torch has not got: LAMB and NovoGrad, as ordinary
`torch.optim.Optimizer` subclasses (so step, zero_grad, state_dict, param groups and the
learning-rate schedulers work on them as on torch's own). Pure torch, no Tcl.

Both adapt the step per layer, that is per parameter tensor:

- LAMB (You et al., 2019, "Large Batch Optimization for Deep Learning: Training BERT in
  76 minutes"): Adam's moments with bias correction give r = m_hat / (sqrt(v_hat) + eps)
  + weight_decay * p, and the step is scaled by the trust ratio ||p|| / ||r|| (1 where
  either norm is 0): p -= lr * trust_ratio * r.
- NovoGrad (Ginsburg et al., 2019, "Stochastic Gradient Methods with Layer-wise Adaptive
  Moments for Training of Deep Networks"): one second moment per tensor, v = beta2 * v +
  (1 - beta2) * ||g||^2 (||g||^2 at the first step), m = beta1 * m + g / (sqrt(v) + eps)
  + weight_decay * p, p -= lr * m.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.optim import Optimizer


def _check(lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    """torch's own range checks and wording (as torch.optim.Adam words them)."""
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    for index, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {index}: {beta}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class _PerTensor(Optimizer):
    """What both share: the hyperparameters and their checks, the closure, and the walk over
    every parameter that has a gradient; `_update` is the algorithm's step for one tensor."""

    def __init__(self, params, lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
        betas = tuple(betas)
        _check(lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                self._update(p, p.grad, self.state[p], group)
        return loss

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError


class Lamb(_PerTensor):
    """LAMB: Adam's moments, each tensor's step scaled by the trust ratio ||p|| / ||r||."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.01) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.mul_(beta1).add_(grad, alpha=1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        m_hat = m / (1 - beta1 ** state["step"])
        v_hat = v / (1 - beta2 ** state["step"])
        update = m_hat / (v_hat.sqrt() + group["eps"])
        if group["weight_decay"] != 0:
            update.add_(p, alpha=group["weight_decay"])
        p_norm, r_norm = p.norm(), update.norm()  # tensors: no wait for the device
        trust = torch.where((p_norm > 0) & (r_norm > 0), p_norm / r_norm, torch.ones_like(p_norm))
        p.sub_(update.mul_(trust * group["lr"]))


class NovoGrad(_PerTensor):
    """NovoGrad: one second moment per tensor (of the gradient's norm), momentum of the
    normalised gradient plus weight decay."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.95, 0.98),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        beta1, beta2 = group["betas"]
        norm_sq = grad.pow(2).sum()
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = norm_sq  # the first step's v is ||g||^2 itself
        else:
            state["exp_avg_sq"].mul_(beta2).add_(norm_sq, alpha=1 - beta2)
        state["step"] += 1
        normalised = grad / (state["exp_avg_sq"].sqrt() + group["eps"])
        if group["weight_decay"] != 0:
            normalised.add_(p, alpha=group["weight_decay"])
        state["exp_avg"].mul_(beta1).add_(normalised)
        p.add_(state["exp_avg"], alpha=-group["lr"])
