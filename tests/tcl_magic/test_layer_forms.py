"""The original's forms of the layer, padding and loss commands give torch's values: the
function and layer forms under one name (maxpool2d, batch_norm3d), losses' integer
reductions, an absent optional tensor written none, the padding and transformer checks."""
import pytest
import torch
from torch.nn import functional as F

from tcl_magic import TclSession

from derived_values import SETUP, img, m, v, value
from derived_values import close as close_within

vol = torch.arange(0, 64).reshape(1, 1, 4, 4, 4).float()
MORE = ("set vol [torch::tensor_reshape [torch::arange 0 64 1 float32] {1 1 4 4 4}]; "
        "set fimg [torch::tensor_reshape [torch::arange 0 16 1 float32] {1 1 4 4}]")


@pytest.fixture(scope="module")
def session():
    return TclSession()


def close(session, source: str, expected: torch.Tensor) -> None:
    close_within(session, f"{MORE}; {source}", expected, atol=1e-5)


def error(session, source: str) -> str:
    result = session.eval(f"{SETUP}; {MORE}; {source}")
    assert result.error is not None, source
    assert "internal error" not in result.error.message and "Traceback" not in result.error.message
    return result.error.message


@pytest.mark.parametrize("source, expected", [
    ("torch::maxpool2d $img 2", F.max_pool2d(img, 2)),
    ("torch::maxpool2d $img 2 1 1", F.max_pool2d(img, 2, 1, 1)),
    ("torch::maxPool2d -input $img -kernel_size {2 2} -stride 2", F.max_pool2d(img, 2, 2)),
    ("torch::maxpool2d -tensor $img -kernelSize 3 -stride 1 -dilation 1 -ceilMode 1",
     F.max_pool2d(img, 3, 1, ceil_mode=True)),
    ("torch::maxpool1d [torch::tensor_reshape $fimg {1 4 4}] 2", F.max_pool1d(img.reshape(1, 4, 4), 2)),
    ("torch::maxpool3d $vol 2", F.max_pool3d(vol, 2)),
    ("torch::batch_norm3d $vol", F.batch_norm(vol, None, None, training=True)),
    ("torch::batchNorm3d -input $vol -eps 1e-4 -momentum 0.07", F.batch_norm(vol, None, None, training=True, eps=1e-4)),
    ("torch::batchnorm2d $fimg", F.batch_norm(img, None, None, training=True)),
])
def test_the_function_form_of_a_layer_name(session, source, expected):
    close(session, source, expected)


def test_the_layer_form_of_the_same_names_still_makes_layers(session):
    result = session.eval(f"{SETUP}; set l [torch::maxpool2d 2]; set b [torch::batch_norm3d 1]; "
                          "list $l $b [torch::tensor_shape [torch::layer_forward $l $img]]")
    layer, norm, shape = session.split_list(result.result)
    assert layer.startswith("maxpool2d") and norm.startswith("batchnorm") and shape == "1 1 2 2"
    assert "-kernelSize" in error(session, "torch::maxpool2d -kernelSize")
    assert "Tensor not found" in error(session, "torch::maxpool2d no_such_tensor 2")
    assert "Required parameter" in error(session, "torch::maxpool2d -input $img")


@pytest.mark.parametrize("code, reduction", [("0", "none"), ("1", "mean"), ("2", "sum")])
def test_losses_take_the_reduction_as_its_integer_too(session, code, reduction):
    a, b = m, m.flip(0)
    make = "[torch::tensor_create {{0.5 0.25} {0.75 1.0}}] [torch::tensor_create {{0.75 1.0} {0.5 0.25}}]"
    close(session, f"torch::huber_loss {make} {code}", F.huber_loss(a, b, reduction=reduction))
    close(session, f"torch::smoothL1Loss {make} {code}", F.smooth_l1_loss(a, b, reduction=reduction))
    close(session, f"torch::soft_margin_loss {make} -reduction {code}", F.soft_margin_loss(a, b, reduction=reduction))


def test_an_absent_optional_tensor_is_none(session):
    weight = torch.ones(1, 1, 2, 2)
    close(session, "torch::conv_transpose_2d $fimg [torch::ones {1 1 2 2}] none 2",
          F.conv_transpose2d(img, weight, None, 2))
    close(session, "torch::conv3d -input $vol -weight [torch::ones {1 1 2 2 2}] -bias none",
          F.conv3d(vol, torch.ones(1, 1, 2, 2, 2)))
    p, t = torch.tensor([0.8, 0.2, 0.3, 0.9]), torch.tensor([1.0, 0.0, 0.0, 1.0])
    tensors = "[torch::tensor_create {0.8 0.2 0.3 0.9}] [torch::tensor_create {1.0 0.0 0.0 1.0}]"
    close(session, f"torch::bce_loss {tensors} none sum", F.binary_cross_entropy(p, t, reduction="sum"))
    close(session, f"torch::bce_loss {tensors} sum", F.binary_cross_entropy(p, t, reduction="sum"))


def test_fractional_max_pooling_in_three_dimensions(session):
    result = session.eval(f"{MORE}; torch::tensor_shape [torch::fractional_maxpool3d $vol {{2 2 2}}]")
    assert result.result == "1 1 2 2 2"
    result = session.eval(f"{MORE}; torch::tensor_shape [torch::fractional_maxpool3d $vol 2 {{0.5 0.25 0.5}}]")
    assert result.result == "1 1 2 1 2"
    assert "3 integers" in error(session, "torch::fractional_maxpool3d -input $vol -kernel_size {2 2}")
    assert "3 doubles" in error(session, "torch::fractional_maxpool3d $vol {2 2 2} {0.5 0.5}")
    assert "positive" in error(session, "torch::fractional_maxpool3d $vol {-2 2 2}")
    assert "between 0 and 1" in error(session, "torch::fractional_maxpool3d $vol {2 2 2} {0.0 0.5 0.5}")


def test_cross_map_lrn2d_by_name_defaults_its_size_and_by_position_gives_all(session):
    close(session, "torch::cross_map_lrn2d -input $fimg", F.local_response_norm(img, 5))
    close(session, "torch::crossMapLrn2d $fimg 3 0.001 0.5 2.0", F.local_response_norm(img, 3, 0.001, 0.5, 2.0))
    close(session, "torch::cross_map_lrn2d $fimg", F.local_response_norm(img, 5))
    assert "wrong # args" in error(session, "torch::cross_map_lrn2d $img 5 1e-4")
    assert "at least 1" in error(session, "torch::cross_map_lrn2d -input $img -size 0")


@pytest.mark.parametrize("mode, name", [("reflect", "reflection"), ("replicate", "replication"), ("circular", "circular")])
def test_padding_by_the_modules_rules(session, mode, name):
    close(session, f"torch::{name}_pad2d $img {{1 1 2 0}}", F.pad(img, (1, 1, 2, 0), mode))
    close(session, f"torch::{name}_pad1d -input [torch::tensor_reshape $img {{4 4}}] -padding {{1 2}}",
          F.pad(img.reshape(4, 4), (1, 2), mode))
    assert error(session, f"torch::{name}_pad1d $img {{1}}") == "Padding must be a list of 2 values for 1D"
    assert error(session, f"torch::{name}_pad2d $img {{-1 1 1 1}}") == \
        "Invalid padding value: padding cannot be negative"
    assert error(session, f"torch::{name}_pad3d $m {{1 1 1 1 1 1}}") == \
        "Expected 5D tensor for 3D padding, but got 2D tensor"


def test_zero_and_constant_padding_crop_with_negative_values_as_torch(session):
    close(session, "torch::zero_pad2d $img {1 -1 0 1}", F.pad(img, (1, -1, 0, 1)))
    close(session, "torch::constant_pad1d $v {2 1} 7.5", F.pad(v, (2, 1), value=7.5))
    assert "4 values for 2D" in error(session, "torch::zero_pad2d $img {1 2 3}")


def test_transformer_decoders_fit_their_inputs_to_d_model(session):
    torch.manual_seed(0)
    make = ("set tgt [torch::tensor_create -data {1.0 2.0 3.0 4.0} -shape {2 2}]; "
            "set mem [torch::tensor_create -data {5.0 6.0 7.0 8.0} -shape {2 2}]")
    for call in ("torch::transformer_decoder_layer $tgt $mem 4 2 8 0.2",
                 "torch::transformer_decoder -tgt $tgt -memory $mem -dModel 6 -nhead 2 -numLayers 1",
                 "torch::transformer_decoder_layer $tgt $mem 1 1 4 0.0"):
        result = session.eval(f"{make}; torch::tensor_shape [{call}]")
        assert result.error is None, result.error.message
        assert result.result == {"4": "2 4", "6": "2 6", "1": "2 1"}[call.split()[3] if "-dModel" not in call else "6"]
    assert error(session, f"{make}; torch::transformer_decoder_layer $tgt $mem 2 1 4 1.5") == (
        "Invalid parameters: all tensors must be defined, dModel, nhead, dimFeedforward must be positive, "
        "dropout must be in range [0,1]")
    assert "wrong # args" in error(session, f"{make}; torch::transformer_decoder_layer $tgt $mem 2 1 4")
    assert "dModel, nhead" in error(session, "torch::transformer_encoder_layer $v 0 2 8 0.1")


def test_recurrent_layers_check_their_options(session):
    assert session.eval("torch::Gru -inputSize 3 -hiddenSize 4").result.startswith("gru")
    assert "Invalid dropout" in error(session, "torch::gru -input_size 10 -hidden_size 20 -dropout -0.1")
    assert "Invalid input_size" in error(session, "torch::lstm 0 20")


def test_dice_and_tversky_take_logits_and_focal_weights_by_one(session):
    logits, target = torch.tensor([[2.0, -1.0], [1.5, -0.5]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * target).sum(1) + 1) / (p.sum(1) + target.sum(1) + 1)
    make = "[torch::tensor_create {{2.0 -1.0} {1.5 -0.5}}] [torch::tensor_create {{1.0 0.0} {1.0 0.0}}]"
    close(session, f"torch::dice_loss {make}", dice.mean())
    close(session, f"torch::dice_loss {make} 1.0 0", dice)
    tp, fp, fn = (p * target).sum(), (p * (1 - target)).sum(), ((1 - p) * target).sum()
    close(session, f"torch::tversky_loss {make}", 1 - (tp + 1) / (tp + 0.5 * fp + 0.5 * fn + 1))
    scores, classes = torch.tensor([[1.0, 2.0, 0.5], [0.5, 1.5, 2.0]]), torch.tensor([0, 2])
    ce = F.cross_entropy(scores, classes, reduction="none")
    close(session, "torch::focal_loss [torch::tensor_create {{1.0 2.0 0.5} {0.5 1.5 2.0}}] "
          "[torch::tensor_create {0 2} int64]", ((1 - torch.exp(-ce)) ** 2 * ce).mean())


def test_softmax2d_defaults_to_dimension_1(session):
    close(session, "torch::softmax2d $m", torch.softmax(m, 1))
    close(session, "torch::softmax2d $img", torch.softmax(img, 1))
    close(session, "torch::softmax2D [torch::tensor_create {{1 2} {3 4}} int64]",
          torch.softmax(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), 1))


def test_option_checks_of_norms_pools_and_dropout(session):
    assert "Invalid numGroups 0" in error(session, "torch::group_norm -numGroups 0 -numChannels 4")
    assert "Invalid numChannels -1" in error(session, "torch::group_norm 2 -1")
    assert "0.0 and 1.0" in error(session, "torch::dropout -p 1.5")
    assert session.eval("torch::dropout 0.25 0 1").result.startswith("dropout")
    assert "normType" in error(session, "torch::lppool1d [torch::tensor_reshape $fimg {1 4 4}] 0.0 2")
    assert "kernelSize" in error(session, "torch::lppool2d -input $fimg -normType 2 -kernelSize 0")
    close(session, "torch::lppool2d $fimg 2 2", F.lp_pool2d(img, 2, 2))
    assert "eps" in error(session, "torch::instance_norm1d -input [torch::ones {2 3 4}] -eps -1.0")
    assert "momentum" in error(session, "torch::instance_norm2d -input $fimg -momentum -0.1")
    close(session, "torch::instance_norm2d $fimg 1e-3", F.instance_norm(img, eps=1e-3))
    assert "Must be positive" in error(session, "torch::linear -inFeatures -5 -outFeatures 10")


def test_rms_norm_checks_its_input_first(session):
    close(session, "torch::rms_norm $m {2}", F.rms_norm(m, [2]))
    close(session, "torch::rmsNorm -input $m -normalizedShape {2 2} -eps 0.5", F.rms_norm(m, [2, 2], eps=0.5))
    assert error(session, "torch::rms_norm [torch::tensor_create {} float32] {1}") == "Input tensor is empty"
    assert error(session, "torch::rms_norm $v {5}") == "Invalid normalized_shape: dimensions don't match input tensor"
    assert error(session, "torch::rms_norm $v {3} -1.0") == "Invalid eps value: must be positive"


def test_state_files_that_cannot_be_read_or_named_are_errors(session, tmp_path):
    path = tmp_path / "state.pt"
    result = session.eval(f"set l [torch::linear 2 3]; torch::save_state_dict $l {path}; "
                          f"torch::load_state -module $l -filename {path}")
    assert result.error is None and result.result == "OK"
    assert "required" in error(session, "torch::load_state [torch::linear 2 3] {}")
    assert "cannot read" in error(session, f"torch::load_state_dict [torch::linear 2 3] {tmp_path / 'missing.pt'}")
    assert "does not exist" in error(session, f"torch::save_state [torch::linear 2 3] {tmp_path / 'no' / 'dir.pt'}")
