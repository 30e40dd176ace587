"""The forms of the original's tensor commands' results (a dict of labelled handles, the
values of a values-and-indices pair, six decimals of an item) and their values, checked
against torch on the same inputs."""
import pytest
import torch
from torch.nn import functional as F

from tcl_magic import TclSession

from derived_values import SETUP, m, v


@pytest.fixture(scope="module")
def session():
    return TclSession()


def tcl(session, source: str) -> str:
    result = session.eval(f"{SETUP}; {source}")
    assert result.error is None, result.error.message
    return result.result


def values(session, source: str) -> torch.Tensor:
    return torch.tensor([float(x) for x in tcl(session, f"torch::tensor_to_list [{source}]").split()])


def labelled(session, source: str) -> dict[str, torch.Tensor]:
    """A result `label handle label handle ...` read back as label -> flat values."""
    keys = tcl(session, f"set r [{source}]; dict keys $r").split()
    return {key: torch.tensor([float(x) for x in tcl(session, f"torch::tensor_to_list [dict get $r {key}]").split()])
            for key in keys}


def test_values_and_indices_answer_the_values(session):
    assert torch.allclose(values(session, "torch::cummin $m 0"), torch.cummin(m, 0).values.reshape(-1))
    assert torch.allclose(values(session, "torch::cummax -input $v -dim 0"), torch.cummax(v, 0).values)
    assert torch.allclose(values(session, "torch::kthvalue $m 1 1"), torch.kthvalue(m, 1, 1).values)
    assert tcl(session, "llength [torch::cumMin $v 0]") == "1"


def test_tensordot_contracts_the_listed_dimensions_of_both(session):
    assert torch.allclose(values(session, "torch::tensordot $m $m {0 1}"), torch.tensordot(m, m, ([0, 1], [0, 1])))
    assert torch.allclose(values(session, "torch::tensordot -a $v -b $v -dims {0}"), torch.dot(v, v).reshape(1))
    assert torch.allclose(values(session, "torch::tensorDot $m $m {{1} {0}}"),
                          torch.tensordot(m, m, ([1], [0])).reshape(-1))


def test_normalize_of_all_values_by_default_or_along_dim(session):
    assert torch.allclose(values(session, "torch::tensor_normalize $m"), (m / m.norm()).reshape(-1))
    assert torch.allclose(values(session, "torch::tensor_normalize $v 1.0"), v / v.abs().sum())
    assert torch.allclose(values(session, "torch::tensor_normalize -tensor $m -p 2 -dim 1"),
                          F.normalize(m, 2.0, 1).reshape(-1))


def test_clamp_without_bounds_is_a_copy(session):
    assert torch.equal(values(session, "torch::tensor_clamp $v"), v)
    assert torch.allclose(values(session, "torch::tensor_clamp $v -min 0"), v.clamp(min=0))


def test_decompositions_answer_labelled_handles(session):
    qr = labelled(session, "torch::tensor_qr $m")
    q, r = torch.linalg.qr(m)
    assert set(qr) == {"Q", "R"}
    assert torch.allclose(qr["Q"], q.reshape(-1), atol=1e-6) and torch.allclose(qr["R"], r.reshape(-1), atol=1e-6)
    svd = labelled(session, "torch::tensor_svd -input $m")
    u, s, vh = torch.linalg.svd(m, full_matrices=False)
    assert list(svd) == ["U", "S", "V"]
    assert torch.allclose(svd["S"], s, atol=1e-6) and torch.allclose(svd["V"], vh.mH.reshape(-1), atol=1e-6)
    sym = m + m.T
    eig = labelled(session, "torch::tensorEigen [torch::tensor_add $m [torch::tensor_transpose $m 0 1]]")
    w, vec = torch.linalg.eigh(sym)
    assert list(eig) == ["eigenvalues", "eigenvectors"]
    assert torch.allclose(eig["eigenvalues"], w, atol=1e-6)
    assert torch.allclose(eig["eigenvectors"].abs(), vec.reshape(-1).abs(), atol=1e-5)


def test_unique_with_inverse_answers_both_labelled(session):
    x = torch.tensor([1.0, 2.0, 1.0, 3.0, 2.0])
    got = labelled(session, "torch::tensor_unique [torch::tensor_create {1.0 2.0 1.0 3.0 2.0}] 1 1")
    unique, inverse = torch.unique(x, sorted=True, return_inverse=True)
    assert torch.equal(got["unique"], unique) and torch.equal(got["inverse"], inverse.float())
    assert tcl(session, "string match tensor* [torch::tensor_unique $v]") == "1"


def test_unsqueeze_multiple_takes_the_largest_dim_first(session):
    assert tcl(session, "torch::tensor_shape [torch::unsqueeze_multiple $m {0 2}]") == "1 2 2 1"
    assert session.eval(f"{SETUP}; torch::unsqueeze_multiple $m {{}}").error is not None


def test_meshgrid_of_several_handles(session):
    a, b = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0, 5.0])
    make = "set a [torch::tensor_create {1 2 3}]; set b [torch::tensor_create {4 5}]"
    assert tcl(session, f"{make}; llength [torch::meshgrid $a $b $a]") == "3"
    grid = torch.meshgrid(a, b, indexing="ij")
    assert torch.equal(values(session, f"{make}; lindex [torch::meshgrid $a $b] 1"), grid[1].reshape(-1))
    xy = torch.meshgrid(a, b, indexing="xy")
    assert torch.equal(values(session, f"{make}; lindex [torch::meshgrid -tensors [list $a $b] -indexing xy] 0"),
                       xy[0].reshape(-1))
    assert "Invalid tensor handle: nothing" in session.eval(f"{make}; torch::meshgrid $a nothing").error.message


def test_lu_solve_takes_the_originals_flags(session):
    A = torch.tensor([[4.0, 3.0], [6.0, 3.0]])
    B = torch.tensor([[1.0], [2.0]])
    LU, pivots = torch.linalg.lu_factor(A)
    make = ("set B [torch::tensor_create -data {1.0 2.0} -shape {2 1}]; "
            f"set LU [torch::tensor_create {{{' '.join('{' + ' '.join(map(str, r)) + '}' for r in LU.tolist())}}}]; "
            f"set P [torch::tensor_create {{{' '.join(map(str, pivots.tolist()))}}} int32]")
    expected = torch.linalg.lu_solve(LU, pivots, B).reshape(-1)
    for call in ("torch::lu_solve $B $LU $P", "torch::lu_solve -B $B -LU_data $LU -LU_pivots $P",
                 "torch::luSolve -b $B -luData $LU -luPivots $P"):
        assert torch.allclose(values(session, f"{make}; {call}"), expected, atol=1e-5), call


def test_item_has_six_decimals_where_they_keep_the_value(session):
    def item(data: str, dtype: str) -> str:
        return tcl(session, f"torch::tensor_item [torch::tensor_create {data} {dtype}]")
    assert item("5.0", "float32") == "5.000000"
    assert item("-2.5", "float32") == "-2.500000"
    assert item("3.14159", "float64") == "3.141590"
    assert item("3.14159265359", "float64") == "3.14159265359"
    assert item("0.0000001", "float32") == "1e-07"
    assert torch.tensor(float(item("0.0000001", "float32"))).item() == torch.tensor(1e-7).item()
    assert item("7", "int64") == "7"


def test_quantized_readings_refuse_other_tensors(session):
    for command in ("q_per_channel_axis", "q_per_channel_scales", "int_repr", "q_scale"):
        error = session.eval(f"torch::{command} [torch::ones {{2 3}}]").error
        assert error is not None and error.message.startswith("Invalid quantized tensor"), command
    error = session.eval("torch::dequantize nothing").error.message
    assert "Invalid tensor handle: nothing" in error and "Invalid quantized tensor" in error
    q = torch.quantize_per_tensor(torch.tensor([1.0, 2.0]), 0.1, 0, torch.quint8)
    assert tcl(session, "torch::tensor_to_list [torch::int_repr [torch::quantize_per_tensor "
                        "[torch::tensor_create {1.0 2.0}] 0.1 0 quint8]]") == " ".join(map(str, q.int_repr().tolist()))


def test_the_originals_capitalised_names(session):
    assert torch.equal(values(session, "torch::Floor $v"), torch.floor(v))
    assert torch.allclose(values(session, "torch::siNh $v"), torch.sinh(v))
    assert torch.equal(values(session, "torch::Gt $v 0"), (v > 0).float())
    assert tcl(session, "torch::tensor_shape [torch::Empty {2 3}]") == "2 3"


def test_randint_like_is_int64_unless_told(session):
    assert tcl(session, "torch::tensor_dtype [torch::randint_like $m 10 5]") == "Int64"
    assert tcl(session, "torch::tensor_dtype [torch::randint_like $m 10 -dtype int32]") == "Int32"


def test_gradient_is_the_originals_finite_differences(session):
    assert torch.allclose(values(session, "torch::gradient $v"), torch.diff(v))
    assert torch.allclose(values(session, "torch::gradient $m {} 0"), torch.diff(m, dim=0).reshape(-1))
    assert torch.allclose(values(session, "torch::gradientCmd -input $m -spacing 0.5"),
                          (torch.diff(m, dim=-1) / 0.5).reshape(-1))


def test_random_makers_check_their_rates(session):
    assert "Must be positive" in session.eval("torch::exponential {2} -1.0").error.message
    error = session.eval(f"{SETUP}; torch::bernoulli $m 1.5").error.message
    assert "Probability p must be in range [0, 1]" in error
    assert tcl(session, "torch::tensor_to_list [torch::bernoulli -input $m -probability 1.0]") == "1.0 1.0 1.0 1.0"
    assert torch.equal(values(session, "torch::Rot90 $m"), torch.rot90(m).reshape(-1))
