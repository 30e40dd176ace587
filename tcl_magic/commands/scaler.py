"""The original's gradient scaler: torch.amp.GradScaler behind a handle (`scaler1`), one row
each derived from its signature (see derive.py). It scales a loss before backward so that
small half-precision gradients survive, and unscales them before the optimizer's step.
"""
from __future__ import annotations

import torch

from ..spec import ParamType
from .derive import KINDS, exports, fn, handle_maker

KINDS.setdefault("GS", ParamType("scaler", lambda text, ctx: ctx.handles.get_object(
    text, torch.amp.GradScaler, "scaler")))
_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _new(**kwargs) -> torch.amp.GradScaler:
    return torch.amp.GradScaler(_DEVICE, **kwargs)


def _step(scaler, optimizer):
    """The scaler's step: unscaled gradients, the optimizer's step unless one is not finite.
    An optimizer whose parameters have no gradients yet has nothing to check, and its step
    changes nothing, as torch's own step does for such parameters."""
    if not any(p.grad is not None for group in optimizer.param_groups for p in group["params"]):
        optimizer.step()
    else:
        scaler.step(optimizer)
    return "scaler step completed"


def _update(scaler):
    """A new scale from the steps since the last update (none taken: the scale stays)."""
    if any(state.get("found_inf_per_device") for state in scaler._per_optimizer_states.values()):
        scaler.update()
    return "scaler updated"


SCALER = [
    handle_maker("grad_scaler_new", _new, "init_scale|initScale:PN=65536.0 growth_factor|growthFactor:PN=2.0 "
                 "backoff_factor|backoffFactor:PN=0.5 growth_interval|growthInterval:PI=2000", "scaler",
                 params_of=torch.amp.GradScaler.__init__,
                 doc="A gradient scaler (torch.amp.GradScaler) for mixed-precision training."),
    fn("grad_scaler_scale", lambda scaler, tensor: scaler.scale(tensor), "scaler|gradscaler|grad_scaler:GS tensor|input|loss:T",
       doc="The tensor (a loss) multiplied by the scaler's scale."),
    fn("grad_scaler_step", _step, "scaler|gradscaler|grad_scaler:GS optimizer|opt|optim:O",
       doc="Unscale the gradients and step the optimizer unless one is inf or NaN."),
    fn("grad_scaler_update", _update, "scaler|gradscaler|grad_scaler:GS", doc="Grow or back off the scale after a step."),
    fn("grad_scaler_get_scale", lambda scaler: scaler.get_scale(), "scaler|gradscaler|grad_scaler:GS",
       doc="The scaler's current scale."),
]

globals().update(exports(*SCALER))
