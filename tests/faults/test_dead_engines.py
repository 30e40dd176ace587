"""An engine killed with SIGKILL, between cells or while the others wait for it: the death is
named, the other ranks' output is kept, and the cluster heals (a fresh engine for the dead
rank, a new process group, every other rank's variables kept)."""
import os
import signal
import threading

import pytest

from recovery import assert_collectives_work, wait_for, waiting_in_a_round
from tcl_magic.cell_values import TclCellError


def kill_rank(cluster, rank):
    """SIGKILL the rank's engine; return its pid once the launcher knows the rank dead."""
    pid = cluster.rank_pids()[rank]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: rank in cluster.dead_ranks(), f"rank {rank} seen dead")
    return pid


def test_an_engine_killed_between_cells_is_replaced_before_the_next_cell(ip, cell, on_faults, capsys):
    cell("set kept [torch::get_rank]", "--no-table")
    pid = kill_rank(on_faults, 2)
    assert_collectives_work(cell)
    err = capsys.readouterr().err
    assert f"[cluster] rank 2 died (its engine process {pid} ended): a fresh engine took its place" in err
    assert "the variables and tensors of rank 2 are lost, every other rank kept its own" in err
    assert cell("info exists kept", "--no-table") == {0: "1", 1: "1", 2: "0", 3: "1"}
    ip.run_line_magic("torchtcl", "cluster status")
    status = capsys.readouterr().out.splitlines()
    assert status[3].startswith("rank 2: host ") and ", alive, fresh engine since " in status[3]
    assert "picklable" not in err


def test_an_engine_killed_while_the_others_wait_is_named_and_their_output_kept(magics, cell, on_faults, tmp_path,
                                                                                capsys):
    def kill_when_waiting():
        wait_for(lambda: len(list(tmp_path.glob("started*"))) == 4, "every rank in the cell")
        wait_for(waiting_in_a_round(magics, [0, 2, 3]), "ranks 0,2,3 waiting in the barrier")
        kill_rank(on_faults, 1)
    threading.Thread(target=kill_when_waiting, daemon=True).start()
    with pytest.raises(TclCellError) as failure:
        cell(f'puts "before [torch::get_rank]"\nclose [open "{tmp_path}/started[torch::get_rank]" w]\n'
             "if {[torch::get_rank] == 1} {after 60000}\ntorch::distributed_barrier", "--no-table")
    lines = failure.value.details
    text = "\n".join(lines)
    assert any(line.startswith("[rank 1] error: rank 1 died: its engine process ") and
               line.endswith(" ended while running Tcl") for line in lines)
    assert any(line.startswith("[ranks 0,2,3] error: not run: rank 1 died (its engine process ") for line in lines)
    assert "picklable" not in text and "Traceback" not in text
    captured = capsys.readouterr()
    assert [f"[rank {r}] before {r}" for r in (0, 2, 3)] == captured.out.splitlines()[:3]
    assert "[cluster] rank 1 died" in captured.err
    assert_collectives_work(cell)


def test_reset_with_a_dead_engine_says_so_without_a_traceback_and_the_next_cell_heals(ip, cell, on_faults):
    from IPython.core.error import UsageError

    kill_rank(on_faults, 1)
    with pytest.raises(UsageError) as failure:
        ip.run_line_magic("torchtcl", "reset")
    assert "Traceback" not in str(failure.value)
    assert_collectives_work(cell)
