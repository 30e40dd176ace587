"""A process group that really breaks (a transfer that times out inside gloo) is rebuilt
after the cell on the same engines: every rank keeps its variables and tensors."""
import pytest

from tcl_magic.magic import TclCellError


def test_a_transfer_that_times_out_breaks_the_group_which_heals_keeping_variables(ip, magics, cell, capsys):
    ip.run_line_magic("torchtcl", "cluster start -n 2 --backend gloo --timeout 3")
    cluster = magics.cluster
    try:
        cell("set kept [torch::full {2} [torch::get_rank]]", "--no-table")
        with pytest.raises(TclCellError) as failure:  # rank 1 never sends: rank 0's receive times out in gloo
            cell("if {[torch::get_rank] == 0} {torch::distributed_recv {2} 1}", "--no-table")
        assert str(failure.value).startswith("Tcl error on rank 0: the process group broke during distributed_recv (")
        assert "[cluster] the process group broke on rank 0: it was rebuilt in" in capsys.readouterr().err
        assert cluster.generation == 1
        assert cell("torch::tensor_to_list [torch::distributed_all_reduce $kept sum]", "--no-table") == \
            {0: "1.0 1.0", 1: "1.0 1.0"}
    finally:
        ip.run_line_magic("torchtcl", "cluster stop")
