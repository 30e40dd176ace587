"""The optimizers and learning-rate schedulers in the original's spellings (list forms of
betas and etas, AdamW's positional weight decay, `-tMax`, `-T0`, `-lambda`, resuming from a
last epoch) give torch's values: each Tcl script beside the torch code it stands for."""
import re

import pytest
import torch
from torch.optim import lr_scheduler as lr

from tcl_magic import TclSession
from tcl_magic.handles import HANDLE_NAME

pytestmark = pytest.mark.filterwarnings(r"ignore:Detected call of `lr_scheduler.step\(\)`")


@pytest.fixture(scope="module")
def session():
    return TclSession()



_TRAIN = ("set w [torch::tensor_create {1.0 -2.0 3.0} -requiresGrad 1]; set o [MAKE]; "
          "for {set i 0} {$i < 3} {incr i} {torch::optimizer_zero_grad $o; "
          "torch::tensor_backward [torch::tensor_sum [torch::tensor_mul $w $w]]; torch::optimizer_step $o}; "
          "torch::tensor_to_list $w")


def _trained(make) -> torch.Tensor:
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    opt = make([w])
    for _ in range(3):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    return w.detach()


@pytest.mark.parametrize("make, torch_make", [
    ("torch::optimizer_adamax $w 0.01 {0.8 0.9} 1e-6 0.1",
     lambda p: torch.optim.Adamax(p, lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    ("torch::optimizer_nadam $w 0.01 {0.8 0.9} 1e-8 0.0 0.01",
     lambda p: torch.optim.NAdam(p, lr=0.01, betas=(0.8, 0.9), momentum_decay=0.01)),
    ("torch::optimizer_radam -parameters $w -lr 0.05 -betas {0.7 0.95} -beta2 0.9",
     lambda p: torch.optim.RAdam(p, lr=0.05, betas=(0.7, 0.9))),
    ("torch::optimizer_rprop $w 0.05 {0.4 1.5} {1e-4 2.0}",
     lambda p: torch.optim.Rprop(p, lr=0.05, etas=(0.4, 1.5), step_sizes=(1e-4, 2.0))),
    ("torch::optimizer_rprop -parameters $w -etas {0.4 1.5} -etaPlus 1.3 -stepSizeMax 0.5",
     lambda p: torch.optim.Rprop(p, lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-6, 0.5))),
    ("torch::optimizerAdamW $w 0.1 0.5",  # the original's positional third word is the weight decay
     lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.5)),
    ("torch::optimizer_adamw -params $w -learningRate 0.1 -epsilon 1e-6 -amsgrad true",
     lambda p: torch.optim.AdamW(p, lr=0.1, eps=1e-6, amsgrad=True)),
    ("torch::optimizer_adagrad -params $w -learningRate 0.1 -epsilon 1e-9",
     lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-9)),
    ("torch::optimizer_adafactor $w 0.05 0.001 2.0",  # clip_threshold is torch's d
     lambda p: torch.optim.Adafactor(p, lr=0.05, eps=(None, 0.001), d=2.0)),
    ("torch::optimizer_sparse_adam $w 0.01 0.8 0.9",  # built as torch builds it; stepped below only when sparse
     None),
])
def test_optimizers_in_the_originals_spellings_train_as_torch(tcl, make, torch_make):
    if torch_make is None:
        assert re.fullmatch(r"optimizer\d+", tcl(f"set w [torch::zeros {{5 5}}]; {make}"))
        return
    got = torch.tensor([float(x) for x in tcl(_TRAIN.replace("MAKE", make)).split()])
    assert torch.allclose(got, _trained(torch_make), atol=1e-6)


@pytest.mark.parametrize("script, words", [
    ("torch::optimizer_sparse_adam [torch::zeros {5 5}] 0.01 0.8 0.9 1e-8 0.01", "no weight decay"),
    ("torch::optimizer_adafactor [torch::ones {2}] 0.01 0.001 1.0 -0.8 0.9", "no first moment"),
    ("torch::optimizer_adamax [torch::ones {2}] 0.01 {0.9}", "Must be a list of two numbers"),
    ("torch::optimizer_adamw [torch::ones {2}]", "lr"),  # the original requires the learning rate
    ("torch::optimizer_adam [torch::ones {2}]", "lr"),
    ("torch::optimizer_momentum_sgd [torch::ones {2}] 0.1", "momentum"),
    ("torch::optimizer_adamw [torch::ones {2}] 0.1 0.01 0.9", "Wrong number of arguments"),
])
def test_optimizer_mistakes_are_clear_errors(tcl_error, script, words):
    message = tcl_error(script)
    assert words in message and "internal error" not in message


def _lrs(tcl, make: str, steps: int) -> list[float]:
    script = ("set o [torch::optimizer_sgd [torch::tensor_create {1.0 2.0} -requiresGrad 1] 0.1]; "
              f"set s [{make}]; set out [list [torch::get_lr $o]]; "
              f"for {{set i 0}} {{$i < {steps}}} {{incr i}} {{torch::lr_scheduler_step_update $s; "
              "lappend out [torch::get_lr $o]}; set out")
    return [float(x) for x in tcl(script).split()]


def _torch_lrs(make, steps: int, resume: bool = False) -> list[float]:
    opt = torch.optim.SGD([torch.tensor([1.0, 2.0], requires_grad=True)], lr=0.1)
    if resume:
        opt.param_groups[0]["initial_lr"] = 0.1
    sched = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out


@pytest.mark.parametrize("make, torch_make, resume", [
    ("torch::lr_scheduler_cosine -optimizer $o -tMax 4 -etaMin 0.01", lambda o: lr.CosineAnnealingLR(o, 4, 0.01), 0),
    ("torch::lrSchedulerCosineAnnealing -optimizer $o -T_max 4", lambda o: lr.CosineAnnealingLR(o, 4), 0),
    ("torch::lr_scheduler_cosine_annealing_warm_restarts -optimizer $o -T0 2 -TMult 2 -eta_min 0.001",
     lambda o: lr.CosineAnnealingWarmRestarts(o, 2, 2, 0.001), 0),
    ("torch::lr_scheduler_lambda -optimizer $o -lambda 0.5", lambda o: lr.LambdaLR(o, lambda t: 0.5 ** t), 0),
    ("torch::lr_scheduler_cyclic $o 0.01 0.1 2 triangular2",
     lambda o: lr.CyclicLR(o, 0.01, 0.1, step_size_up=2, mode="triangular2"), 0),
    ("torch::lr_scheduler_multiplicative $o 0.9", lambda o: lr.MultiplicativeLR(o, lambda t: 0.9), 0),
    ("torch::lr_scheduler_exponential_decay -optimizer $o", lambda o: lr.ExponentialLR(o, 0.95), 0),
    ("torch::lr_scheduler_polynomial $o 4 2.0 1", lambda o: lr.PolynomialLR(o, 4, 2.0, last_epoch=1), 1),
    ("torch::lr_scheduler_constant_with_warmup $o 4 1",
     lambda o: lr.LambdaLR(o, lambda t: min(1.0, t / 4), last_epoch=1), 1),
    ("torch::lr_scheduler_linear_with_warmup -optimizer $o -numWarmupSteps 2 -numTrainingSteps 6 -lastEpoch 0",
     lambda o: lr.LambdaLR(o, lambda t: t / 2 if t < 2 else max(0.0, (6 - t) / 4), last_epoch=0), 1),
])
def test_schedulers_in_the_originals_spellings_follow_torch(tcl, make, torch_make, resume):
    assert _lrs(tcl, make, 5) == pytest.approx(_torch_lrs(torch_make, 5, bool(resume)))


@pytest.mark.parametrize("make, prefix", [
    ("torch::lr_scheduler_step $o 2", "step_scheduler"),
    ("torch::lr_scheduler_cyclic $o 0.001 0.1", "cyclic_scheduler"),
    ("torch::lr_scheduler_lambda $o", "lambda_scheduler"),
    ("torch::lr_scheduler_constant_with_warmup $o 10", "constant_warmup_scheduler"),
    ("torch::lr_scheduler_linear_with_warmup $o 10 100", "linear_warmup_scheduler"),
    ("torch::lr_scheduler_inverse_sqrt $o 10", "inverse_sqrt_scheduler"),
    ("torch::lr_scheduler_exponential $o", "scheduler"),
])
def test_scheduler_handles_are_named_after_their_kind_and_live(tcl, make, prefix):
    """The original's handle names; each is one the lifetime sweep recognizes, so a scheduler
    kept in a variable is not freed under it."""
    handle = tcl(f"set o [torch::optimizer_sgd [torch::ones {{2}}] 0.1]; set s [{make}]")
    assert re.fullmatch(prefix + r"\d+", handle)
    assert HANDLE_NAME.fullmatch(handle)


@pytest.mark.parametrize("script, words", [
    ("torch::lr_scheduler_step $o 0", "at least 1"),
    ("torch::lr_scheduler_exponential $o -0.1", "positive"),
    ("torch::lr_scheduler_cosine $o -5", "at least 1"),
    ("torch::lr_scheduler_polynomial -optimizer $o", "totalIters"),
    ("torch::lr_scheduler_polynomial -optimizer $o -totalIters 10 -power -1", "power"),
    ("torch::lr_scheduler_constant_with_warmup $o -10", "num_warmup_steps"),
    ("torch::lr_scheduler_plateau -optimizer $o -patience -5", "patience"),
    ("torch::lr_scheduler_reduce_on_plateau -optimizer $o -minLr -1e-6", "min_lr"),
    ("torch::lr_scheduler_noam -optimizer $o -modelSize 0", "modelSize"),
    ("torch::lr_scheduler_cosine -optimizer $o -tMaxx 3", "Unknown parameter"),
    ("torch::lr_scheduler_cyclic $o -0.001 0.1", "base_lr"),
    ("torch::lr_scheduler_cyclic $o 0.1 0.05", "Must be above base_lr"),
])
def test_scheduler_mistakes_are_clear_errors(tcl_error, script, words):
    message = tcl_error(f"set o [torch::optimizer_sgd [torch::ones {{2}}] 0.1]; {script}")
    assert words in message and "internal error" not in message
