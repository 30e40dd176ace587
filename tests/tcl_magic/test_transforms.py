"""The autograd commands that take a Tcl function (jacobian, hessian, jvp, vjp, vmap, the
gradient checks), functional_call, grad and nn_utils_clip_grad_norm_ give torch's values:
each called from Tcl, with procs built of torch:: commands, on the same inputs as the torch
expression it stands for, in Python."""
import pytest
import torch
from torch.autograd import functional as AF

from tcl_magic import TclSession

PROCS = """
proc cube {x} {torch::tensor_mul [torch::tensor_mul $x $x] $x}
proc energy {x} {torch::tensor_sum [torch::tensor_mul [torch::sin $x] $x]}
proc mix {a b} {list [torch::tensor_mul $a $b] [torch::tensor_sum [torch::tensor_add $a $b]]}
proc rowsums {m} {torch::tensor_sum $m 1}
proc norm2 {v} {torch::tensor_sum [torch::tensor_mul $v $v]}
set x [torch::tensor_create {0.5 -1.0 2.0}]
set y [torch::tensor_create {1.5 0.25 -0.5}]
set m [torch::tensor_create {{1.0 2.0 3.0} {-1.0 0.5 4.0}}]
"""
X, Y = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([1.5, 0.25, -0.5])
M = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]])


def cube(x):
    return x * x * x


def energy(x):
    return (torch.sin(x) * x).sum()


def mix(a, b):
    return a * b, (a + b).sum()


@pytest.fixture(scope="module")
def session():
    s = TclSession()
    assert s.eval(PROCS).error is None
    return s


def run(session, source: str) -> str:
    result = session.eval(source)
    assert result.error is None, result.error.message
    return result.result


def values(session, source: str) -> torch.Tensor:
    return torch.tensor([float(w) for w in run(session, f"torch::tensor_to_list [{source}]").split()])


def same(session, source: str, expected: torch.Tensor) -> None:
    """`source` (evaluated once) answers a handle of torch's shape and values."""
    shape, flat = session.tcl.splitlist(run(session, f"set _r [{source}]; "
                                                     "list [torch::tensor_shape $_r] [torch::tensor_to_list $_r]"))
    assert [int(w) for w in session.tcl.splitlist(shape)] == list(expected.shape), source
    got = torch.tensor([float(w) for w in session.tcl.splitlist(flat)])
    assert torch.allclose(got, expected.reshape(-1).float(), atol=1e-5), source


@pytest.mark.parametrize("source, expected", [
    ("torch::jacobian cube $x", AF.jacobian(cube, X)),
    ("torch::Jacobian -function cube -input $x -vectorize 1", AF.jacobian(cube, X)),
    ("torch::jacobian rowsums $m", AF.jacobian(lambda m: m.sum(1), M)),
    ("torch::hessian energy $x", AF.hessian(energy, X)),
    ("torch::hessian -func energy -inputs $y -vectorize 1", AF.hessian(energy, Y)),
    ("torch::jvp cube $x $y", AF.jvp(cube, X, Y)[1]),
    ("torch::jvp -func rowsums -inputs $m -vector [torch::ones {2 3}]",
     AF.jvp(lambda m: m.sum(1), M, torch.ones(2, 3))[1]),
    ("torch::vjp cube $x $y", AF.vjp(cube, X, Y)[1]),
    ("torch::vectorJacobianProduct -func rowsums -inputs $m -v [torch::tensor_create {2.0 -3.0}]",
     AF.vjp(lambda m: m.sum(1), M, torch.tensor([2.0, -3.0]))[1]),
    ("torch::vmap norm2 $m", torch.func.vmap(lambda v: (v * v).sum())(M)),
    ("torch::vectorMap -func norm2 -inputs $m -inDims 1", torch.func.vmap(lambda v: (v * v).sum(), 1)(M)),
    ("torch::vmap cube $m 1 1", torch.func.vmap(cube, 1, 1)(M)),
])
def test_transforms_give_torchs_values(session, source, expected):
    same(session, source, expected)


def test_several_inputs_and_outputs(session):
    jac = AF.jacobian(mix, (X, Y))
    rows = session.tcl.splitlist(run(session, "set jm [torch::jacobian mix [list $x $y]]"))
    assert len(rows) == 2 and all(len(session.tcl.splitlist(r)) == 2 for r in rows)
    for i in range(2):
        for j in range(2):
            same(session, f"lindex $jm {i} {j}", jac[i][j])
    scaled = torch.func.vmap(lambda v, s: v * s, in_dims=(0, None))(M, X)
    same(session, "lindex [torch::vmap {apply {{v s} {torch::tensor_mul $v $s}}} [list $m $x] {0 none}] 0", scaled)
    grads = AF.vjp(lambda a, b: (a * b).sum(), (X, Y))[1]
    run(session, "set pair [torch::vjp {apply {{a b} {torch::tensor_sum [torch::tensor_mul $a $b]}}} "
                 "[list $x $y] [torch::tensor_sum [torch::ones {1}]]]")
    same(session, "lindex $pair 0", grads[0])
    same(session, "lindex $pair 1", grads[1])


def test_a_function_is_found_where_the_caller_sees_it(session):
    run(session, "namespace eval ::calc {proc twice {x} {torch::tensor_mul $x 2.0}; "
                 "proc run {x} {torch::jacobian twice $x}}")
    same(session, "::calc::run $x", 2.0 * torch.eye(3))
    same(session, "namespace eval ::calc {torch::jvp twice $::x $::y}", 2.0 * Y)


def test_nested_transforms(session):
    """A function that itself differentiates: the Hessian as the Jacobian of a gradient."""
    run(session, "proc gradient_of_energy {x} {torch::vjp energy $x [torch::tensor_sum [torch::ones {1}]] 1}")
    same(session, "torch::jacobian gradient_of_energy $x", AF.hessian(energy, X))


def test_grad_checks_agree_with_torch(session):
    def rounded(x):
        return torch.round(x * 3.0)
    run(session, "proc rounded {x} {torch::round [torch::tensor_mul $x 3.0]}")
    x64 = X.double().requires_grad_()
    assert torch.autograd.gradcheck(cube, (x64,)) is True
    assert torch.autograd.gradcheck(rounded, (x64,), raise_exception=False) is False
    assert run(session, "torch::grad_check cube $x") == "1"
    assert run(session, "torch::gradCheck -function rounded -input $x") == "0"
    assert run(session, "torch::grad_check_finite_diff energy $x") == "1"
    assert run(session, "torch::gradCheckFiniteDiff -func energy -inputs $x -epsilon 1e-7") == "1"
    assert run(session, "torch::grad_check_finite_diff rounded $x") == "0"
    # the function sees float64 copies that track gradients
    run(session, "proc seen {x} {set ::seen [list [torch::tensor_dtype $x] [torch::tensor_requires_grad $x]]; "
                 "torch::tensor_mul $x $x}")
    run(session, "torch::grad_check seen $x")
    assert run(session, "set ::seen") == "Float64 1"


def test_grad_follows_torch_autograd_grad(session):
    x = X.clone().requires_grad_()
    w = torch.tensor([5.0], requires_grad=True)
    y = x * x
    run(session, "set gx [torch::tensor_create {0.5 -1.0 2.0} -requiresGrad 1]; "
                 "set gw [torch::tensor_create {5.0} -requiresGrad 1]; set gy [torch::tensor_mul $gx $gx]")
    same(session, "torch::grad $gy $gx -retainGraph 1", torch.autograd.grad(y, x, torch.ones(3), retain_graph=True)[0])
    same(session, "torch::grad -outputs $gy -inputs $gx -gradOutputs $y -retainGraph 1",
         torch.autograd.grad(y, x, Y, retain_graph=True)[0])
    same(session, "torch::grad -output $gy -input $gw -retainGraph 1", torch.zeros(1))
    outcome = session.eval("torch::grad $gy $gw -allowUnused 0 -retainGraph 1")
    assert outcome.error is not None and "appears to not have been used" in outcome.error.message
    g = torch.autograd.grad((y * x).sum(), x, create_graph=True)[0]
    run(session, "set gg [torch::grad [torch::tensor_sum [torch::tensor_mul $gy $gx]] $gx -createGraph 1]")
    same(session, "set gg", g)
    same(session, "torch::grad [torch::tensor_sum $gg] $gx", torch.autograd.grad(g.sum(), x)[0])
    run(session, "set both [torch::grad [torch::tensor_sum [torch::tensor_mul $gx $gw]] [list $gx $gw]]")
    gx, gw = torch.autograd.grad((x * w).sum(), (x, w))
    same(session, "lindex $both 0", gx)
    same(session, "lindex $both 1", gw)
    # the leaves' own gradients are not touched
    assert "no backward pass has reached it" in session.eval("torch::tensor_grad $gx").error.message


def test_clip_grad_norm_follows_torch(session):
    for norm_type, max_norm in (("2.0", 5.0), ("inf", 1.0), ("1", 0.5)):
        a = torch.tensor([3.0, 4.0], requires_grad=True)
        b = torch.tensor([[1.0, -2.0]], requires_grad=True)
        ((a * a).sum() + (b * b * b).sum()).backward()
        total = torch.nn.utils.clip_grad_norm_([a, b], max_norm, norm_type=float(norm_type))
        run(session, "set ca [torch::tensor_create {3.0 4.0} -requiresGrad 1]; "
                     "set cb [torch::tensor_create {{1.0 -2.0}} -requiresGrad 1]; "
                     "torch::tensor_backward [torch::tensor_add [torch::tensor_sum [torch::tensor_mul $ca $ca]] "
                     "[torch::tensor_sum [torch::tensor_mul [torch::tensor_mul $cb $cb] $cb]]]")
        same(session, f"torch::nnUtilsClipGradNorm -parameters [list $ca $cb] -maxNorm {max_norm} "
                      f"-normType {norm_type}", total)
        same(session, "torch::tensor_grad $ca", a.grad)
        same(session, "torch::tensor_grad $cb", b.grad)


def test_clip_grad_norm_of_a_module(session):
    run(session, "set lin [torch::linear 3 2]; "
                 "torch::tensor_backward [torch::tensor_sum [torch::layer_forward $lin [torch::ones {4 3}]]]")
    before = [values(session, "torch::tensor_grad [lindex [torch::layer_parameters $lin] 0]"),
              values(session, "torch::tensor_grad [lindex [torch::layer_parameters $lin] 1]")]
    total = torch.cat(before).norm()
    same(session, "torch::nn_utils_clip_grad_norm_ $lin 0.1", total)
    after = torch.cat([values(session, "torch::tensor_grad [lindex [torch::layer_parameters $lin] 0]"),
                       values(session, "torch::tensor_grad [lindex [torch::layer_parameters $lin] 1]")])
    assert torch.allclose(after, torch.cat(before) * 0.1 / (total + 1e-6), atol=1e-6)


def test_functional_call_follows_torch(session):
    lin = torch.nn.Linear(3, 2)
    weight, bias = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]]), torch.tensor([0.25, -0.5])
    expected = torch.func.functional_call(lin, {"weight": weight, "bias": bias}, (M,))
    run(session, "set fl [torch::linear 3 2]; set fw [torch::layer_parameters $fl]")
    run(session, "set p [list weight [torch::tensor_create {{1.0 2.0 3.0} {0.0 -1.0 0.5}}] "
                 "bias [torch::tensor_create {0.25 -0.5}]]")
    same(session, "torch::functional_call $fl $p $m", expected)
    same(session, "torch::functionalCall -module $fl -params $p -input $m", expected)
    # the module keeps its own parameters
    own = values(session, "lindex $fw 1")
    same(session, "torch::functional_call $fl [list bias [torch::zeros {2}]] $m",
         torch.func.functional_call(lin, {"weight": values(session, "lindex $fw 0").reshape(2, 3),
                                          "bias": torch.zeros(2)}, (M,)))
    assert torch.equal(values(session, "lindex $fw 1"), own)


@pytest.mark.parametrize("source, message, code", [
    ("torch::jacobian test_func $x", 'torch::jacobian: the function "test_func" is not a Tcl command: define '
                                     "it with proc (it takes tensor handles and returns a tensor handle)",
     "TORCH FUNCTION"),
    ("torch::jvp {} $x $y", "Required parameters missing: -func is empty (torch::jvp needs a function: a name is "
                            "required, of a Tcl command that takes tensor handles and returns one)", "TORCH USAGE"),
    ("proc boom {x} {error kaboom}; torch::hessian boom $x", 'torch::hessian: the function "boom" failed: kaboom',
     "TORCH FUNCTION"),
    ("proc word {x} {return hello}; torch::vjp word $x $y",
     'torch::vjp: the function "word" returned "hello", not a tensor handle (or a list of them)', "TORCH FUNCTION"),
    ("torch::vmap {apply {{v} {torch::tensor_item $v}}} $x",
     'torch::vmap: the function "apply {{v} {torch::tensor_item $v}}" failed: torch::tensor_item: vmap: It looks',
     "TORCH FUNCTION"),
    ("torch::jacobian cube [torch::arange 3]", "torch::jacobian: the inputs must be floating-point tensors",
     "TORCH VALUE"),
    ("torch::hessian cube $x", "torch::hessian: The Tensor returned by the function given to hessian should contain "
                               "a single element", "TORCH TORCH"),
    ("torch::vmap norm2 [list $m $x] {0 1 2}", "torch::vmap: -inDims has 3 entries for 2 inputs", "TORCH VALUE"),
    ("torch::grad_check cube $x -eps 0", "torch::grad_check: eps must be above 0 (got 0)", "TORCH VALUE"),
    ("torch::grad [torch::ones {2}] $x", "an output does not require gradients", "TORCH VALUE"),
    ("torch::nn_utils_clip_grad_norm_ $x -1", "torch::nn_utils_clip_grad_norm_: max_norm must be at least 0 (got -1)",
     "TORCH VALUE"),
    ("torch::functional_call nosuch {}", "Invalid module handle: nosuch", "TORCH HANDLE"),
    ("torch::functional_call [torch::linear 2 1] {weight}", "Invalid parameters parameter. Must be a dict",
     "TORCH VALUE"),
])
def test_errors_are_clear_tcl_errors(session, source, message, code):
    outcome = session.eval(source)
    assert outcome.error is not None, source
    assert outcome.error.message.startswith(message), outcome.error.message
    assert outcome.error.code == code
    assert "internal error" not in outcome.error.message


def test_handles_made_during_the_calls_are_freed_by_the_sweep():
    s = TclSession()
    assert s.eval(PROCS).error is None
    before = len(s.handles)
    result = s.eval("for {set i 0} {$i < 50} {incr i} {set j [torch::jacobian cube $x]}; torch::tensor_shape $j")
    assert result.error is None and result.result == "3 3"
    assert len(s.handles) == before + 1  # only $j is left
