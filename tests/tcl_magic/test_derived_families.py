"""The commands derived from torch give torch's values: each family called from Tcl on the
same inputs as torch in Python, and the results compared."""
import pytest
import torch
from torch.nn import functional as F

from tcl_magic import TclSession

from derived_values import m, v
from derived_values import close as close_within


@pytest.fixture(scope="module")
def session():
    return TclSession()


def close(session, source: str, expected: torch.Tensor) -> None:
    close_within(session, source, expected, atol=1e-6)


@pytest.mark.parametrize("source, expected", [
    ("torch::acos $m", torch.acos(m)), ("torch::rsqrt -input $m", torch.rsqrt(m)), ("torch::floor $v", torch.floor(v)),
    ("torch::exp10 $v", torch.pow(10, v)), ("torch::leaky_relu $v 0.1", F.leaky_relu(v, 0.1)),
    ("torch::leakyRelu -input $v -slope 0.2", F.leaky_relu(v, 0.2)), ("torch::gelu $v", F.gelu(v)),
    ("torch::hardtanh -input $v -min -0.1 -max 0.6", F.hardtanh(v, -0.1, 0.6)), ("torch::elu $v 0.5", F.elu(v, 0.5)),
    ("torch::atan2 -y $v -x $v", torch.atan2(v, v)), ("torch::outer $v $v", torch.outer(v, v)),
    ("torch::dot $v $v", torch.dot(v, v)), ("torch::kron $m $m", torch.kron(m, m)),
])
def test_element_wise(session, source, expected):
    close(session, source, expected)


@pytest.mark.parametrize("source, expected", [
    ("torch::cumsum $m 1", torch.cumsum(m, 1)), ("torch::cumProd -input $m -dim 0", torch.cumprod(m, 0)),
    ("torch::diff $v", torch.diff(v)), ("torch::flip $m {0}", torch.flip(m, [0])), ("torch::roll $v 1", torch.roll(v, 1)),
    ("torch::tril $m", torch.tril(m)), ("torch::trace $m", torch.trace(m)), ("torch::hstack $v $v", torch.hstack([v, v])),
    ("torch::vstack [list $m $m]", torch.vstack([m, m])), ("torch::matrix_norm $m", torch.linalg.matrix_norm(m)),
    ("torch::tensor_std $v", torch.std(v)), ("torch::var_dim $m 1", torch.var(m, 1)),
    ("torch::tensor_clamp $v 0 0.6", torch.clamp(v, 0, 0.6)),
])
def test_reductions_and_rearrangements(session, source, expected):
    close(session, source, expected)


@pytest.mark.parametrize("source, expected", [
    ("torch::zeros_like $m", torch.zeros(2, 2)), ("torch::full_like $m 7", torch.full((2, 2), 7.0)),
    ("torch::linspace 0 1 5", torch.linspace(0, 1, 5)), ("torch::logspace 0 2 3", torch.logspace(0, 2, 3)),
    ("torch::eye 2 3", torch.eye(2, 3)), ("torch::hann_window 5", torch.hann_window(5)),
    ("torch::kaiser_window 4 -beta 5.0", torch.kaiser_window(4, True, 5.0)),
])
def test_makers(session, source, expected):
    close(session, source, expected)


def test_layers_and_functional_forms(session):
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    make = "set x [torch::tensor_reshape [torch::arange 0 16 -dtype float32] {1 1 4 4}]"
    for source, expected in [
        ("torch::layer_forward [torch::maxpool2d 2] $x", F.max_pool2d(x, 2)),
        ("torch::avgpool2d $x 2", F.avg_pool2d(x, 2)),
        ("torch::reflection_pad2d $x {1 1 1 1}", F.pad(x, [1, 1, 1, 1], "reflect")),
        ("torch::constant_pad2d $x {1 0 0 1} 9", F.pad(x, [1, 0, 0, 1], value=9.0)),
        ("torch::adaptive_avgpool1d [torch::tensor_reshape $x {1 4 4}] 2", F.adaptive_avg_pool1d(x.reshape(1, 4, 4), 2)),
    ]:
        close(session, f"{make}; {source}", expected)
    assert session.eval("string match lstm* [torch::lstm 4 8]").result == "1"


def test_losses(session):
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    make = "set y [torch::tensor_create {{1.0 0.0} {0.0 1.0}}]"
    for source, expected in [
        ("torch::huber_loss $m $y", F.huber_loss(m, target)),
        ("torch::smooth_l1_loss $m $y sum 0.5", F.smooth_l1_loss(m, target, reduction="sum", beta=0.5)),
        ("torch::soft_margin_loss $m $y", F.soft_margin_loss(m, target)),
        ("torch::kl_div_loss $m $y sum", F.kl_div(m, target, reduction="sum")),
    ]:
        close(session, f"{make}; {source}", expected)


def test_optimizers_and_schedulers_follow_torch(session):
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    opt = torch.optim.AdamW([w], lr=0.1, betas=(0.8, 0.9))
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, 0.5)
    for _ in range(2):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        sched.step()
    script = ("set w [torch::tensor_create {1.0 2.0} -requiresGrad 1]; "
              "set o [torch::optimizer_adamw $w 0.1 -beta1 0.8 -beta2 0.9]; set s [torch::lr_scheduler_step $o 1 0.5]; "
              "for {set i 0} {$i < 2} {incr i} {torch::optimizer_zero_grad $o; "
              "torch::tensor_backward [torch::tensor_sum [torch::tensor_mul $w $w]]; torch::optimizer_step $o; "
              "torch::lr_scheduler_step_update $s}; list [torch::tensor_to_list $w] [torch::get_lr $o]")
    result = session.eval(script)
    assert result.error is None, result.error.message
    values, lr = result.result.rsplit(" ", 1)
    assert torch.allclose(torch.tensor([float(x) for x in values.strip("{}").split()]), w.detach())
    assert float(lr) == pytest.approx(opt.param_groups[0]["lr"])


def test_a_plain_leaf_tensor_is_accepted_by_an_optimizer_as_torch_accepts_it(session):
    assert session.eval("string match optimizer* [torch::optimizer_adam [torch::ones {2}] 0.001]").result == "1"
    assert session.eval("torch::manual_seed 1").result == "ok"


def test_fourier_and_audio(session):
    x = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    make = "set x [torch::tensor_create {1 2 3 4 5 6 7 8}]"
    for source, expected in [
        ("torch::tensor_abs [torch::tensor_fft $x]", torch.fft.fft(x).abs()),
        ("torch::tensor_abs [torch::tensor_rfft $x 4]", torch.fft.rfft(x, 4).abs()),
        ("torch::tensor_irfft [torch::tensor_rfft $x] 8", torch.fft.irfft(torch.fft.rfft(x), 8)),
        ("torch::fftshift $x", torch.fft.fftshift(x)), ("torch::ifftShift -input $x", torch.fft.ifftshift(x)),
        ("torch::tensor_abs [torch::tensor_stft $x 4 2]",
         torch.stft(x, 4, 2, window=torch.hann_window(4), return_complex=True).abs()),
        ("torch::tensor_istft [torch::tensor_stft $x 4 1] 4 1", torch.istft(torch.stft(
            x, 4, 1, window=torch.hann_window(4), return_complex=True), 4, 1, window=torch.hann_window(4))),
        # the analytic signal of a cosine has magnitude 1 everywhere
        ("torch::tensor_abs [torch::hilbert [torch::tensor_create {1 0 -1 0 1 0 -1 0}]]", torch.ones(8)),
    ]:
        close(session, f"{make}; {source}", expected)
    for source, shape in [("torch::time_stretch [torch::tensor_reshape $x {2 4}] 2.0", "2 2"),
                          ("torch::melscale_fbanks 64 20 16000", "20 64"), ("torch::spectrogram $x 4", "3 5")]:
        assert session.eval(f"{make}; torch::tensor_shape [{source}]").result == shape, source


def test_runtime_answers_what_torch_reports(session):
    assert session.eval("torch::get_num_threads").result == str(torch.get_num_threads())
    same = session.eval("set s [torch::get_rng_state]; set a [torch::tensor_to_list [torch::rand {3}]]; "
                        "torch::set_rng_state $s; expr {$a eq [torch::tensor_to_list [torch::rand {3}]]}")
    assert same.result == "1", same.error
    assert session.eval("torch::autocast_enable cpu bfloat16; torch::autocast_is_enabled cpu").result == "1"
    assert session.eval("torch::autocast_disable cpu; torch::autocast_is_enabled -device cpu").result == "0"
    assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    if not torch.cuda.is_available():  # the truth about the machine, not invented figures
        assert "CUDA not available" in session.eval("torch::cuda_device_info").error.message
        assert session.eval("torch::empty_cache").result == "cuda_not_available"
        assert session.eval("torch::memory_stats").result == "cuda_available: false"
    assert int(session.eval("torch::benchmark add 2 10x10").result) > 0


def test_grad_scaler_follows_torch(session):
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    close(session, "torch::grad_scaler_scale [torch::grad_scaler_new 1024.0] $v", scaler.scale(v))
    assert float(session.eval("torch::grad_scaler_get_scale [torch::gradScalerNew -initScale 8.0]").result) == 8.0
    script = ("set w [torch::tensor_create {1.0 2.0} -requiresGrad 1]; set o [torch::optimizer_sgd $w 0.1]; "
              "set s [torch::grad_scaler_new 4.0]; "
              "torch::tensor_backward [torch::grad_scaler_scale $s [torch::tensor_sum [torch::tensor_mul $w $w]]]; "
              "torch::grad_scaler_step $s $o; torch::grad_scaler_update $s; torch::tensor_to_list $w")
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    opt, scaler = torch.optim.SGD([w], lr=0.1), torch.amp.GradScaler("cpu", init_scale=4.0)
    scaler.scale((w * w).sum()).backward()
    scaler.step(opt)
    scaler.update()
    result = session.eval(script)
    assert [float(x) for x in result.result.split()] == pytest.approx(w.detach().tolist()), result.error


def test_quantization_follows_torch(session):
    q = torch.quantize_per_tensor(v, 0.1, 10, torch.quint8)
    close(session, "torch::dequantize [torch::quantize_per_tensor $v 0.1 10 quint8]", q.dequantize())
    close(session, "torch::int_repr [torch::quantize_per_tensor $v 0.1 10 quint8]", q.int_repr().float())
    assert float(session.eval("torch::q_scale [torch::quantize_per_tensor $v 0.1 10 quint8]").result) == \
        pytest.approx(0.1)
    close(session, "torch::fake_quantize_per_tensor $v 0.1 0 -128 127",
          torch.fake_quantize_per_tensor_affine(v, 0.1, 0, -128, 127))
    scales, zeros = torch.tensor([0.1, 0.2]), torch.tensor([0, 1], dtype=torch.int32)
    close(session, "torch::fake_quantize_per_channel $m [torch::tensor_create {0.1 0.2}] "
          "[torch::tensor_create {0 1} int32] 1", torch.fake_quantize_per_channel_affine(m, scales, zeros, 1, 0, 255))
    qa = torch.quantize_per_tensor(m, 0.1, 0, torch.quint8)
    close(session, "torch::dequantize [torch::quantized_add $m $m 0.1 0]",
          torch.ops.quantized.add(qa, qa, 0.1, 0).dequantize())


def test_model_state_round_trips_through_torch_files(session, tmp_path):
    path = tmp_path / "state.pt"
    made = session.eval(f"set l [torch::linear 3 2]; torch::save_state_dict $l {path}; torch::count_parameters $l")
    assert made.result == "8", made.error
    saved = torch.load(path, weights_only=True)
    assert set(saved) == {"weight", "bias"}
    loaded = session.eval(f"set k [torch::linear 3 2]; torch::load_state_dict $k {path}; "
                          "torch::tensor_to_list [torch::layer_forward $k [torch::ones {1 3}]]")
    expected = torch.ones(1, 3) @ saved["weight"].T + saved["bias"]
    assert [float(x) for x in loaded.result.split()] == pytest.approx(expected.reshape(-1).tolist(), abs=1e-6)
    assert session.eval("torch::freeze_model $k; torch::layer_device $k").result == "cpu"
    ckpt = tmp_path / "ckpt.pt"
    info = session.eval(f"set o [torch::optimizer_sgd $k 0.1]; torch::save_checkpoint $k $o {ckpt} 3 0.5; "
                        f"torch::get_checkpoint_info {ckpt}")
    assert info.result.split()[:4] == ["epoch", "3", "loss", "0.5"], info.error
