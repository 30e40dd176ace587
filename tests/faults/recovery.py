"""What every fault test checks afterwards (the cluster still computes right), and how they
wait for a fault to have happened: on a condition, never for a fixed time."""
import time
from typing import Callable


SUM_CELL = "torch::tensor_to_list [torch::distributed_all_reduce [torch::full {2} [expr {[torch::get_rank] + 1}]] sum]"


def assert_collectives_work(cell):
    """The next cell's collective gives the right value on every rank, with no restart."""
    assert cell(SUM_CELL, "--no-table") == {0: "10.0 10.0", 1: "10.0 10.0", 2: "10.0 10.0", 3: "10.0 10.0"}


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    """Return once `condition()` holds, looking every few milliseconds; fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"still not {what} after {timeout_s} s"
        time.sleep(0.005)


def waiting_in_a_round(magics, ranks) -> Callable[[], bool]:
    """A condition: the board says that every one of `ranks` waits in an agreement round."""
    return lambda: all(state.phase == "wait" for state in magics.supervisor.board.states(ranks).values())
