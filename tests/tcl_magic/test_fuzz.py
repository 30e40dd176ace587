"""No user input reaches a Python exception: a fixed-seed run of random argument lists over
every command (benchmarks/fuzz.py runs a larger one), and the cases once found by hand."""
import pytest
from IPython.core.error import UsageError

from benchmarks.fuzz import fuzz
from tcl_magic.magic import parse_ranks


def test_random_argument_lists_over_every_command_give_only_tcl_errors():
    assert fuzz(seed=20261126, calls=3000) == []


@pytest.mark.parametrize("source, message", [
    ("torch::zeros {9223372036854775808}", "Invalid shape parameter. Must be a list of integers from "
     "-9223372036854775808 to 9223372036854775807."),
    ("torch::tensor_create -data {300 -1} -dtype uint8", "Invalid data parameter. The value 300 cannot be "
     "converted to uint8 without overflow."),
    ("torch::distributed_init 0 1 127.0.0.1 29500 gloo inf", "Invalid timeout parameter. Must be seconds, more than 0 and at most"),
    ("torch::distributed_init 0 1 127.0.0.1 29500 gloo 1e308", "Invalid timeout parameter. Must be seconds, more than 0 and at most"),
    ("torch::distributed_init 0 100000000000 127.0.0.1", "Invalid world_size parameter. Must be at most"),
])
def test_values_out_of_range_are_tcl_errors(tcl_error, source, message):
    assert tcl_error(source).startswith(message)


def test_a_number_past_64_bits_is_a_float_where_a_number_is_taken(tcl):
    assert tcl("torch::tensor_to_list [torch::tensor_add [torch::ones {1}] 1000000000000000000000000000000]") \
        == "1.0000000150474662e+30"  # float32: 1e30 rounded to the nearest float32


@pytest.mark.parametrize("line, value, message", [
    ("-i big", 2 ** 63, "does not fit a 64-bit integer tensor"),
    ("--timeout nan", None, "--timeout nan is not a number of seconds"),
    ("--timeout -1", None, "--timeout -1.0 is not a number of seconds"),
])
def test_magic_options_out_of_range_are_usage_errors(ip, cell, line, value, message):
    ip.user_ns["big"] = value
    with pytest.raises(UsageError, match=message):
        cell("set x 1", line)


def test_a_rank_range_that_goes_down_says_so():
    with pytest.raises(UsageError, match="--ranks '3-1': the range 3-1 goes down; write it as 1-3"):
        parse_ranks("3-1", 4)
