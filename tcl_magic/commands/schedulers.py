"""The original's other optimizers and its learning-rate schedulers: torch.optim and
torch.optim.lr_scheduler classes behind handles, one row each derived from their
signatures (see derive.py). The original gives Adam-like betas as -beta1 and -beta2.
"""
from __future__ import annotations

import warnings

import torch
from torch.optim import lr_scheduler as lr

from .derive import exports, fn, handle_maker

_P = "parameters|params:P>params"
_BETAS = "beta1:N=0.9>- beta2:N=0.999>-"


def _with_betas(beta1: float = 0.9, beta2: float = 0.999, **kwargs):
    return dict(betas=(beta1, beta2), **kwargs)


def _optimizer(name: str, cls: type, params: str, *also: str, prepare=None):
    return handle_maker(name, cls, f"{_P} {params}", "optimizer", also=also, prepare=prepare,
                        params_of=cls.__init__)


OPTIMIZERS = [
    _optimizer("optimizer_adamw", torch.optim.AdamW, f"lr:N=0.001 {_BETAS} eps:N=1e-08 "
               "weight_decay|weightDecay:N=0.01", prepare=lambda beta1, beta2, **kw: _with_betas(beta1, beta2, **kw)),
    _optimizer("optimizer_adamax", torch.optim.Adamax, f"lr:N=0.002 {_BETAS} eps:N=1e-08 "
               "weight_decay|weightDecay:N=0.0", prepare=lambda beta1, beta2, **kw: _with_betas(beta1, beta2, **kw)),
    _optimizer("optimizer_radam", torch.optim.RAdam, f"lr:N=0.001 {_BETAS} eps:N=1e-08 "
               "weight_decay|weightDecay:N=0.0", "optimizerRAdam",
               prepare=lambda beta1, beta2, **kw: _with_betas(beta1, beta2, **kw)),
    _optimizer("optimizer_nadam", torch.optim.NAdam, f"lr:N=0.002 {_BETAS} eps:N=1e-08 "
               "weight_decay|weightDecay:N=0.0 momentum_decay|momentumDecay:N=0.004",
               prepare=lambda beta1, beta2, **kw: _with_betas(beta1, beta2, **kw)),
    _optimizer("optimizer_sparse_adam", torch.optim.SparseAdam, f"lr:N=0.001 {_BETAS} eps:N=1e-08 "
               "weight_decay|weightDecay:N=0.0>-",
               prepare=lambda beta1, beta2, **kw: _with_betas(beta1, beta2, **kw)),
    _optimizer("optimizer_adagrad", torch.optim.Adagrad, "lr:N=0.01 eps:N=1e-10 weight_decay|weightDecay:N=0.0"),
    _optimizer("optimizer_rmsprop", torch.optim.RMSprop, "lr:N=0.01 alpha:N=0.99 eps:N=1e-08 "
               "weight_decay|weightDecay:N=0.0 momentum:N=0.0 centered:B=False"),
    _optimizer("optimizer_rprop", torch.optim.Rprop, "lr:N=0.01 eta_minus|etaMinus:N=0.5>- eta_plus|etaPlus:N=1.2>- "
               "step_size_min|stepSizeMin:N=1e-06>- step_size_max|stepSizeMax:N=50.0>-",
               prepare=lambda eta_minus, eta_plus, step_size_min, step_size_max, **kw: dict(
                   etas=(eta_minus, eta_plus), step_sizes=(step_size_min, step_size_max), **kw)),
    _optimizer("optimizer_lbfgs", torch.optim.LBFGS, "lr:N=1.0 max_iter|maxIter:I=20 max_eval|maxEval:I=None "
               "tolerance_grad|toleranceGrad:N=1e-07 tolerance_change|toleranceChange:N=1e-09 "
               "history_size|historySize:I=100"),
    _optimizer("optimizer_momentum_sgd", torch.optim.SGD, "lr:N momentum:N=0.9 weight_decay|weightDecay:N=0.0"),
    _optimizer("optimizer_adafactor", torch.optim.Adafactor, "lr:N=0.01 eps2:N=0.001>- "
               "clip_threshold|clipThreshold:N=1.0>- decay_rate|decayRate:N=-0.8>beta2_decay beta1:N=None>- "
               "weight_decay|weightDecay:N=0.0",
               prepare=lambda eps2, clip_threshold, beta1, **kw: dict(eps=(None, eps2), **kw)),
]

_OPT = "optimizer|opt:O"


def _scheduler(name: str, cls, params: str, handle: str = "scheduler", *also: str, prepare=None):
    return handle_maker(name, cls, f"{_OPT} {params}", handle, also=also, prepare=prepare, params_of=cls.__init__)


SCHEDULERS = [
    _scheduler("lr_scheduler_step", lr.StepLR, "step_size|stepSize:I gamma:N=0.1", "step_scheduler"),
    _scheduler("lr_scheduler_exponential", lr.ExponentialLR, "gamma|decay:N=0.95"),
    _scheduler("lr_scheduler_exponential_decay", lr.ExponentialLR, "gamma:N"),
    _scheduler("lr_scheduler_cosine", lr.CosineAnnealingLR, "T_max|tMax:I eta_min|etaMin:N=0.0"),
    _scheduler("lr_scheduler_cosine_annealing", lr.CosineAnnealingLR, "T_max|tMax:I eta_min|etaMin:N=0.0"),
    _scheduler("lr_scheduler_cosine_annealing_warm_restarts", lr.CosineAnnealingWarmRestarts,
               "T_0|t0:I T_mult|tMult:I=1 eta_min|etaMin:N=0.0"),
    _scheduler("lr_scheduler_cyclic", lr.CyclicLR, "base_lr|baseLr:N max_lr|maxLr:N step_size|stepSize:I=2000>- "
               "mode:S=triangular", prepare=lambda step_size, **kw: dict(step_size_up=step_size, **kw)),
    _scheduler("lr_scheduler_multi_step", lr.MultiStepLR, "milestones:L gamma:N=0.1"),
    _scheduler("lr_scheduler_one_cycle", lr.OneCycleLR, "max_lr|maxLr:N total_steps|totalSteps:I "
               "pct_start|pctStart:N=0.3 anneal_strategy|annealStrategy:S=cos div_factor|divFactor:N=25.0"),
    _scheduler("lr_scheduler_onecycle_advanced", lr.OneCycleLR, "max_lr|maxLr:N total_steps|totalSteps:I "
               "pct_start|pctStart:N=0.3 anneal_strategy|annealStrategy:S=cos div_factor|divFactor:N=25.0 "
               "final_div_factor|finalDivFactor:N=10000.0"),
    _scheduler("lr_scheduler_polynomial", lr.PolynomialLR, "total_iters|totalIters:I=5 power:N=1.0 "
               "last_epoch|lastEpoch:I=-1"),
    _scheduler("lr_scheduler_reduce_on_plateau", lr.ReduceLROnPlateau, "mode:S=min factor:N=0.1 patience:I=10 "
               "threshold:N=0.0001 threshold_mode|thresholdMode:S=rel min_lr|minLr:N=0.0"),
    _scheduler("lr_scheduler_plateau", lr.ReduceLROnPlateau, "mode:S=min factor:N=0.1 patience:I=10"),
    _scheduler("lr_scheduler_lambda", lr.LambdaLR, "multiplier|lr_lambda|lrLambda:N=1.0>-",
               prepare=lambda multiplier, **kw: dict(lr_lambda=lambda epoch: multiplier ** epoch, **kw)),
    _scheduler("lr_scheduler_multiplicative", lr.MultiplicativeLR, "lr_lambda|lrLambda|multiplier:N=0.95>-",
               prepare=lambda lr_lambda, **kw: dict(lr_lambda=lambda epoch: lr_lambda, **kw)),
    _scheduler("lr_scheduler_inverse_sqrt", lr.LambdaLR, "warmup_steps|warmupSteps:I decay_factor|decayFactor:N=1.0>-",
               "inverse_sqrt_scheduler", prepare=lambda warmup_steps, decay_factor, **kw: dict(
                   lr_lambda=lambda step: decay_factor * min((step + 1) / warmup_steps,
                                                             (warmup_steps / (step + 1)) ** 0.5), **kw)),
    _scheduler("lr_scheduler_noam", lr.LambdaLR, "model_size|modelSize:I warmup_steps|warmupSteps:I=4000>-",
               prepare=lambda model_size, warmup_steps, **kw: dict(lr_lambda=lambda step: model_size ** -0.5 * min(
                   (step + 1) ** -0.5, (step + 1) * warmup_steps ** -1.5), **kw)),
    _scheduler("lr_scheduler_linear_with_warmup", lr.LambdaLR, "num_warmup_steps|numWarmupSteps:I "
               "num_training_steps|numTrainingSteps:I last_epoch|lastEpoch:I=-1", "linear_warmup_scheduler",
               prepare=lambda num_warmup_steps, num_training_steps, **kw: dict(lr_lambda=lambda step: (
                   step / max(1, num_warmup_steps) if step < num_warmup_steps else
                   max(0.0, (num_training_steps - step) / max(1, num_training_steps - num_warmup_steps))), **kw)),
    _scheduler("lr_scheduler_constant_with_warmup", lr.LambdaLR, "num_warmup_steps|numWarmupSteps:I "
               "last_epoch|lastEpoch:I=-1", prepare=lambda num_warmup_steps, **kw: dict(
                   lr_lambda=lambda step: min(1.0, step / max(1, num_warmup_steps)), **kw)),
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
