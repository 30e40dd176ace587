"""The distributed family in a world of one: what each collective really does for one process."""
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def m(tcl):
    return tcl("set m [torch::tensor_create {{1 2} {3 4} {5 6}}]")


@pytest.mark.parametrize("source, expected", [
    ("torch::distributed_scatter $m 5 anygroup", "3 2|1.0 2.0 3.0 4.0 5.0 6.0"),
    ("torch::distributed_gather $m 3", "1 3 2|1.0 2.0 3.0 4.0 5.0 6.0"),
    ("torch::distributed_gather -tensor $m -mode cat", "3 2|1.0 2.0 3.0 4.0 5.0 6.0"),
    ("torch::distributed_broadcast $m 2 g", "3 2|1.0 2.0 3.0 4.0 5.0 6.0"),
    ("torch::distributed_all_reduce $m mean", "3 2|1.0 2.0 3.0 4.0 5.0 6.0"),
    ("torch::distributed_reduce_scatter $m product", "3 2|1.0 2.0 3.0 4.0 5.0 6.0"),
    ("torch::distributedAllToAll -tensor $m -group any", "3 2|1.0 2.0 3.0 4.0 5.0 6.0"),
])
def test_collectives_in_a_world_of_one(m, tcl, source, expected):
    """As a world of one really would: a copy of the input, so a new handle."""
    tcl(f"set r [{source}]")
    assert tcl('return "[torch::tensor_shape $r]|[torch::tensor_to_list $r]"') == expected
    assert tcl("expr {$r ne $m}") == "1"  # a new handle, the input untouched
    assert tcl("torch::tensor_to_list $m") == "1.0 2.0 3.0 4.0 5.0 6.0"


def test_world_queries_and_barrier_without_a_group(tcl):
    assert tcl("list [torch::get_rank] [torch::getWorldSize] [torch::is_distributed]") == "0 1 0"
    assert tcl("torch::distributed_barrier") == "Distributed not initialized"


@pytest.mark.parametrize("source, message", [
    ("torch::distributed_send [torch::ones {1}] 1",
     "torch::distributed_send needs a peer, and there is none: no process group of more than one rank exists "
     "(start a cluster, or call torch::distributed_init)"),
    ("torch::distributed_recv {2} 0", "torch::distributed_recv needs a peer, and there is none"),
    ("torch::distributed_isend [torch::ones {1}] 1 3", "torch::distributed_isend needs a peer"),
    ("torch::distributed_irecv -shape {2} -src 1", "torch::distributed_irecv needs a peer"),
    ("torch::distributed_send [torch::ones {1}] -2", "invalid dst parameter: -2 (a rank is >= 0)"),
    ("torch::distributed_wait nope", "Invalid work handle: nope"),
    ("torch::distributed_test -handle nope", "Invalid work handle: nope"),
    ("torch::distributed_recv", "Wrong number of arguments for positional syntax. Expected: "
     "torch::distributed_recv shape src ?tag? ?dtype?"),
    ("torch::distributed_recv -shape {2}", "Required parameters missing: -src"),
    ("torch::distributed_send [torch::ones {1}] 1 x", 'Invalid tag parameter. Must be an integer. Got: "x"'),
    ("torch::distributed_reduce_scatter [torch::ones {2}] median", "Invalid op parameter. Must be one of: "
     "sum mean max min product."),
    ("torch::distributed_init 0 1", "Wrong number of arguments for positional syntax. Expected: "
     "torch::distributed_init rank world_size master_addr ?master_port? ?backend? ?timeout?"),
    ("torch::distributed_init -rank 0 -worldSize 1", "Required parameters missing: -masterAddr"),
    ("torch::distributed_init 2 2 127.0.0.1", 'Invalid rank parameter. Must be in 0..1 (world_size 2). Got: "2"'),
    ("torch::distributed_init 0 1 gloo", 'Invalid master_addr parameter. Does not resolve to an address'),
    ('torch::distributed_init -rank 0 -worldSize 1 -masterAddr ""', 'Invalid master_addr parameter. Must be a host name or address, e.g. 127.0.0.1. Got: ""'),
    ("torch::distributed_init 0 1 127.0.0.1 29500 mpi", "Invalid backend parameter. Must be one of: gloo nccl."),
    ("torch::distributed_init -rank 0 -world_size 1 -masterAddr h -masterPort 0", "Invalid master_port parameter"),
    ("torch::distributed_destroy", "Distributed not initialized"),
    ("torch::distributed_destroy_group g", 'Unknown process group "g". Existing groups: "" (create one with '
                                           'torch::distributed_new_group)'),
    ("torch::distributed_destroy_group {}", "The world group cannot be destroyed"),
    ("torch::distributed_new_group {} {0}", 'Invalid name parameter. Must not be empty: "" already means the world group. Got: ""'),
    ("torch::distributed_new_group g {0 x}", 'Invalid ranks parameter. Must be a list of integers. Got: "0 x"'),
    ("torch::distributed_new_group g {0 0}", "Invalid ranks parameter. Must be a non-empty list of distinct"),
    ("torch::distributed_new_group -name g -ranks {0 x}", 'Invalid -ranks parameter. Must be a list of integers. Got: "0 x"'),
    ("torch::distributed_new_group g {3}", "Rank 3 is outside the world (ranks 0)"),
])
def test_errors_of_the_family(tcl, tcl_error, source, message):
    assert tcl_error(source).startswith(message)
    assert tcl("torch::get_world_size") == "1"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the machine without CUDA")
def test_nccl_without_cuda_is_a_clear_error(tcl_error):
    assert tcl_error("torch::distributed_init 0 1 127.0.0.1 29500 nccl") == (
        "the nccl backend needs CUDA GPUs and this rank sees none: use -backend gloo")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_script(path: Path, source: str, *args: str) -> subprocess.Popen:
    """`torchtcl run` of a one-rank script in its own process, started at once."""
    path.write_text(source)
    return subprocess.Popen([sys.executable, "-m", "tcl_magic.cli", "run", str(path), "--", *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_world_of_one_init_is_real_and_can_be_destroyed(tmp_path):
    script = f"""
        puts [torch::distributed_init 0 1 127.0.0.1 {free_port()}]
        puts [torch::distributed_init 0 1 127.0.0.1]
        puts [torch::distributed_barrier]
        puts [torch::tensor_to_list [torch::distributed_all_reduce [torch::ones {{2}}]]]
        puts [torch::distributed_destroy]
        puts [torch::distributed_barrier]"""
    process = run_script(tmp_path / "one.tcl", script)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out.splitlines() == ["Distributed training initialized (single GPU): rank=0, world_size=1, backend=gloo"] * 2 + [
                                "Barrier synchronized (single GPU)", "1.0 1.0", "Distributed training destroyed",
                                "Distributed not initialized"]


def test_one_script_run_as_separate_processes_joins_a_real_rendezvous(tmp_path):
    port = free_port()
    script = f"""
        set rank [lindex $argv 0]
        puts [torch::distributed_init -rank $rank -worldSize 3 -masterAddr 127.0.0.1 -masterPort {port} -timeout 60]
        set s [torch::distributed_all_reduce [torch::full {{2}} [expr {{$rank + 1}}]] sum]
        puts "[torch::is_distributed] [torch::tensor_to_list $s] [torch::distributed_barrier]"
        """
    processes = [run_script(tmp_path / "ranks.tcl", script, str(rank)) for rank in range(3)]
    outputs = [p.communicate(timeout=120) for p in processes]
    for rank, (p, (out, err)) in enumerate(zip(processes, outputs)):
        assert p.returncode == 0, err
        assert out.splitlines() == [
            f"Distributed training initialized: rank={rank}, world_size=3, backend=gloo",
            "1 6.0 6.0 Barrier synchronized: 3 ranks"]


def test_a_rendezvous_nobody_joins_times_out_with_a_clear_error(tmp_path):
    port = free_port()
    script = f"torch::distributed_init 0 2 127.0.0.1 {port} gloo 2"
    process = run_script(tmp_path / "alone.tcl", script)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert err.startswith(f"error: rendezvous at tcp://127.0.0.1:{port} for 2 rank(s) failed: ")


def test_an_integer_mean_is_floating_point_in_a_world_of_one_as_on_a_cluster(tcl):
    tcl("set i [torch::tensor_create {1 2 3} int32]")
    assert tcl("torch::tensor_dtype [torch::distributed_all_reduce $i mean]") == "Float32"
    assert tcl("torch::tensor_dtype [torch::distributed_reduce_scatter $i mean]") == "Float32"
    assert tcl("torch::tensor_dtype [torch::distributed_all_reduce $i sum]") == "Int32"
