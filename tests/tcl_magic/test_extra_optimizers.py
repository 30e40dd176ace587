"""LAMB and NovoGrad (tcl_magic.optimizers), which torch has not got: each step against a
plain-Python reference of the papers' formulas (lists of floats, gradients worked by hand),
and torch::optimizer_lamb / torch::optimizer_novograd in both syntaxes against the Python
optimizers, through optimizer_step, get_lr and a scheduler."""
import copy
import math

import pytest
import torch

from tcl_magic import TclSession
from tcl_magic.optimizers import Lamb, NovoGrad

# loss = sum(a * p^2 + b * p) over each tensor: its gradient is 2 a p + b, worked by hand below
_START = [[0.5, -1.0, 2.0], [0.0, 0.0], [0.0], [0.25, -0.75, 0.1, 3.0]]  # the second and third have norm 0
_A = [[1.0, 0.5, 2.0], [1.0, 3.0], [0.2], [1.0, 1.0, 0.0, 0.5]]
_B = [[0.1, -0.2, 0.0], [0.3, -0.4], [0.0], [0.0, 0.0, 0.0, 0.0]]  # the third's gradient stays 0 (and so it)


def _norm(xs):
    return math.sqrt(sum(x * x for x in xs))


def _grad(p, a, b):
    return [2 * ai * pi + bi for pi, ai, bi in zip(p, a, b)]


def _lamb_reference(steps, lr, betas, eps, wd):
    b1, b2 = betas
    params = [list(p) for p in _START]
    m = [[0.0] * len(p) for p in params]
    v = [[0.0] * len(p) for p in params]
    history = []
    for t in range(1, steps + 1):
        for i, p in enumerate(params):
            g = _grad(p, _A[i], _B[i])
            m[i] = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m[i], g)]
            v[i] = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v[i], g)]
            r = [(mi / (1 - b1 ** t)) / (math.sqrt(vi / (1 - b2 ** t)) + eps) + wd * pi
                 for mi, vi, pi in zip(m[i], v[i], p)]
            p_norm, r_norm = _norm(p), _norm(r)
            trust = p_norm / r_norm if p_norm > 0 and r_norm > 0 else 1.0
            params[i] = [pi - lr * trust * ri for pi, ri in zip(p, r)]
        history.append([list(p) for p in params])
    return history


def _novograd_reference(steps, lr, betas, eps, wd):
    b1, b2 = betas
    params = [list(p) for p in _START]
    m = [[0.0] * len(p) for p in params]
    v = [None] * len(params)
    history = []
    for _ in range(steps):
        for i, p in enumerate(params):
            g = _grad(p, _A[i], _B[i])
            norm_sq = sum(gi * gi for gi in g)
            v[i] = norm_sq if v[i] is None else b2 * v[i] + (1 - b2) * norm_sq
            m[i] = [b1 * mi + gi / (math.sqrt(v[i]) + eps) + wd * pi for mi, gi, pi in zip(m[i], g, p)]
            params[i] = [pi - lr * mi for pi, mi in zip(p, m[i])]
        history.append([list(p) for p in params])
    return history


def _tensors():
    return [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in _START]


def _loss(params):
    return sum((torch.tensor(a, dtype=torch.float64) * p * p + torch.tensor(b, dtype=torch.float64) * p).sum()
               for p, a, b in zip(params, _A, _B))


def _torch_history(cls, steps, **options):
    params = _tensors()
    opt = cls(params, **options)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        _loss(params).backward()
        opt.step()
        history.append([p.detach().tolist() for p in params])
    return history


_CASES = [
    (Lamb, _lamb_reference, dict(lr=0.1, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0)),
    (Lamb, _lamb_reference, dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    (NovoGrad, _novograd_reference, dict(lr=0.1, betas=(0.95, 0.98), eps=1e-8, weight_decay=0.0)),
    (NovoGrad, _novograd_reference, dict(lr=0.05, betas=(0.9, 0.5), eps=1e-8, weight_decay=0.2)),
]


@pytest.mark.parametrize("cls, reference, options", _CASES)
def test_each_step_matches_the_papers_formulas(cls, reference, options):
    expected = reference(4, options["lr"], options["betas"], options["eps"], options["weight_decay"])
    got = _torch_history(cls, 4, **options)
    for step, (want, have) in enumerate(zip(expected, got)):
        for w, h in zip(want, have):
            assert h == pytest.approx(w, abs=1e-12), f"step {step + 1}"
    assert got[-1] != [list(p) for p in _START]  # every case moves something


def test_lamb_moves_a_zero_norm_tensor_by_an_unscaled_step():
    # ||p|| = 0: the trust ratio is 1, so the first step is lr * m_hat / (sqrt(v_hat) + eps) = lr * sign(g)
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = Lamb([p], lr=0.1, weight_decay=0.0)
    p.grad = torch.tensor([0.3, -0.4], dtype=torch.float64)
    opt.step()
    assert p.detach().tolist() == pytest.approx([-0.1, 0.1], abs=1e-6)


@pytest.mark.parametrize("cls", [Lamb, NovoGrad])
def test_closure_state_dict_and_defaults_as_torch_optimizers(cls):
    params = _tensors()
    opt = cls(params, lr=0.05)
    closure_calls = []

    def closure():
        opt.zero_grad()
        loss = _loss(params)
        loss.backward()
        closure_calls.append(1)
        return loss

    losses = [float(opt.step(closure).detach()) for _ in range(2)]
    assert len(closure_calls) == 2 and losses[1] < losses[0]
    assert _torch_history(cls, 2, lr=0.05)[-1] == [p.detach().tolist() for p in params]

    # resuming from a state dict continues exactly as the uninterrupted optimizer does
    resumed = [p.detach().clone().requires_grad_() for p in params]
    again = cls(resumed, lr=0.05)
    again.load_state_dict(copy.deepcopy(opt.state_dict()))  # as saved: not sharing opt's tensors
    for o, ps in ((opt, params), (again, resumed)):
        for _ in range(2):
            o.zero_grad()
            _loss(ps).backward()
            o.step()
    assert [p.tolist() for p in resumed] == [p.detach().tolist() for p in params]
    assert [p.detach().tolist() for p in params] == _torch_history(cls, 4, lr=0.05)[-1]


def test_defaults_are_the_originals():
    w = [torch.zeros(2, requires_grad=True)]
    assert Lamb(w).defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01)
    assert NovoGrad(w).defaults == dict(lr=1e-3, betas=(0.95, 0.98), eps=1e-8, weight_decay=0.0)


@pytest.mark.parametrize("cls", [Lamb, NovoGrad])
def test_sparse_gradients_and_bad_ranges_are_refused(cls):
    p = torch.zeros(3, requires_grad=True)
    opt = cls([p])
    p.grad = torch.sparse_coo_tensor([[1]], [1.0], (3,), check_invariants=True)
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        opt.step()
    for bad in (dict(lr=-1.0), dict(betas=(1.0, 0.9)), dict(eps=-1.0), dict(weight_decay=-0.1)):
        with pytest.raises(ValueError, match="Invalid"):
            cls([p], **bad)


# --- the Tcl commands --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def session():
    return TclSession()


_TRAIN = ("set w [torch::tensor_create {1.0 -2.0 3.0} -requiresGrad 1]; set z [torch::zeros {2} float32 cpu 1]; "
          "set o [MAKE]; for {set i 0} {$i < 3} {incr i} {torch::optimizer_zero_grad $o; "
          "torch::tensor_backward [torch::tensor_add [torch::tensor_sum [torch::tensor_mul $w $w]] "
          "[torch::tensor_sum [torch::tensor_mul $z [torch::tensor_create {0.5 -1.5}]]]]; torch::optimizer_step $o}; "
          "concat [torch::tensor_to_list $w] [torch::tensor_to_list $z]")


def _trained(make) -> list[float]:
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    z = torch.zeros(2, requires_grad=True)
    opt = make([w, z])
    for _ in range(3):
        opt.zero_grad()
        ((w * w).sum() + (z * torch.tensor([0.5, -1.5])).sum()).backward()
        opt.step()
    return w.detach().tolist() + z.detach().tolist()


@pytest.mark.parametrize("make, python", [
    ("torch::optimizer_lamb [list $w $z]", lambda p: Lamb(p)),
    ("torch::optimizer_lamb [list $w $z] 0.1 {0.8 0.9} 1e-6 0.05", lambda p: Lamb(p, 0.1, (0.8, 0.9), 1e-6, 0.05)),
    ("torch::optimizerLamb -parameters [list $w $z] -lr 0.1 -beta1 0.8 -beta2 0.9 -eps 1e-6 -weightDecay 0.05",
     lambda p: Lamb(p, 0.1, (0.8, 0.9), 1e-6, 0.05)),
    ("torch::optimizer_lamb -params [list $w $z] -learningRate 0.1 -betas {0.8 0.95} -beta2 0.9 -weight_decay 0",
     lambda p: Lamb(p, 0.1, (0.8, 0.9), weight_decay=0.0)),
    ("torch::optimizer_novograd [list $w $z]", lambda p: NovoGrad(p)),
    ("torch::optimizer_novograd [list $w $z] 0.1 {0.9 0.5} 1e-8 0.01",
     lambda p: NovoGrad(p, 0.1, (0.9, 0.5), 1e-8, 0.01)),
    ("torch::optimizerNovograd -parameters [list $w $z] -lr 0.1 -beta1 0.9 -beta2 0.5 -eps 1e-8 -weightDecay 0.01",
     lambda p: NovoGrad(p, 0.1, (0.9, 0.5), 1e-8, 0.01)),
])
def test_tcl_commands_train_as_the_python_optimizers(tcl, make, python):
    got = [float(x) for x in tcl(_TRAIN.replace("MAKE", make)).split()]
    want = _trained(python)
    assert got == pytest.approx(want, abs=1e-6)
    assert got != [1.0, -2.0, 3.0, 0.0, 0.0]


@pytest.mark.parametrize("name, cls", [("optimizer_lamb", Lamb), ("optimizer_novograd", NovoGrad)])
def test_tcl_optimizers_take_a_module_get_lr_and_a_scheduler(tcl, name, cls):
    assert tcl(f"set o [torch::{name} [torch::linear 4 2] 0.2]; torch::get_lr $o") == "0.2"
    script = (f"set o [torch::{name} [list [torch::tensor_create {{1.0 2.0}} -requiresGrad 1]] 0.2]; "
              "set s [torch::lr_scheduler_step $o 1 0.5]; torch::lr_scheduler_step_update $s; "
              "torch::lr_scheduler_step_update $s; torch::get_lr $o")
    opt = cls([torch.zeros(2, requires_grad=True)], lr=0.2)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, 1, 0.5)
    opt.step()
    scheduler.step()
    opt.step()
    scheduler.step()
    assert float(tcl(script)) == pytest.approx(opt.param_groups[0]["lr"])


@pytest.mark.parametrize("script, words", [
    ("torch::optimizer_lamb -parameters [torch::zeros {5 5}] -lr -1.0",
     "Required parameters missing or invalid (parameters and positive learning rate required, beta values must be "
     "in [0,1), eps and weight_decay must be non-negative)"),
    ("torch::optimizer_lamb [torch::zeros {5 5}] 0.1 {0.9 1.0}", "beta values must be in [0,1)"),
    ("torch::optimizer_novograd -parameters [torch::zeros {5 5}] -eps 0",
     "Required parameters missing or invalid (parameters and positive values required for lr, valid beta values "
     "between 0-1, positive eps, non-negative weight decay)"),
    ("torch::optimizer_novograd [torch::zeros {5 5}] 0.1 {0.9} ", 'Invalid betas parameter. Must be a list of two'),
    ("torch::optimizerNovograd -parameters [torch::zeros {5 5}] -weightDecay -0.5", "non-negative weight decay"),
])
def test_tcl_refusals(tcl_error, script, words):
    message = tcl_error(script)
    assert words in message and "internal error" not in message

