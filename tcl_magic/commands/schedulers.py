"""The original's other optimizers and its learning-rate schedulers: torch.optim and
torch.optim.lr_scheduler classes behind handles, one row each derived from their
signatures (see derive.py). The original gives Adam-like betas as -beta1 and -beta2.
"""
from __future__ import annotations

import warnings

import torch
from torch.optim import lr_scheduler as lr

from ..errors import invalid
from .derive import exports, fn, handle_maker

_P = "parameters|params:P>params"
_LR = "lr|learning_rate"
_BETAS = "beta1:N=0.9>- beta2:N=0.999>-"
_EPS = "eps|epsilon:N=1e-08"


def _pair(label: str, value, first: float | None, second: float | None) -> tuple:
    """A torch pair (betas, etas, step sizes) from the original's list form (`{0.9 0.999}`)
    and/or its one-number flags (`-beta1`, `-beta2`), the flags winning."""
    if value is None:
        pair = [None, None]
    elif len(value) == 2:
        pair = list(value)
    else:
        raise invalid(label, "Must be a list of two numbers.", " ".join(map(str, value)))
    return tuple(given if given is not None else listed
                 for given, listed in zip((first, second), pair))


def _with_betas(betas=None, beta1=None, beta2=None, **kwargs):
    betas = _pair("betas", betas, beta1, beta2)
    return dict(betas=tuple(b if b is not None else d for b, d in zip(betas, (0.9, 0.999))), **kwargs)


def _sparse_adam(beta1, beta2, weight_decay, **kwargs):
    if weight_decay != 0:  # torch's SparseAdam has no weight decay: a value would be dropped silently
        raise invalid("weight_decay", "torch's SparseAdam has no weight decay; leave it at 0.", weight_decay)
    return dict(betas=(beta1, beta2), **kwargs)


def _adafactor(eps2, clip_threshold, beta1, **kwargs):
    if beta1 is not None and beta1 >= 0:  # the original's -1 (or none) means no first moment
        raise invalid("beta1", "torch's Adafactor keeps no first moment; leave it unset (or negative).", beta1)
    return dict(eps=(None, eps2), d=clip_threshold, **kwargs)


def _rprop(etas=None, step_sizes=None, eta_minus=None, eta_plus=None, step_size_min=None, step_size_max=None, **kw):
    etas = _pair("etas", etas, eta_minus, eta_plus)
    sizes = _pair("step_sizes", step_sizes, step_size_min, step_size_max)
    return dict(etas=tuple(v if v is not None else d for v, d in zip(etas, (0.5, 1.2))),
                step_sizes=tuple(v if v is not None else d for v, d in zip(sizes, (1e-06, 50.0))), **kw)


def _optimizer(name: str, cls: type, params: str, *also: str, prepare=None, positional: int | None = None):
    """`positional`: how many leading parameters the positional syntax fills (the original's
    order); the rest are named only."""
    row = f"{_P} {params}"
    options = {}
    if positional is not None:
        words = row.split()[:positional]
        names = [word.split("|")[0].split(":")[0].split("=")[0] for word in words]
        least = sum(1 for word in words if "=" not in word or "=REQUIRED" in word)  # the rows' required come first
        options = dict(forms={n: tuple(names[:n]) for n in range(least, positional + 1)},
                       usage=" ".join([*names[:least], *(f"?{n}?" for n in names[least:])]))
    return handle_maker(name, cls, row, "optimizer", also=also, prepare=prepare,
                        params_of=cls.__init__, **options)


_ADAM_LIKE = f"betas:NL=None>- {_EPS} weight_decay|weightDecay:N=0.0"
_NAMED_BETAS = "beta1:N=None>- beta2:N=None>-"

OPTIMIZERS = [
    # the original's positional AdamW is `parameters lr ?weight_decay?`; the rest are named only
    _optimizer("optimizer_adamw", torch.optim.AdamW, f"{_LR}:N=REQUIRED weight_decay|weightDecay:N=0.01 {_NAMED_BETAS} "
               f"{_EPS} amsgrad:B=0 betas:NL=None>-", "optimizerAdamW", prepare=_with_betas, positional=3),
    _optimizer("optimizer_adamax", torch.optim.Adamax, f"{_LR}:N=0.002 {_ADAM_LIKE} {_NAMED_BETAS}",
               prepare=_with_betas, positional=5),
    _optimizer("optimizer_radam", torch.optim.RAdam, f"{_LR}:N=0.001 {_ADAM_LIKE} {_NAMED_BETAS}", "optimizerRAdam",
               prepare=_with_betas, positional=5),
    _optimizer("optimizer_nadam", torch.optim.NAdam, f"{_LR}:N=0.002 {_ADAM_LIKE} "
               f"momentum_decay|momentumDecay:N=0.004 {_NAMED_BETAS}", "optimizerNAdam",
               prepare=_with_betas, positional=6),
    _optimizer("optimizer_sparse_adam", torch.optim.SparseAdam, f"{_LR}:N=0.001 {_BETAS} {_EPS} "
               "weight_decay|weightDecay:N=0.0>-", prepare=_sparse_adam),
    _optimizer("optimizer_adagrad", torch.optim.Adagrad, f"{_LR}:N=REQUIRED eps|epsilon:N=1e-10 weight_decay|weightDecay:N=0.0"),
    _optimizer("optimizer_rmsprop", torch.optim.RMSprop, f"{_LR}:N=REQUIRED alpha:N=0.99 {_EPS} "
               "weight_decay|weightDecay:N=0.0 momentum:N=0.0 centered:B=False"),
    _optimizer("optimizer_rprop", torch.optim.Rprop, f"{_LR}:N=0.01 etas:NL=None>- step_sizes|stepSizes:NL=None>- "
               "eta_minus|etaMinus:N=None>- eta_plus|etaPlus:N=None>- "
               "step_size_min|stepSizeMin:N=None>- step_size_max|stepSizeMax:N=None>-", prepare=_rprop, positional=4),
    _optimizer("optimizer_lbfgs", torch.optim.LBFGS, f"{_LR}:N=1.0 max_iter|maxIter:I=20 max_eval|maxEval:I=None "
               "tolerance_grad|toleranceGrad:N=1e-07 tolerance_change|toleranceChange:N=1e-09 "
               "history_size|historySize:I=100"),
    _optimizer("optimizer_momentum_sgd", torch.optim.SGD, f"{_LR}:N=REQUIRED momentum:N=REQUIRED weight_decay|weightDecay:N=0.0"),
    _optimizer("optimizer_adafactor", torch.optim.Adafactor, f"{_LR}:N=0.01 eps2:N=0.001>- "
               "clip_threshold|clipThreshold:N=1.0>- decay_rate|decayRate:N=-0.8>beta2_decay beta1:N=None>- "
               "weight_decay|weightDecay:N=0.0", prepare=_adafactor),
]

_OPT = "optimizer|opt:O"


def _scheduler(name: str, cls, params: str, handle: str = "scheduler", *also: str, prepare=None):
    return handle_maker(name, cls, f"{_OPT} {params}", handle, also=also, prepare=prepare, params_of=cls.__init__)


def _at_least(least: float, **values: float) -> None:
    for label, value in values.items():
        if not value >= least:
            raise invalid(label, f"Must be at least {least:g}.", value)


def _resuming(optimizer, last_epoch: int) -> None:
    """A scheduler given a last epoch other than -1 resumes: torch then reads each group's
    `initial_lr`, which a fresh optimizer has not got yet; its current lr is that."""
    if last_epoch != -1:
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])


def _lambda(rule):
    """A LambdaLR whose factor at step t is `rule(t, **the row's values)`, resumable."""
    def prepare(optimizer, last_epoch=-1, **values):
        _resuming(optimizer, last_epoch)
        return dict(optimizer=optimizer, last_epoch=last_epoch, lr_lambda=lambda step: rule(step, **values))
    return prepare


def _polynomial(optimizer, total_iters, power, last_epoch):
    _at_least(0, power=power)
    _resuming(optimizer, last_epoch)
    return dict(optimizer=optimizer, total_iters=total_iters, power=power, last_epoch=last_epoch)


def _cyclic(base_lr, max_lr, step_size, **kwargs):
    _at_least(0, base_lr=base_lr)
    if not max_lr > base_lr:  # the cycle's top must lie above its bottom
        raise invalid("max_lr", f"Must be above base_lr ({base_lr:g}).", max_lr)
    return dict(base_lr=base_lr, max_lr=max_lr, step_size_up=step_size, **kwargs)


def _plateau(patience=10, threshold=1e-4, min_lr=0.0, **kwargs):
    _at_least(0, patience=patience, threshold=threshold, min_lr=min_lr)
    return dict(patience=patience, threshold=threshold, min_lr=min_lr, **kwargs)


def _inverse_sqrt(step, warmup_steps, decay_factor):
    return decay_factor * min((step + 1) / warmup_steps, (warmup_steps / (step + 1)) ** 0.5)


def _noam(step, model_size, warmup_steps):
    return model_size ** -0.5 * min((step + 1) ** -0.5, (step + 1) * warmup_steps ** -1.5)


def _linear_warmup(step, num_warmup_steps, num_training_steps):
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    return max(0.0, (num_training_steps - step) / max(1, num_training_steps - num_warmup_steps))


def _constant_warmup(step, num_warmup_steps):
    return min(1.0, step / max(1, num_warmup_steps))


def _warmup_steps_checked(prepare):
    def checked(optimizer, num_warmup_steps, **values):
        _at_least(0, num_warmup_steps=num_warmup_steps)
        return prepare(optimizer, num_warmup_steps=num_warmup_steps, **values)
    return checked


_T_MAX = "t_max:PI>T_max eta_min|etaMin:N=0.0"
_ONE_CYCLE = "max_lr|maxLr:PN total_steps|totalSteps:PI pct_start|pctStart:N=0.3 anneal_strategy|annealStrategy:S=cos " \
             "div_factor|divFactor:PN=25.0"
_WARMUP = "num_warmup_steps|numWarmupSteps:I"
_LAST = "last_epoch|lastEpoch:I=-1"

# Handles are named after the original's kind of scheduler (`step_scheduler1`, `scheduler2`).
SCHEDULERS = [
    _scheduler("lr_scheduler_step", lr.StepLR, "step_size|stepSize:PI gamma:PN=0.1", "step_scheduler"),
    _scheduler("lr_scheduler_exponential", lr.ExponentialLR, "gamma|decay:PN=0.95"),
    _scheduler("lr_scheduler_exponential_decay", lr.ExponentialLR, "gamma:PN=0.95"),
    _scheduler("lr_scheduler_cosine", lr.CosineAnnealingLR, _T_MAX),
    _scheduler("lr_scheduler_cosine_annealing", lr.CosineAnnealingLR, _T_MAX),
    _scheduler("lr_scheduler_cosine_annealing_warm_restarts", lr.CosineAnnealingWarmRestarts,
               "t_0|t0:PI>T_0 t_mult|tmult:PI=1>T_mult eta_min|etaMin:N=0.0"),
    _scheduler("lr_scheduler_cyclic", lr.CyclicLR, "base_lr|baseLr:N max_lr|maxLr:N step_size|stepSize:PI=2000>- "
               "mode:S=triangular", "cyclic_scheduler", prepare=_cyclic),
    _scheduler("lr_scheduler_multi_step", lr.MultiStepLR, "milestones:L gamma:N=0.1"),
    _scheduler("lr_scheduler_one_cycle", lr.OneCycleLR, _ONE_CYCLE),
    _scheduler("lr_scheduler_onecycle_advanced", lr.OneCycleLR, f"{_ONE_CYCLE} "
               "final_div_factor|finalDivFactor:PN=10000.0"),
    _scheduler("lr_scheduler_polynomial", lr.PolynomialLR, f"total_iters|totalIters:PI=REQUIRED power:N=1.0 {_LAST}",
               prepare=_polynomial),
    _scheduler("lr_scheduler_reduce_on_plateau", lr.ReduceLROnPlateau, "mode:S=min factor:PN=0.1 patience:I=10 "
               "threshold:N=0.0001 threshold_mode|thresholdMode:S=rel min_lr|minLr:N=0.0", prepare=_plateau),
    _scheduler("lr_scheduler_plateau", lr.ReduceLROnPlateau, "mode:S=min factor:PN=0.1 patience:I=10",
               prepare=_plateau),
    _scheduler("lr_scheduler_lambda", lr.LambdaLR, "multiplier|lambda|lr_lambda|lrLambda:N=1.0>-", "lambda_scheduler",
               prepare=_lambda(lambda step, multiplier: multiplier ** step)),
    _scheduler("lr_scheduler_multiplicative", lr.MultiplicativeLR, "lr_lambda|lrLambda|multiplier:N>-",
               prepare=lambda lr_lambda, **kw: dict(lr_lambda=lambda epoch: lr_lambda, **kw)),
    _scheduler("lr_scheduler_inverse_sqrt", lr.LambdaLR, "warmup_steps|warmupSteps:PI>- "
               "decay_factor|decayFactor:PN=1.0>-", "inverse_sqrt_scheduler", prepare=_lambda(_inverse_sqrt)),
    _scheduler("lr_scheduler_noam", lr.LambdaLR, "model_size|modelSize:PI>- warmup_steps|warmupSteps:PI=4000>-",
               prepare=_lambda(_noam)),
    _scheduler("lr_scheduler_linear_with_warmup", lr.LambdaLR, f"{_WARMUP}>- "
               f"num_training_steps|numTrainingSteps:PI>- {_LAST}", "linear_warmup_scheduler",
               prepare=_warmup_steps_checked(_lambda(_linear_warmup))),
    _scheduler("lr_scheduler_constant_with_warmup", lr.LambdaLR, f"{_WARMUP}>- {_LAST}", "constant_warmup_scheduler",
               prepare=_warmup_steps_checked(_lambda(_constant_warmup))),
]

def _step(scheduler, metric=None):
    with warnings.catch_warnings():  # torch's note on calling order is for Python loops, not for a Tcl user
        warnings.simplefilter("ignore")
        scheduler.step(metric) if isinstance(scheduler, lr.ReduceLROnPlateau) else scheduler.step()
    return "OK"


USING = [
    fn("lr_scheduler_step_update", _step, "scheduler:SC", doc="One step of the scheduler."),
    fn("lr_scheduler_step_advanced", _step, "scheduler:SC metric:N=None",
       doc="One step of the scheduler (a plateau scheduler takes the metric)."),
    fn("get_lr", lambda optimizer: optimizer.param_groups[0]["lr"], "optimizer:O",
       doc="The optimizer's current learning rate."),
    fn("get_lr_advanced", lambda scheduler: scheduler.get_last_lr()[0] if hasattr(scheduler, "get_last_lr")
       else scheduler.optimizer.param_groups[0]["lr"], "scheduler:SC", doc="The learning rate the scheduler set last."),
]

globals().update(exports(*OPTIMIZERS, *SCHEDULERS, *USING))
