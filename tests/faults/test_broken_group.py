"""A process group that really breaks (a collective that times out inside gloo, its peer
stopped in the middle of moving data) is rebuilt after the cell on the same engines: every
rank keeps its variables and tensors. (A transfer or collective that a peer never joins
does not get that far: the agreement round names it first, and the group stays whole.)"""
import os
import signal
import threading
import time

import pytest

from tcl_magic.cell_values import TclCellError


def test_a_collective_that_times_out_breaks_the_group_which_heals_keeping_variables(ip, magics, cell, capsys):
    ip.run_line_magic("torchtcl", "cluster start -n 2 --backend gloo --timeout 3")
    cluster = magics.cluster
    try:
        cell("set kept [torch::full {2} [torch::get_rank]]; set big [torch::ones {50000000}]; return", "--no-table")
        board, pid = magics.supervisor.board, cluster.rank_pids()[1]

        def stop_while_moving_data():  # rank 1 stops in the middle of the all_reduce's data phase
            while board.states([1])[1].phase != "data":
                time.sleep(0.002)
            os.kill(pid, signal.SIGSTOP)
            time.sleep(4.5)  # rank 0's all_reduce times out inside gloo after 3 s
            os.kill(pid, signal.SIGCONT)

        threading.Thread(target=stop_while_moving_data, daemon=True).start()
        with pytest.raises(TclCellError) as failure:
            cell("torch::distributed_all_reduce $big sum; return", "--no-table")
        assert "the process group broke during distributed_all_reduce (" in str(failure.value)
        assert "[cluster] the process group broke on rank" in capsys.readouterr().err
        assert cluster.generation == 1
        assert cell("torch::tensor_to_list [torch::distributed_all_reduce $kept sum]", "--no-table") == \
            {0: "1.0 1.0", 1: "1.0 1.0"}
    finally:
        ip.run_line_magic("torchtcl", "cluster stop")
