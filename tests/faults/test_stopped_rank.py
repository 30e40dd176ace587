"""A rank whose process is stopped (SIGSTOP) while the others wait for it: the live view
says it is stopped, not what its last state on the board claimed, and once it runs again
the cell ends as any interrupted one and the next cell's collectives work."""
import os
import signal
import threading

import pytest

from recovery import assert_collectives_work, wait_for
from tcl_magic import display
from tcl_magic.comm.states import RankState
from tcl_magic.cell_values import TclCellError

SPIN_CELL = "if {[torch::get_rank] == 3} {while 1 {incr i}} else {torch::distributed_barrier}"


def test_a_stopped_rank_is_shown_stopped_and_the_cell_ends_once_it_runs_again(cell, magics, on_faults, capsys):
    board, pid = magics.supervisor.board, on_faults.rank_pids()[3]

    def stop_then_continue():
        wait_for(lambda: [s.phase for s in board.states().values()] == ["wait", "wait", "wait", "run"],
                 "ranks 0-2 waiting for rank 3")
        os.kill(pid, signal.SIGSTOP)
        # past --timeout 2 the front end interrupts every rank; rank 3 cannot hear it yet
        wait_for(lambda: all(s.phase == "done" for s in board.states([0, 1, 2]).values()),
                 "ranks 0-2 interrupted at the cell's time limit")
        os.kill(pid, signal.SIGCONT)

    threading.Thread(target=stop_then_continue, daemon=True).start()
    with pytest.raises(TclCellError) as failure:
        cell(SPIN_CELL, "--no-table --timeout 2 --stream-after 0.3")
    err = capsys.readouterr().err
    assert "  rank 3: stopped (SIGSTOP: it does not run until SIGCONT); it was running Tcl" in err
    assert "rank 3: finished the cell" not in err
    assert "[rank 3] error: interrupted while running Tcl; the session is intact" in failure.value.details
    assert_collectives_work(cell)


def test_the_live_view_words_a_rank_by_the_running_cell_not_by_its_last_state():
    states = {0: RankState(0, "c7", "wait", 100.0, "distributed_barrier", "world", "the world (ranks 0,1)",
                           (0, 1), 1),
              1: RankState(1, "c6", "done", 90.0, end="ok")}  # idle since the last cell (stopped before this one)
    assert display.activity(states, [0, 1], "c7", now=101.5) == [
        "rank 0: waiting in distributed_barrier of the world (ranks 0,1) for 1.5 s; not arrived: rank 1 "
        "(has not started the cell)",
        "rank 1: has not started the cell"]
    assert display.activity(states, [1], "c7", stopped=[1]) == [
        "rank 1: stopped (SIGSTOP: it does not run until SIGCONT); it had not started the cell"]
