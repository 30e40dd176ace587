"""torch::aten::NAME: every torch operator, generated from torch's schemas, under the
contract of the hand-written commands."""
from __future__ import annotations

import random

import pytest
import torch

from tcl_magic import TclSession
from tcl_magic.commands import aten


@pytest.fixture(scope="module")
def session():
    s = TclSession()
    s.eval("set x [torch::arange 6 float32]; set m [torch::tensor_reshape $x {2 3}]")
    return s


def run(session, source):
    r = session.eval(source)
    return r.result if r.error is None else ("error", r.error.message)


@pytest.mark.parametrize("source, expected", [
    ("torch::tensor_to_list [torch::aten::add $x $x]", "0.0 2.0 4.0 6.0 8.0 10.0"),            # add.Tensor
    ("torch::tensor_to_list [torch::aten::add $x 2]", "2.0 3.0 4.0 5.0 6.0 7.0"),              # add.Scalar
    ("torch::tensor_to_list [torch::aten::add $x $x -alpha 3]", "0.0 4.0 8.0 12.0 16.0 20.0"),  # mixed syntax
    ("torch::tensor_to_list [torch::aten::cumsum -input $x -dim 0]", "0.0 1.0 3.0 6.0 10.0 15.0"),
    ("torch::tensor_to_list [torch::aten::cumSum -self $x -dim 0]", "error"),                  # no such camel name
    ("torch::tensor_shape [torch::aten::sum $m {1} 1]", "2 1"),                                  # int[] and bool
    ("torch::tensor_to_list [torch::aten::clamp $x none 3]", "0.0 1.0 2.0 3.0 3.0 3.0"),        # Scalar? none
    ("llength [torch::aten::topk $x 2]", "2"),                                                  # a tuple: a list
    ("llength [torch::aten::split $x 4]", "2"),                                                 # Tensor[]
    ("torch::aten::size $m 1", "3"),                                                            # an int result
    ("torch::aten::isFloatingPoint $x", "1"),                                                   # camelCase twin
    ("torch::tensor_dtype [torch::aten::randn {2 2} -dtype float64]", "Float64"),               # ScalarType?
    ("torch::tensor_to_list [torch::aten::index_select $m 1 [torch::tensor_create {2 0} int64]]",
     "2.0 0.0 5.0 3.0"),
])
def test_operators_run_with_both_syntaxes(session, source, expected):
    got = run(session, source)
    if expected == "error":
        assert isinstance(got, tuple)
    else:
        assert got == expected


@pytest.mark.parametrize("source, message", [
    ("torch::aten::add $x", "Wrong number of arguments for positional syntax. Expected: torch::aten::add self other ?alpha?"),
    ("torch::aten::add $x nothing", "Invalid tensor handle: nothing"),
    ("torch::aten::add $x $x -beta 2", "Unknown parameter: -beta"),
    ("torch::aten::cumsum $x abc", 'Invalid dim parameter. Must be an integer. Got: "abc"'),
    ("torch::aten::cumsum -self $x", "Required parameters missing: -dim"),
    ("torch::aten::cumsum -self $x -dim", "Missing value for parameter -dim"),
    ("torch::aten::mm $x $x", "torch::aten::mm: self must be a matrix"),
])
def test_operator_errors_use_the_contract_wording(session, source, message):
    got = run(session, source)
    assert got[0] == "error" and got[1].startswith(message), got


def test_what_is_left_out():
    reached = set(aten.names())
    assert len(reached) > 800
    assert {"add", "matmul", "logsumexp", "index_select", "conv2d", "layer_norm", "where"} <= reached
    assert not {name for name in reached if name.startswith("_") or name.endswith("_") or "backward" in name}
    session = TclSession()
    assert session.eval("info commands ::torch::aten::add_").result == ""  # in place: left out
    # the reference stays readable: the operators live in their own namespace
    top = session.tcl.splitlist(session.eval("info commands ::torch::*").result)
    assert not any("aten" in name for name in top)


def test_gradients_flow_through_generated_operators():
    s = TclSession()
    r = s.eval("""
        set w [torch::tensor_create {1.0 2.0 3.0} -requiresGrad 1]
        torch::tensor_backward [torch::aten::logsumexp $w 0]
        torch::tensor_to_list [torch::tensor_grad $w]
    """)
    expected = torch.softmax(torch.tensor([1.0, 2.0, 3.0]), 0).tolist()
    assert [round(float(v), 5) for v in r.result.split()] == [round(v, 5) for v in expected]


def test_random_arguments_never_reach_an_internal_error():
    """Arbitrary words for a sample of operators: a Tcl error or a result, never a crash."""
    s = TclSession()
    s.eval("set t [torch::ones {2 3}]; set i [torch::tensor_create {0 1} int64]")
    words = ["$t", "$i", "0", "1", "-1", "2.5", "{1 2}", "none", "float64", "cpu", "abc", "-dim", "-self", "{}"]
    rng = random.Random(11)
    names = sorted(aten.names())
    for name in rng.sample(names, 150):
        for _ in range(4):
            args = " ".join(rng.choice(words) for _ in range(rng.randint(0, 4)))
            r = s.eval(f"torch::aten::{name} {args}")
            if r.error is not None:
                assert r.error.message and "internal error" not in r.error.message, (name, args, r.error.message)
