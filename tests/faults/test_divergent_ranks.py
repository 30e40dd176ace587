"""A mistake on one rank, on a real 4-rank gloo cluster: every rank hears at once which rank
did what, and the next cell's collectives work without a restart."""
import pytest

from recovery import assert_collectives_work
from tcl_magic.cell_values import TclCellError


def failure_lines(failure) -> list[str]:
    return failure.value.details  # as drawn, but not broken into lines of 100 characters


def test_a_rank_that_errors_before_a_collective_is_named_on_every_rank(cell, on_faults):
    with pytest.raises(TclCellError) as failure:
        cell("set t [torch::ones {4}]\nif {[torch::get_rank] == 2} {error boom}\ntorch::distributed_all_reduce $t sum",
             "--no-table")
    assert str(failure.value).startswith("Tcl errors on ranks 0-3 (2 different): boom")
    lines = failure_lines(failure)
    assert "[ranks 0,1,3] error: not run: rank 2 left the cell with an error before calling " \
           "distributed_all_reduce (its error: boom)" in lines
    assert "[rank 2] error: boom" in lines
    assert_collectives_work(cell)


def test_a_rank_that_skips_a_collective_is_named(cell, on_faults):
    with pytest.raises(TclCellError) as failure:
        cell("if {[torch::get_rank] != 3} {torch::distributed_barrier}", "--no-table")
    assert str(failure.value) == ("Tcl error on ranks 0-2: not run: rank 3 finished the cell without calling "
                                  "distributed_barrier")
    assert_collectives_work(cell)


def test_a_rank_that_exits_before_a_collective_is_named(cell, on_faults):
    with pytest.raises(TclCellError) as failure:
        cell("if {[torch::get_rank] == 1} {exit 3}\ntorch::distributed_broadcast [torch::ones {2}] 0", "--no-table")
    assert "[ranks 0,2,3] error: not run: rank 1 called exit 3 before calling distributed_broadcast" in \
        failure_lines(failure)
    assert_collectives_work(cell)


def test_a_caught_failure_lets_the_cell_go_on_and_later_rounds_still_pair_up(cell, on_faults):
    """A failed round leaves no trace: the ranks that caught its error meet again in the next
    collective of the same cell."""
    values = cell("set t [torch::full {1} [expr {[torch::get_rank] + 1}]]\n"
                  "set arg [expr {[torch::get_rank] == 2 ? {nosuch} : $t}]\n"
                  "set caught [catch {torch::distributed_all_reduce $arg sum} why]\n"
                  "list $caught $why [torch::tensor_to_list [torch::distributed_all_reduce $t sum]]", "--no-table")
    peers = "1 {not run: rank 2 of the world (ranks 0-3) reported an error for this call (see that rank's output)} 10.0"
    assert values == {0: peers, 1: peers,
                      2: "1 {Invalid tensor handle: nosuch (Invalid tensor name for tensor: Tensor not found)} 10.0",
                      3: peers}


def test_different_collectives_on_the_same_group_list_each_ranks_call(cell, on_faults):
    with pytest.raises(TclCellError) as failure:
        cell("set t [torch::ones {2}]\nif {[torch::get_rank] < 2} {torch::distributed_all_reduce $t sum} "
             "else {torch::distributed_broadcast $t 0}", "--no-table")
    assert "rank 0: all_reduce op=sum, rank 1: all_reduce op=sum, rank 2: broadcast root=0, " \
           "rank 3: broadcast root=0" in str(failure.value)
    assert_collectives_work(cell)


def test_collectives_called_in_different_orders_are_a_deadlock_named_as_such(cell, on_faults):
    cell("torch::distributed_new_group pair {2 3}", "--no-table")
    with pytest.raises(TclCellError) as failure:
        cell("if {[torch::get_rank] == 3} {torch::distributed_all_reduce [torch::ones {2}] sum pair}\n"
             "torch::distributed_barrier", "--no-table")
    assert str(failure.value) == (
        'Tcl error on ranks 0-3: deadlock: ranks 0-2: waiting in distributed_barrier of the world (ranks 0-3); '
        'rank 3: waiting in distributed_all_reduce of group "pair" (ranks 2,3). The ranks called collectives '
        "in different orders, so none of them can complete; nothing was sent")
    assert_collectives_work(cell)
    assert cell("torch::tensor_to_list [torch::distributed_all_reduce [torch::ones {1}] sum pair]", "--no-table") \
        == {0: "", 1: "", 2: "2.0", 3: "2.0"}


def test_a_non_member_that_finishes_early_does_not_disturb_the_group(cell, on_faults):
    cell("torch::distributed_new_group low {0 1}", "--no-table")
    values = cell("if {[torch::get_rank] < 2} {\n"
                  "    after 300\n"
                  "    torch::tensor_to_list [torch::distributed_all_reduce [torch::full {1} [torch::get_rank]] "
                  "sum low]\n"
                  "} else {string cat done}", "--no-table")
    assert values == {0: "1.0", 1: "1.0", 2: "done", 3: "done"}
