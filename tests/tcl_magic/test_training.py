"""Training for real: autograd, layers, losses and optimizers in one process, and
data-parallel training with torch's DistributedDataParallel on a real 4-rank gloo cluster,
checked against the same training in one process on the whole data set."""
from __future__ import annotations

import pytest
import torch

from tcl_magic import TclSession

from ranks import fresh, on_all, values

# A regression problem every rank can rebuild: 32 rows of 3 features, y = x.w + 0.5.
DATA = r"""
torch::manual_seed 7
set x [torch::randn {32 3}]
set w_true [torch::tensor_create {2.0 -1.0 0.5} {3 1}]
set y [torch::tensor_add [torch::tensor_matmul $x $w_true] 0.5]
"""

# The model and optimizer: the same initial parameters on every rank (same seed).
MODEL = r"""
torch::manual_seed 1
set model [torch::sequential [list [torch::linear 3 8] [torch::tanh] [torch::linear 8 1]]]
"""

TRAIN = r"""
set opt [torch::optimizer_sgd -parameters $net -lr 0.1 -momentum 0.5]
set losses {}
for {set step 0} {$step < 20} {incr step} {
    torch::optimizer_zero_grad $opt
    set loss [torch::mse_loss [torch::layer_forward $net $xs] $ys]
    torch::tensor_backward $loss
    torch::optimizer_step $opt
    lappend losses [torch::tensor_item $loss]
}
"""

PARAMS = r"""
set flat {}
foreach p [torch::layer_parameters $model] {lappend flat {*}[torch::tensor_to_list $p]}
set flat
"""


def _floats(text: str) -> torch.Tensor:
    return torch.tensor([float(v) for v in text.split()], dtype=torch.float64)


def single_process_training() -> tuple[torch.Tensor, list[float]]:
    session = TclSession()
    result = session.eval(DATA + MODEL + "set net $model; set xs $x; set ys $y\n" + TRAIN + PARAMS)
    assert result.error is None, result.error.info
    losses = _floats(session.eval("set losses").result).tolist()
    return _floats(result.result), losses


def test_one_process_training_lowers_the_loss_and_matches_python():
    params, losses = single_process_training()
    assert losses[-1] < 0.2 * losses[0], losses
    # the same steps written in Python with torch directly
    torch.manual_seed(7)
    x = torch.randn(32, 3)
    y = x @ torch.tensor([[2.0], [-1.0], [0.5]]) + 0.5
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    for _ in range(20):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    expected = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()
    torch.testing.assert_close(params, expected, rtol=1e-5, atol=1e-6)


def test_gradients_accumulate_and_no_grad_records_nothing():
    s = TclSession()
    out = s.eval("""
        set w [torch::tensor_create {1.0 2.0} -requiresGrad 1]
        torch::tensor_backward [torch::tensor_sum [torch::tensor_mul $w $w]]
        torch::tensor_backward [torch::tensor_sum [torch::tensor_mul $w $w]]
        set g [torch::tensor_to_list [torch::tensor_grad $w]]
        torch::no_grad {set v [torch::tensor_mul $w 3.0]}
        list $g [torch::tensor_requires_grad $v] [torch::is_grad_enabled] [torch::tensor_requires_grad $w]
    """)
    assert out.error is None, out.error.info
    assert out.result == "{4.0 8.0} 0 1 1"


@pytest.mark.parametrize("source, message", [
    ("torch::tensor_backward [torch::ones 3]", "this tensor does not require gradients"),
    ("torch::tensor_backward [torch::ones 3 -requiresGrad 1]", "needs -gradient"),
    ("torch::tensor_grad [torch::ones 3 -requiresGrad 1]", "this tensor has no gradient: no backward pass"),
    ("torch::optimizer_sgd [torch::tensor_mul [torch::ones 3 -requiresGrad 1] 2] 0.1", "tensor2 cannot be optimized"),
    ("torch::optimizer_step optimizer9", "Invalid optimizer handle: optimizer9"),
    ("torch::layer_forward linear9 [torch::ones 3]", "Invalid module handle: linear9"),
    ("torch::layer_forward [torch::linear 3 2] [torch::ones {2 4}]", "torch::layer_forward: mat1 and mat2 shapes"),
    ("torch::mse_loss [torch::ones 3] [torch::ones 3] average", "Invalid reduction parameter. Must be one of: mean"),
    ("torch::optimizer_adam [torch::linear 2 2] 0.1 1.5", 'Invalid beta1 parameter. Must be at least 0 and less than 1. Got: "1.5"'),
    ("torch::no_grad {error boom}", "boom"),
    ("torch::mse_loss [torch::ones {4 1}] [torch::ones 4]", "the input has shape [4, 1] and the target [4]"),
])
def test_training_mistakes_are_clear_tcl_errors(source, message):
    result = TclSession().eval(source)
    assert result.error is not None and message in result.error.message, result.error
    assert "internal error" not in result.error.message


def _shard_script() -> str:
    """Rank 0's data scattered into 4 shards of 8 rows; every rank trains the DDP model on its own."""
    return (DATA + MODEL + """
        set xs [torch::distributed_scatter $x 0]
        set ys [torch::distributed_scatter $y 0]
        set net [torch::distributed_data_parallel $model]
    """ + TRAIN + PARAMS)


def test_data_parallel_training_on_4_ranks_equals_one_process_on_all_the_data(cluster_of):
    cluster = cluster_of(4)
    fresh(cluster)
    results = values(cluster, _shard_script())
    reference, _ = single_process_training()
    # every rank holds the same parameters, and they are those of full-batch training:
    # the mean of 4 equal shards' mean gradients is the full data set's mean gradient
    for text in results:
        torch.testing.assert_close(_floats(text), _floats(results[0]), rtol=0, atol=0)
        torch.testing.assert_close(_floats(text), reference, rtol=1e-4, atol=1e-5)
    losses = [_floats(t) for t in values(cluster, "set losses")]
    assert len({tuple(t.tolist()) for t in losses}) == 4  # each rank's own shard, its own loss
    assert values(cluster, "set net") == ["ddp1"] * 4


def test_a_rank_that_skips_backward_stops_the_others_at_once(cluster_of):
    cluster = cluster_of(4)
    fresh(cluster)
    values(cluster, DATA + MODEL + "set net [torch::distributed_data_parallel $model]")
    results = on_all(cluster, """
        set loss [torch::mse_loss [torch::layer_forward $net $x] $y]
        if {[torch::get_rank] == 2} {error "rank two gives up"}
        torch::tensor_backward $loss
    """)
    for r in results:
        assert r.error is not None
        if r.rank != 2:
            assert "rank 2 left the cell with an error before calling tensor_backward" in r.error.message, r.error
    # nothing is broken: the next step trains on every rank
    again = values(cluster, "torch::tensor_backward [torch::mse_loss [torch::layer_forward $net $x] $y]")
    assert again == ["OK"] * 4


def test_ranks_wrapping_different_models_are_told_so(cluster_of):
    cluster = cluster_of(4)
    fresh(cluster)
    results = on_all(cluster, "torch::distributed_data_parallel [torch::linear 3 [expr {[torch::get_rank] == 3 ? 2 : 1}]]")
    for r in results:
        assert r.error is not None and "with different models (ranks 0-2 passed A, rank 3 passed B)" \
            in r.error.message, r.error
    assert values(cluster, "torch::get_rank") == ["0", "1", "2", "3"]


def test_switching_gradients_off_is_the_sessions_own_mode():
    """`torch::no_grad` without a script lasts until `torch::enable_grad`, in that session
    only: the hosting process (the kernel's Python) keeps its own mode."""
    s = TclSession()
    assert s.eval("torch::no_grad").result == "ok"
    assert torch.is_grad_enabled()
    assert s.eval("torch::is_grad_enabled").result == "0"
    assert TclSession().eval("torch::is_grad_enabled").result == "1"
    s.eval("torch::enable_grad")
    assert s.eval("torch::is_grad_enabled").result == "1"


def test_modules_and_optimizers_live_while_a_value_reaches_them():
    s = TclSession()
    s.eval("set l [torch::linear 2 2]; set m [torch::sequential [list $l]]; set o [torch::optimizer_sgd $m]; "
           "unset l; torch::linear 3 3")
    s.eval("unset o")
    r = s.eval("list [catch {torch::layer_parameters linear1}] [catch {torch::layer_parameters linear2}] "
               "[catch {torch::optimizer_step optimizer1}] [llength [torch::layer_parameters $m]] "
               "[torch::tensor_shape [torch::layer_forward $m [torch::ones {1 2}]]]")
    # linear1 lives on inside the sequential, but its handle went with the variable
    assert r.result == "1 1 1 2 {1 2}"
