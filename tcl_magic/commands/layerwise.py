"""The original's layer-wise adaptive optimizers, LAMB and NovoGrad: torch has neither, so
they are tcl_magic.optimizers' `torch.optim.Optimizer` subclasses behind optimizer handles
(optimizer_step, optimizer_zero_grad, get_lr and the schedulers take them as any other).
Positionally `parameters ?lr? ?betas? ?eps? ?weight_decay?`, betas a list of two; named,
-beta1 and -beta2 as well as -betas.
"""
from __future__ import annotations

from ..errors import TclCommandError, invalid
from ..optimizers import Lamb, NovoGrad
from .derive import exports, handle_maker

_ORDER = ("parameters", "lr", "betas", "eps", "weight_decay")


def _prepare(defaults: tuple[float, float], refusal: str, eps_positive: bool):
    """Betas from the list and/or -beta1/-beta2 (the flags winning), and the original's
    range checks: a positive lr, betas in [0, 1), eps and weight decay not negative (NovoGrad's
    eps positive), refused in the original's words."""
    def prepare(params, lr, eps, weight_decay, betas=None, beta1=None, beta2=None) -> dict:
        if betas is not None and len(betas) != 2:
            raise invalid("betas", "Must be a list of two numbers.", " ".join(map(str, betas)))
        listed = betas if betas is not None else defaults
        betas = tuple(given if given is not None else value for given, value in zip((beta1, beta2), listed))
        if not (lr > 0 and all(0 <= b < 1 for b in betas) and weight_decay >= 0
                and (eps > 0 if eps_positive else eps >= 0)):
            raise TclCommandError(f"Required parameters missing or invalid ({refusal})", "VALUE")
        return dict(params=params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    return prepare


def _row(name: str, cls: type, also: str, eps: str, decay: str, betas: tuple[float, float], refusal: str,
         doc: str, eps_positive: bool = False):
    return handle_maker(
        name, cls, f"parameters|params:P>params lr|learning_rate:N=0.001 betas:NL=None>- eps|epsilon:N={eps} "
        f"weight_decay|weightDecay:N={decay} beta1:N=None>- beta2:N=None>-", "optimizer", doc=doc,
        prepare=_prepare(betas, refusal, eps_positive), params_of=cls.__init__, also=(also,),
        forms={n: _ORDER[:n] for n in range(1, len(_ORDER) + 1)},
        usage="parameters ?lr? ?betas? ?eps? ?weight_decay?")


OPTIMIZERS = [
    _row("optimizer_lamb", Lamb, "optimizerLamb", "1e-06", "0.01", (0.9, 0.999),
         "parameters and positive learning rate required, beta values must be in [0,1), "
         "eps and weight_decay must be non-negative",
         "LAMB (You et al., 2019): Adam's moments, each tensor's step scaled by the trust ratio ||p|| / ||r||."),
    _row("optimizer_novograd", NovoGrad, "optimizerNovograd", "1e-08", "0.0", (0.95, 0.98),
         "parameters and positive values required for lr, valid beta values between 0-1, positive eps, "
         "non-negative weight decay",
         "NovoGrad (Ginsburg et al., 2019): a second moment per tensor, of its gradient's norm.",
         eps_positive=True),
]

globals().update(exports(*OPTIMIZERS))
