"""The tensor commands around the distributed family, in both syntaxes and both names."""
import pytest


def test_create_in_every_syntax(tcl):
    assert tcl("torch::tensor_to_list [torch::tensor_create {1 2 3 4} {2 2} float64]") == "1.0 2.0 3.0 4.0"
    assert tcl("torch::tensor_dtype [torch::tensor_create {1 2 3} int32]") == "Int32"
    assert tcl("torch::tensor_dtype [torch::tensorCreate -values {1 2} -dtype int64]") == "Int64"
    assert tcl("torch::tensor_shape [torch::tensor_create -data {1 2 3 4 5 6} -shape {3 -1}]") == "3 2"
    assert tcl("torch::tensor_shape [torch::tensor_create {{1 2 3} {4 5 6}}]") == "2 3"
    assert tcl("torch::tensor_dtype [torch::tensor_create {1 2}]") == "Float32"
    assert tcl("torch::tensor_to_list [torch::tensor_create {true false 1} bool]") == "1 0 1"
    assert tcl("torch::tensor_item [torch::tensor_create 7 {} int64]") == "7"


@pytest.mark.parametrize("source, shape, values", [
    ("torch::ones {2 2}", "2 2", "1.0 1.0 1.0 1.0"),
    ("torch::zeros -shape {3} -dtype int32", "3", "0 0 0"),
    ("torch::full {2} 2.5", "2", "2.5 2.5"),
    ("torch::full -shape {1 2} -value 3 -dtype int64", "1 2", "3 3"),
    ("torch::arange 4", "4", "0 1 2 3"),
    ("torch::arange 2 8 3", "2", "2 5"),
    ("torch::arange -end 3 -dtype float32", "3", "0.0 1.0 2.0"),
])
def test_factories(tcl, source, shape, values):
    tcl(f"set x [{source}]")
    assert tcl("torch::tensor_shape $x") == shape
    assert tcl("torch::tensor_to_list $x") == values


def test_random_and_empty_factories_have_the_asked_shape_and_dtype(tcl):
    assert tcl("torch::tensor_shape [torch::randn {3 4}]") == "3 4"
    assert tcl("torch::tensor_dtype [torch::rand -shape {2} -dtype float64]") == "Float64"
    assert tcl("torch::tensor_numel [torch::empty {5 2}]") == "10"
    assert tcl("torch::tensor_device [torch::zeros {1}]") == "cpu"
    assert tcl("torch::tensor_print [torch::ones -shape {2} -requiresGrad 1]").endswith("requires_grad=True)")


def test_arithmetic_with_handles_and_numbers(tcl):
    tcl("set a [torch::tensor_create {1 2 3 4}]; set b [torch::tensor_create {4 3 2 1}]")
    assert tcl("torch::tensor_to_list [torch::tensor_add $a $b]") == "5.0 5.0 5.0 5.0"
    assert tcl("torch::tensor_to_list [torch::tensorSub -a $a -b 1]") == "0.0 1.0 2.0 3.0"
    assert tcl("torch::tensor_to_list [torch::tensor_mul $a 2.0]") == "2.0 4.0 6.0 8.0"
    assert tcl("torch::tensor_to_list [torch::tensor_div $a $b]") == "0.25 0.6666666865348816 1.5 4.0"
    assert tcl("torch::tensor_to_list $a") == "1.0 2.0 3.0 4.0"  # inputs are never modified


def test_reductions_reshape_cat_stack_to(tcl):
    tcl("set m [torch::tensor_create {1 2 3 4 5 6} {2 3}]")
    assert tcl("torch::tensor_item [torch::tensor_sum $m]") == "21.000000"
    assert tcl("torch::tensor_to_list [torch::tensor_sum $m 0]") == "5.0 7.0 9.0"
    assert tcl("torch::tensor_to_list [torch::tensor_mean -tensor $m -dim 1]") == "2.0 5.0"
    assert tcl("torch::tensor_shape [torch::tensor_reshape $m {3 -1}]") == "3 2"
    assert tcl("torch::tensor_shape [torch::tensor_cat [list $m $m]]") == "4 3"
    assert tcl("torch::tensor_shape [torch::tensor_cat [list $m $m] 1]") == "2 6"
    assert tcl("torch::tensor_shape [torch::tensorStack -tensors [list $m $m] -dim 0]") == "2 2 3"
    assert tcl("torch::tensor_dtype [torch::tensor_to $m int64]") == "Int64"
    assert tcl("torch::tensor_device [torch::tensor_to -tensor $m -device cpu]") == "cpu"


def test_inspection_and_free(tcl, tcl_error):
    tcl("set m [torch::zeros {2 3} int8]")
    assert tcl("torch::tensor_numel -input $m") == "6"
    assert tcl("torch::tensor_dtype $m") == "Int8"
    assert tcl("torch::tensor_print [torch::tensor_create {1 2}]") == "tensor([1., 2.])"
    assert tcl("torch::tensor_free $m") == ""
    assert tcl_error("torch::tensor_shape $m").startswith(f"Invalid tensor handle: {tcl('set m')} ")


def test_cuda_queries_answer_for_this_machine(tcl):
    import torch
    assert tcl("torch::cuda_is_available") == str(int(torch.cuda.is_available()))
    assert tcl("torch::cudaDeviceCount") == str(torch.cuda.device_count())
