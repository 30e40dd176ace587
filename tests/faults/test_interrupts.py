"""Interrupting a cell, or a cell past its --timeout, frees ranks blocked in a collective;
each rank says what it was doing, and the next cell's collectives work."""
import contextlib
import os
import signal
import threading
import time

import pytest

from launcher import LaunchError
from recovery import assert_collectives_work, wait_for
from tcl_magic.cell_values import TclCellError

# ranks 0-2 wait in a barrier for rank 3, which spins in a pure Tcl loop
SPIN_CELL = "if {[torch::get_rank] == 3} {while 1 {incr i}} else {torch::distributed_barrier}"
WAITER = ("interrupted while waiting in distributed_barrier of the world (ranks 0-3) for rank 3 (running Tcl); "
          "the session is intact")
SPINNER = "interrupted while running Tcl; the session is intact"


def errors_by_rank(failure) -> dict[int, str]:
    """rank -> its error message, from the cell's grouped error lines."""
    errors = {}
    for line in failure.value.details:
        label, _, rest = line.partition("] ")
        if rest.startswith("error: "):
            for part in label.removeprefix("[").split(" ", 1)[1].split(","):
                first, _, last = part.partition("-")
                for rank in range(int(first), int(last or first) + 1):
                    errors[rank] = rest.removeprefix("error: ")
    return errors


def when_waiting(board, then):
    """Once the board shows ranks 0-2 waiting in the barrier and rank 3 running."""
    def watch():
        while [s.phase for s in board.states().values()] != ["wait", "wait", "wait", "run"]:
            time.sleep(0.02)
        then()
    threading.Thread(target=watch, daemon=True).start()


def test_an_interrupt_frees_ranks_waiting_for_a_spinning_rank(cell, magics, on_faults, tmp_path):
    when_waiting(magics.supervisor.board, lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(TclCellError) as failure:
        cell(SPIN_CELL, "--no-table")
    assert errors_by_rank(failure) == {0: WAITER, 1: WAITER, 2: WAITER, 3: SPINNER}
    assert_collectives_work(cell)


def test_a_cell_past_its_timeout_is_interrupted_and_says_so(cell, on_faults, tmp_path, capsys):
    with pytest.raises(TclCellError) as failure:
        cell(SPIN_CELL, "--no-table --timeout 3")
    errors = errors_by_rank(failure)
    assert errors[3] == SPINNER
    for rank in range(3):  # the waiters name rank 3 (and, on a slow machine, a peer not yet waiting)
        assert errors[rank].startswith("interrupted while waiting in distributed_barrier of the world (ranks 0-3) for ")
        assert "3 (running Tcl)" in errors[rank]
    assert "[cluster] the cell ran past --timeout 3 s: every rank was interrupted" in capsys.readouterr().err
    assert_collectives_work(cell)


def test_the_live_view_shows_who_waits_for_whom(cell, on_faults, tmp_path, capsys):
    """While a cell runs past --stream-after, the terminal shows each rank's activity."""
    with pytest.raises(TclCellError):
        cell(SPIN_CELL, "--no-table --timeout 4 --stream-after 0.5")
    err = capsys.readouterr().err
    assert "still running:" in err
    assert "  rank 3: running Tcl" in err
    assert any(line.startswith("  rank 0: waiting in distributed_barrier of the world (ranks 0-3) for ")
               and line.endswith("; not arrived: rank 3 (running Tcl)") for line in err.splitlines())


def test_a_rank_still_busy_when_the_interrupt_comes_begins_the_cell_interrupted(cell, magics, on_faults):
    """Rank 3 still runs earlier work when the cell is interrupted: the signal cannot stop a
    cell that has not begun there, so the cell begins interrupted instead of spinning until
    the front end gives up on it."""
    earlier = on_faults.run_async(time.sleep, 5, on_ranks=[3])
    board = magics.supervisor.board
    wait_for_waiters = threading.Thread(daemon=True, target=lambda: (
        wait_for(lambda: all(s.phase == "wait" for s in board.states([0, 1, 2]).values()), "ranks 0-2 waiting"),
        os.kill(os.getpid(), signal.SIGINT)))
    wait_for_waiters.start()
    with pytest.raises(TclCellError) as failure:
        cell(SPIN_CELL, "--no-table")
    with contextlib.suppress(LaunchError):  # the signal may have ended the earlier work
        earlier.get(30)
    errors = errors_by_rank(failure)
    assert errors[3] == SPINNER
    for rank in range(3):
        assert errors[rank] == ("interrupted while waiting in distributed_barrier of the world (ranks 0-3) for "
                                "rank 3 (has not started the cell); the session is intact")
    assert_collectives_work(cell)
