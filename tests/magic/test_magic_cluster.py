"""%%torchtcl on a real 4-rank gloo cluster, driven with run_cell_magic."""
import os
import signal
import threading
import time

import pytest
import torch
from IPython.core.error import UsageError

from launcher import ipp_processes

from tcl_magic.cell_values import RankValues, TclCellError

SOURCE = "set t [torch::tensor_create -data [lrange {%s} 0 end] -shape {10 3} -dtype float32]\n" % " ".join(
    str(float(v)) for v in range(30))


@pytest.fixture
def on_cluster(magics, cluster_of):
    cluster = cluster_of(4)
    magics.attach(cluster)
    magics.shell.run_line_magic("torchtcl", "reset")
    return cluster


def test_scatter_shows_each_ranks_chunk_in_the_table_and_the_picture(cell, on_cluster, capsys):
    cell(SOURCE + 'set c [torch::distributed_scatter $t 0]\nputs "rows: [lindex [torch::tensor_shape $c] 0]"')
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "[ranks 0,1] rows: 3", "[ranks 2,3] rows: 2",
        "variable  rank 0                  rank 1                  rank 2                  rank 3",
        "c *       3x3 Float32 cpu 36 B    3x3 Float32 cpu 36 B    2x3 Float32 cpu 24 B    2x3 Float32 cpu 24 B",
        "t         10x3 Float32 cpu 120 B  10x3 Float32 cpu 120 B  10x3 Float32 cpu 120 B  10x3 Float32 cpu 120 B",
        "* shape differs across ranks",
        "",
        "rows of t (10x3 Float32) held in c:",
        "  rank 0  rows 0-2     ###.......",
        "  rank 1  rows 3-5     ...###....",
        "  rank 2  rows 6-7     ......##..",
        "  rank 3  rows 8-9     ........##",
    ]


def test_chunks_come_back_to_python_in_rank_order(ip, cell, on_cluster):
    value = cell(SOURCE + "set c [torch::distributed_scatter $t 0]", "-o c,t --no-table")
    source = torch.arange(30.0).reshape(10, 3)
    assert [chunk.tolist() for chunk in ip.user_ns["c"]] == [source[:3].tolist(), source[3:6].tolist(),
                                                             source[6:8].tolist(), source[8:].tolist()]
    assert all(torch.equal(t, source) for t in ip.user_ns["t"]) and len(ip.user_ns["t"]) == 4
    assert value is None  # `set c [...]` names a handle that a variable holds: nothing to show
    value = cell("torch::tensor_shape $c", "--no-table")
    assert isinstance(value, RankValues) and value == {0: "3 3", 1: "3 3", 2: "2 3", 3: "2 3"}
    assert repr(value) == "[ranks 0,1] 3 3\n[ranks 2,3] 2 3"


def test_identical_output_is_shown_once_and_values_grouped(cell, on_cluster, capsys):
    value = cell('puts "hello"\nputs stderr "[expr {[torch::get_rank] % 2}]"\nexpr {[torch::get_rank] < 2}')
    captured = capsys.readouterr()
    assert captured.out == "[ranks 0-3] hello\n"
    assert captured.err == "[ranks 0,2] 0\n[ranks 1,3] 1\n"
    assert repr(value) == "[ranks 0,1] 1\n[ranks 2,3] 0"


def test_a_python_tensor_reaches_every_rank_as_a_handle(ip, cell, on_cluster):
    ip.user_ns["weights"] = torch.tensor([1.0, 2.0])
    cell("set total [torch::distributed_all_reduce $weights sum]", "-i weights -o total --no-table")
    assert [t.tolist() for t in ip.user_ns["total"]] == [[4.0, 8.0]] * 4


def test_an_error_on_some_ranks_names_them_and_fails_the_cell(cell, on_cluster, capsys):
    with pytest.raises(TclCellError) as failure:
        cell('puts "rank [torch::get_rank] here"\nif {[torch::get_rank] >= 2} { error "rank too high" }\nexpr 1')
    assert str(failure.value) == "Tcl error on ranks 2,3: rank too high"
    headline, *trace = failure.value._render_traceback_()
    assert headline == "\x1b[0;31mTclCellError\x1b[0m: Tcl error on ranks 2,3:"  # the message is said once, below
    assert trace[:3] == ["[ranks 2,3] error: rank too high", "[ranks 2,3]     while executing",
                         '[ranks 2,3] "error "rank too high" "']
    assert all(line.startswith("[ranks 2,3] ") for line in trace)
    assert capsys.readouterr().out.splitlines()[:4] == [f"[rank {r}] rank {r} here" for r in range(4)]


def test_a_subset_refuses_collectives_that_need_absent_ranks_before_blocking(cell, on_cluster, capsys):
    cell(SOURCE + "torch::distributed_new_group evens {0 2}", "--no-table")
    with pytest.raises(TclCellError, match=r"^Tcl error on ranks 0,2: torch::distributed_new_group is collective "
                       "over the whole world"):
        cell("torch::distributed_new_group g {0 2}", "--ranks 0,2")
    with pytest.raises(TclCellError, match=r"^Tcl error on ranks 0,2: the world \(ranks 0-3\) holds ranks 1,3, "
                       "which are not running this cell"):
        cell("torch::distributed_scatter $t 0", "--ranks 0,2")
    capsys.readouterr()
    cell('set c [torch::distributed_scatter $t 2 evens]\nputs [torch::tensor_shape $c]', "--ranks 0,2 --no-table")
    assert capsys.readouterr().out == "[ranks 0,2] 5 3\n"
    with pytest.raises(UsageError, match=r"--ranks '0,7' names rank 7, but the cluster has ranks 0-3"):
        cell("set a 1", "--ranks 0,7")


def test_interrupting_the_kernel_interrupts_every_rank_and_the_next_cell_works(cell, on_cluster, tmp_path):
    def interrupt_once_running():
        while len(list(tmp_path.glob("started*"))) < 4:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_running, daemon=True).start()
    with pytest.raises(TclCellError) as failure:  # a pure Tcl loop: no torch:: call to notice the signal
        cell(f'close [open "{tmp_path}/started[torch::get_rank]" w]\nset i 0\nwhile 1 {{ incr i }}',
             "--no-table")
    assert str(failure.value) == "Tcl error on ranks 0-3: interrupted while running Tcl; the session is intact"
    assert cell("torch::distributed_all_reduce [torch::tensor_create -data {1.0} -shape {1}] sum\nexpr 7") == \
        {0: "7", 1: "7", 2: "7", 3: "7"}


def test_output_is_streamed_while_a_long_cell_runs(cell, on_cluster, tmp_path, monkeypatch):
    """The cell waits until the test has seen its first line live: it ends only if streaming works."""
    seen = tmp_path / "seen"
    written = []

    class Watcher:
        def write(self, text):
            written.append(text)
            if "[rank 1] waiting" in text:
                seen.touch()
        def flush(self):
            pass

    monkeypatch.setattr("sys.stdout", Watcher())
    cell(f'puts waiting\nwhile {{![file exists {{{seen}}}]}} {{ after 20 }}\nputs done',
         "--stream-after 0 --timeout 60 --no-table")
    text = "".join(written)
    assert text.index("[rank 1] waiting") < text.index("[ranks 0-3] waiting\n[ranks 0-3] done")


def test_status_lists_every_rank(ip, on_cluster, capsys):
    ip.run_line_magic("torchtcl", "cluster status")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "cluster: world size 4, backend gloo, engines local, collective timeout 30 s"
    assert [line.split(":")[0] for line in lines[1:]] == ["rank 0", "rank 1", "rank 2", "rank 3"]
    assert all(line.endswith("device cpu, alive") for line in lines[1:])
    with pytest.raises(UsageError, match="a cluster of 4 ranks is already running"):
        ip.run_line_magic("torchtcl", "cluster start -n 2")


def test_local_runs_in_the_kernel_while_a_cluster_is_attached(cell, on_cluster):
    assert cell("expr {[torch::get_world_size] * 10}", "--local") == "10"
    assert cell("torch::get_world_size") == {0: "4", 1: "4", 2: "4", 3: "4"}


def test_start_restart_and_stop_from_the_magic(ip, magics, cell, capsys):
    """A cluster of the magic's own: restart gives fresh ranks, stop leaves no process behind."""
    import psutil

    ip.run_line_magic("torchtcl", "cluster start -n 2 --backend gloo --timeout 20")
    cluster = magics.cluster
    try:
        assert capsys.readouterr().out.splitlines()[-3:] == [
            "cluster: world size 2, backend gloo, engines local, collective timeout 20 s",
            *cluster_lines(cluster)]
        cell("set kept [torch::get_rank]", "--no-table")
        first_pids = set(cluster.local_pids)
        first_engines = set(cluster.rank_pids().values())
        ip.run_line_magic("torchtcl", "cluster restart")
        # fresh engines and controller, forked again from the same warm parent
        assert magics.cluster is cluster and set(cluster.rank_pids().values()).isdisjoint(first_engines)
        assert set(cluster.local_pids) & first_pids == {ipp_processes.warm_parent_pid(cluster._profile_dir)}
        assert cell("info exists kept") == {0: "0", 1: "0"}
        assert cell("torch::tensor_to_list [torch::distributed_all_reduce [torch::ones {1}]]", "--no-table") == \
            {0: "2.0", 1: "2.0"}
    finally:
        pids = cluster.local_pids
        ip.run_line_magic("torchtcl", "cluster stop")
    assert capsys.readouterr().out.endswith("stopped 2 ranks; cells run in the kernel again\n")
    assert magics.cluster is None and cell("torch::get_world_size") == "1"
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def cluster_lines(cluster) -> list[str]:
    return [f"rank {p.rank}: host {p.host}, local rank {p.local_rank}, device {p.device}, alive"
            for p in cluster.placements]
