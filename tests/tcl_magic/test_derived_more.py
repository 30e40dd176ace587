"""The image, sparse, indexing and weight families give torch's values: each command called
from Tcl on the same inputs as the torch expression it stands for, in Python."""
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tcl_magic import TclSession

from derived_values import img, m, v, value
from derived_values import close as close_within


@pytest.fixture(scope="module")
def session():
    return TclSession()


def close(session, source: str, expected: torch.Tensor) -> None:
    close_within(session, source, expected, atol=1e-5)


def _pe(seq_len, d_model):
    pos = torch.arange(seq_len).unsqueeze(1).float()
    rate = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
    out = torch.zeros(seq_len, d_model)
    out[:, 0::2], out[:, 1::2] = torch.sin(pos * rate), torch.cos(pos * rate)
    return out


@pytest.mark.parametrize("source, expected", [
    ("torch::upsample_bilinear $img {8 8}", F.interpolate(img, size=(8, 8), mode="bilinear")),
    ("torch::upsampleBilinear -input $img -scale_factor {2.0 2.0} -align_corners 1",
     F.interpolate(img, scale_factor=2.0, mode="bilinear", align_corners=True)),
    ("torch::upsample_nearest $img {8 8}", F.interpolate(img, size=(8, 8))),
    ("torch::resize_image $img {3 5} bicubic", F.interpolate(img, size=(3, 5), mode="bicubic", align_corners=False)),
    ("torch::normalize_image $m [torch::tensor_create {0.5}] [torch::tensor_create {2.0}]", (m - 0.5) / 2),
    ("torch::denormalize_image -image $m -mean [torch::tensor_create {0.5}] -std [torch::tensor_create {2.0}]",
     m * 2 + 0.5),
    ("torch::nms [torch::tensor_create {{0 0 10 10} {1 1 10 10} {20 20 30 30}}] "
     "[torch::tensor_create {0.9 0.8 0.7}] 0.5", torch.tensor([0, 2])),
    ("torch::roi_pool $img [torch::tensor_create {{0 0 0 3 3}}] {2 2}", F.adaptive_max_pool2d(img[0], 2)),
    # a box of whole pixels, aligned, one sample per bin at each bin's centre: bilinear at x.5
    ("torch::roi_align $img [torch::tensor_create {{0 0 0 4 4}}] {2 2} 1.0 1 1",
     torch.tensor([[img[0, 0, 0:2, 0:2].mean(), img[0, 0, 0:2, 2:4].mean()],
                   [img[0, 0, 2:4, 0:2].mean(), img[0, 0, 2:4, 2:4].mean()]])),
])
def test_image(session, source, expected):
    close(session, source, expected)


DENSE = torch.sparse_coo_tensor(torch.tensor([[0, 1], [1, 0]]), torch.tensor([2.0, 3.0]), (2, 2),
                                check_invariants=True)


@pytest.mark.parametrize("source, expected", [
    ("torch::sparse_to_dense [torch::sparse_coo_tensor $idx [torch::tensor_create {2.0 3.0}] {2 2}]",
     torch.sparse_coo_tensor(torch.tensor([[0, 0], [1, 1]]), torch.tensor([2.0, 3.0]), (2, 2)).to_dense()),
    ("torch::sparse_mm [torch::sparse_coo_tensor [torch::tensor_create {{0 1} {1 0}} int64] "
     "[torch::tensor_create {2.0 3.0}] {2 2}] $m", DENSE.to_dense() @ m),
    ("torch::sparse_sum [torch::sparse_coo_tensor $idx [torch::tensor_create {2.0 3.0}] {2 2}] 0",
     torch.tensor([0.0, 5.0])),
    ("torch::sparse_to_dense [torch::sparse_softmax $m 1]", torch.softmax(m, 1)),
    ("torch::sparse_to_dense [torch::sparse_add $m $m 2.0]", m * 3),
    ("torch::sparse_to_dense [torch::sparse_csr_tensor [torch::tensor_create {0 1 2} int64] "
     "[torch::tensor_create {1 0} int64] [torch::tensor_create {2.0 3.0}] {2 2}]", DENSE.to_dense()),
    ("torch::sparse_to_dense [torch::sparse_reshape $m {1 4}]", m.reshape(1, 4)),
])
def test_sparse(session, source, expected):
    close(session, source, expected)


@pytest.mark.parametrize("source, expected", [
    ("torch::tensor_advanced_index $m [list [torch::tensor_create {1 0} int64] [torch::tensor_create {0 1} int64]]",
     m[torch.tensor([1, 0]), torch.tensor([0, 1])]),
    ("torch::gather_nd $m $idx", m[torch.tensor([0, 1]), torch.tensor([0, 1])]),
    ("torch::scatter_nd $m $idx [torch::tensor_create {9.0 8.0}]", torch.tensor([[9.0, 0.25], [0.75, 8.0]])),
    ("torch::combinations $v 2", torch.combinations(v, 2)),
    ("torch::gradient $v", torch.diff(v)), ("torch::gradient -input $m -spacing 2.0 -dim 0",
                                            torch.diff(m, dim=0) / 2.0),
    ("torch::weight_norm $m 0", m / m.norm(dim=1, keepdim=True)),
    ("torch::spectral_norm $m", m / torch.linalg.matrix_norm(m, ord=2)),
    ("torch::embedding_bag [torch::tensor_create {0 1 1} int64] $m [torch::tensor_create {0 1} int64] 1",
     F.embedding_bag(torch.tensor([0, 1, 1]), m, torch.tensor([0, 1]), mode="mean")),
    ("torch::positional_encoding 3 4 0.0", _pe(3, 4)),
])
def test_indexing_and_weights(session, source, expected):
    close(session, source, expected)


def test_gamma_mean_and_conv_weights(session):
    torch.manual_seed(0)
    samples = value(session, "torch::gamma {20000} 2.0 4.0")
    assert abs(samples.mean().item() - 0.5) < 0.02  # alpha / beta, beta a rate
    result = session.eval("set c [torch::conv2d 1 1 1]; torch::conv2d_set_weights $c [torch::ones {1 1 1 1}] "
                          "[torch::zeros {1}]")
    assert result.error is None and result.result == "OK"
    assert value(session, "torch::layer_forward $c [torch::ones {1 1 2 2}]").equal(torch.ones(4))


def test_inplace_normalize_returns_its_handle(session):
    result = session.eval("set t [torch::ones {2}]; expr {[torch::normalize_image $t [torch::tensor_create {1.0}] "
                          "[torch::tensor_create {2.0}] 1] eq $t}")
    assert result.error is None and result.result == "1"


def test_transformer_blocks_are_torchs_on_the_same_seed(session):
    src, memory = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.5, 0.0, -1.0, 2.0]]), torch.tensor([[1.0, 0.0, 0.5, -0.5]])
    make = "set s [torch::tensor_create {{1.0 2.0 3.0 4.0} {0.5 0.0 -1.0 2.0}}]; " \
           "set mem [torch::tensor_create {{1.0 0.0 0.5 -0.5}}]; torch::manual_seed 0"
    torch.manual_seed(0)
    expected = nn.TransformerEncoderLayer(4, 2, 8, 0.0)(src)
    close(session, f"{make}; torch::transformer_encoder_layer $s 4 2 8 0.0", expected.detach())
    torch.manual_seed(0)
    expected = nn.TransformerDecoder(nn.TransformerDecoderLayer(4, 2, 8, 0.0), 2)(src, memory)
    close(session, f"{make}; torch::transformerDecoder -tgt $s -memory $mem -dModel 4 -nhead 2 -numLayers 2 "
          "-dimFeedforward 8 -dropout 0.0", expected.detach())
