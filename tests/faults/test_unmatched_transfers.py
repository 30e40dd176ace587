"""Point-to-point transfers agree first, like collectives: a send or receive that its peer
never matches is named at once on the rank that waits, crossing blocking sends are a
deadlock named as such, an interrupt frees a rank blocked in a receive, and nothing of it
reaches the process group (no rebuild, the next cell's collectives work)."""
import os
import signal
import threading
import time

import pytest

from recovery import assert_collectives_work
from tcl_magic.cell_values import TclCellError


def test_a_receive_that_no_rank_sends_to_is_named_at_once(cell, on_faults, capsys):
    generation = on_faults.generation
    with pytest.raises(TclCellError) as failure:
        cell("if {[torch::get_rank] == 1} {torch::distributed_recv {4} 0}", "--no-table")
    assert str(failure.value) == ("Tcl error on rank 1: not run: rank 0 finished the cell without calling "
                                  "distributed_send")
    assert "rebuilt" not in capsys.readouterr().err
    assert on_faults.generation == generation
    assert_collectives_work(cell)


def test_a_send_whose_receiver_fails_first_is_named_with_its_error(cell, on_faults):
    with pytest.raises(TclCellError) as failure:
        cell("if {[torch::get_rank] == 2} {error boom}\n"
             "if {[torch::get_rank] == 0} {torch::distributed_send [torch::ones {2}] 2 7}", "--no-table")
    assert "[rank 0] error: not run: rank 2 left the cell with an error before calling distributed_recv " \
           "(its error: boom)" in failure.value.details
    assert_collectives_work(cell)


def test_blocking_sends_to_each_other_are_a_deadlock_named_as_such(cell, on_faults):
    with pytest.raises(TclCellError) as failure:
        cell("set r [torch::get_rank]\n"
             "if {$r < 2} {torch::distributed_send [torch::ones {2}] [expr {1 - $r}]}\n"
             "if {$r < 2} {torch::distributed_recv {2} [expr {1 - $r}]}", "--no-table --ranks 0,1")
    message = str(failure.value)
    assert message.startswith("Tcl error on ranks 0,1: deadlock: ")
    assert "rank 0: waiting in distributed_send of the transfer from rank 0 to rank 1 (tag 0)" in message
    assert "rank 1: waiting in distributed_send of the transfer from rank 1 to rank 0 (tag 0)" in message
    assert_collectives_work(cell)


def test_an_interrupt_frees_a_rank_blocked_in_a_receive(cell, magics, on_faults):
    board = magics.supervisor.board

    def interrupt_when_waiting():  # rank 1 waits in the receive, every other rank runs its loop
        while [(s.phase, s.cell) for s in board.states().values()] != \
                [("run" if r != 1 else "wait", magics.supervisor.cell) for r in range(4)]:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_when_waiting, daemon=True).start()
    with pytest.raises(TclCellError) as failure:
        cell("if {[torch::get_rank] == 1} {torch::distributed_recv {4} 0} else {while 1 {incr i}}", "--no-table")
    assert "[rank 1] error: interrupted while waiting in distributed_recv of the transfer from rank 0 to rank 1 " \
           "(tag 0) for rank 0 (running Tcl); the session is intact" in failure.value.details
    assert_collectives_work(cell)
