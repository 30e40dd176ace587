"""Every error of the command contract, pinned, and the session survives each one. The
contract's text starts each message; a mistake in a command's arguments then shows the
command's usage in both syntaxes, and a handle that names nothing the parameter it was given
as (the original's words)."""
import pytest

from tcl_magic import commands

WRONG_ARITY = "Wrong number of arguments for positional syntax. Expected: torch::"


@pytest.fixture
def t(tcl):
    return tcl("set t [torch::tensor_create -data {1.0 2.0 3.0 4.0} -shape {2 2} -dtype float32]")


@pytest.mark.parametrize("source, message", [
    ("torch::distributed_scatter",
     "Wrong number of arguments for positional syntax. Expected: torch::distributed_scatter tensor ?src? ?group?"),
    ("torch::distributed_scatter $t 0 g extra",
     "Wrong number of arguments for positional syntax. Expected: torch::distributed_scatter tensor ?src? ?group?"),
    ("torch::tensor_add $t", WRONG_ARITY + "tensor_add a b ?alpha?"),
    ("torch::distributed_scatter -tensor $t -src", "Missing value for parameter -src"),
    ("torch::distributed_scatter -tensor", "Missing value for parameter -tensor"),
    ("torch::distributed_scatter -tensor $t -source 1",
     "Unknown parameter: -source. Did you mean -src? Valid parameters: -tensor -src -group"),
    ("torch::distributed_scatter $t abc", 'Invalid src parameter. Must be an integer. Got: "abc"'),
    ("torch::distributed_scatter $t 1.5", 'Invalid src parameter. Must be an integer. Got: "1.5"'),
    ("torch::distributed_scatter -tensor $t -src abc", 'Invalid -src parameter. Must be an integer. Got: "abc"'),
    ("torch::distributed_scatter -src 0", "Required parameter missing: -tensor"),
    ("torch::distributed_scatter -group g", "Required parameter missing: -tensor"),
    ("torch::tensor_add -a $t", "Required parameters missing: -b"),
    ("torch::distributed_new_group -ranks {0}", "Required parameters missing: -name"),
    ("torch::distributed_scatter nonexistent_tensor 0", "Invalid tensor handle: nonexistent_tensor"),
    ("torch::distributed_scatter -tensor nope", "Invalid tensor handle: nope"),
    ("torch::tensor_shape tensor999", "Invalid tensor handle: tensor999"),
    ("torch::distributed_scatter $t -1", "invalid src parameter: -1 (a rank is >= 0)"),
    ("torch::distributed_scatter -tensor $t -src -3", "invalid src parameter: -3 (a rank is >= 0)"),
    ("torch::get_rank 1", 'wrong # args: should be "torch::get_rank"'),
    ("torch::getWorldSize x", 'wrong # args: should be "torch::getWorldSize"'),
    ("torch::is_distributed 0", 'wrong # args: should be "torch::is_distributed"'),
])
def test_contract_error_messages(t, tcl, tcl_error, source, message):
    assert tcl_error(source).split("\n")[0].startswith(message)
    # the session and its handles keep working after every mistake
    assert tcl("torch::tensor_to_list $t") == "1.0 2.0 3.0 4.0"


def test_unknown_flag_suggests_the_nearest_and_lists_the_valid_ones(t, tcl_error):
    assert tcl_error("torch::distributed_scatter -tensor $t -sr 1").split("\n")[0] == (
        "Unknown parameter: -sr. Did you mean -src? Valid parameters: -tensor -src -group")
    assert tcl_error("torch::tensor_create -data {1} -requires_gard 1").startswith(
        "Unknown parameter: -requires_gard. Did you mean -requiresGrad?")
    # a parameter whose own name has capitals (torch's LU_data) is suggested too
    assert tcl_error("torch::lu_solve -B $t -LU_dat $t").startswith("Unknown parameter: -LU_dat. Did you mean -luData?")


def test_errors_are_catchable_with_their_message_and_error_code(t, tcl):
    assert tcl("catch {torch::distributed_scatter bad 0} err; set err") == (
        "Invalid tensor handle: bad (Invalid tensor name for tensor: Tensor not found)")
    assert tcl("catch {torch::distributed_scatter bad 0} err opts; dict get $opts -errorcode") == "TORCH HANDLE"
    info = tcl("proc load {} {torch::distributed_scatter bad}; catch load err; set ::errorInfo")
    assert info.startswith("Invalid tensor handle: bad (Invalid tensor name for tensor: Tensor not found)\n"
                           "    while executing\n\"torch::distributed_scatter bad\"")
    assert '(procedure "load" line 1)' in info


def test_every_command_has_its_camel_case_twin_in_the_torch_namespace(tcl):
    for spec in commands.TABLE.specs:
        for name in spec.names:
            assert tcl(f"info commands torch::{name}") == f"::torch::{name}"
    assert tcl("info commands torch::distributedScatter") == "::torch::distributedScatter"
    assert tcl("info commands torch::isDistributed") == "::torch::isDistributed"
    assert tcl("info commands torch::tensorCreate") == "::torch::tensorCreate"


@pytest.mark.parametrize("source, message", [
    ("torch::tensor_create {1 2} {2} float99", 'Invalid dtype parameter. Must be one of: float32 float64 '
     'float16 bfloat16 int32 int64 int8 uint8 bool Got: "float99"'),
    ("torch::tensor_create {1 x}", 'Invalid data parameter. Must be a list of numbers. Got: "1 x"'),
    ("torch::ones {2 a}", 'Invalid shape parameter. Must be a list of integers. Got: "2 a"'),
    ("torch::ones {2 -1}", 'Invalid shape parameter. Must be a list of non-negative integers. Got: "2 -1"'),
    ("torch::zeros {2} float32 cuda", 'Invalid device parameter. CUDA is not available on this rank; use cpu '
     'Got: "cuda"'),
    ("torch::tensor_add $t qq", "Invalid tensor handle: qq (Invalid tensor name for b: Tensor not found; expected "
     "a tensor handle or a number)"),
    ("torch::tensor_item $t", "torch::tensor_item needs a tensor of one element, this one has 4 (shape [2, 2])"),
    ("torch::tensor_add $t [torch::ones {3}]", "torch::tensor_add: The size of tensor a (2) must match the size "
     "of tensor b (3) at non-singleton dimension 1"),
    ("torch::tensor_reshape $t {3 3}", "torch::tensor_reshape: shape '[3, 3]' is invalid for input of size 4"),
    ("torch::distributed_all_reduce $t median", 'Invalid operation parameter. Must be one of: sum mean max min. '
     'Got: "median"'),
    ("torch::distributed_gather -tensor $t -mode glue", 'Invalid -mode parameter. Must be one of: stack cat. '
     'Got: "glue"'),
    ("torch::tensor_to $t tpu", 'Invalid device parameter. Must be a device such as cpu, cuda or cuda:0 Got: "tpu"'),
    ("torch::tensor_free nope", "Invalid tensor handle: nope"),
])
def test_bad_values_name_the_parameter_and_the_value(t, tcl, tcl_error, source, message):
    assert tcl_error(source).startswith(message)
    assert tcl("torch::tensor_shape $t") == "2 2"


@pytest.mark.parametrize("source, first_line", [
    ("torch::tensor_add $t", WRONG_ARITY + "tensor_add a b ?alpha? (wrong # args: 1 given)"),
    ("torch::tensor_add $t $t 1 2", WRONG_ARITY + "tensor_add a b ?alpha? (wrong # args: 4 given)"),
    ("torch::tensor_add -a $t -b", "Missing value for parameter -b. Named parameters must come in pairs: -flag value."),
    ("torch::tensor_add -a $t -c $t", "Unknown parameter: -c Valid parameters: -a -b -alpha"),
    ("torch::tensor_add -a $t", "Required parameters missing: -b"),
])
def test_argument_mistakes_show_the_usage(t, tcl_error, source, first_line):
    assert tcl_error(source).split("\n") == [first_line, "Usage: torch::tensor_add a b ?alpha?",
                                             "       torch::tensor_add -a TENSOR -b TENSOR|NUMBER ?-alpha NUMBER?"]


@pytest.mark.parametrize("source, message", [
    ("torch::tensor_add nope $t", "Invalid tensor handle: nope (Invalid tensor name for a: Tensor not found)"),
    ("torch::tensor_add -a $t -b nope", "Invalid tensor handle: nope (Invalid tensor name for -b: Tensor not found; "
     "expected a tensor handle or a number)"),
    ("torch::tensor_shape nope", "Invalid tensor handle: nope (Invalid tensor name for tensor: Tensor not found)"),
])
def test_a_missing_handle_names_its_parameter(t, tcl_error, source, message):
    assert tcl_error(source) == message


@pytest.mark.parametrize("source, message", [
    ("torch::layer_forward nope $t", "Invalid module handle: nope (Invalid layer name: Layer not found)"),
    ("torch::freeze_model -model nope", "Invalid module handle: nope (Invalid model name: Model not found)"),
    ("torch::optimizer_step nope", "Invalid optimizer handle: nope (Invalid optimizer name: Optimizer not found)"),
    ("torch::sequential [list nope]", "Invalid module handle: nope (Invalid module name in modules: Module not found)"),
])
def test_a_missing_object_is_named_by_its_parameter(t, tcl_error, source, message):
    assert tcl_error(source) == message
