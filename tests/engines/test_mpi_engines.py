"""Ranks started by a real mpiexec (Debian's Open MPI; `.ci/run` installs openmpi-bin,
the test extras mpi4py): the same results as local engines, ranks in MPI's own order, and
clear, quick failures that leave nothing running."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from launcher import LaunchConfig, LaunchError, RankCluster
from started import ROOT, assert_same_as_local, cluster_processes, demo, eventually


@pytest.fixture(scope="module", autouse=True)
def mpiexec():
    if shutil.which("mpiexec") is None:
        pytest.fail("these tests need an MPI (.ci/run installs Open MPI): apt-get install -y openmpi-bin")
    return shutil.which("mpiexec")


def mpi_identity():
    """What this engine is to MPI and to torch.distributed."""
    import torch.distributed as dist
    from mpi4py import MPI

    return {"rank": dist.get_rank(), "mpi_rank": MPI.COMM_WORLD.Get_rank(), "mpi_size": MPI.COMM_WORLD.Get_size(),
            "pid": os.getpid()}


def test_mpiexec_ranks_follow_mpi_order_and_give_the_local_results(cluster_of, monkeypatch):
    # the engines import this module by name (mpiexec passes the environment on)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                                   os.environ.get("PYTHONPATH")])))
    with RankCluster(LaunchConfig(ranks=4, engines="mpi", backend="gloo", timeout_s=30)).start() as cluster:
        identities = cluster.run(mpi_identity)
        pids = [i["pid"] for i in identities]
        assert [(i["rank"], i["mpi_rank"], i["mpi_size"]) for i in identities] == [(r, r, 4) for r in range(4)]
        ours = demo(cluster)
    assert_same_as_local(ours, cluster_of)
    assert "received 3 rows" in ours[0].text()
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_torchtcl_run_with_mpi_engines():
    done = subprocess.run([sys.executable, "-m", "tcl_magic.cli", "run", "examples/scatter_demo.tcl", "-n", "4",
                           "--engines", "mpi"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "[rank 3] rank 3 of 4 received 2 rows: 24.0 25.0 26.0 27.0 28.0 29.0" in done.stdout.splitlines()


def test_the_magic_starts_a_cluster_through_mpiexec(ip, magics, capsys):
    ip.run_line_magic("torchtcl", "cluster start -n 2 --engines mpi --backend gloo --timeout 30")
    try:
        assert "engines mpi" in capsys.readouterr().out
        value = ip.run_cell_magic("torchtcl", "--no-table",
                                  "torch::tensor_to_list [torch::distributed_all_reduce [torch::ones 2] sum]")
        assert repr(value) == "[ranks 0,1] 2.0 2.0"
    finally:
        ip.run_line_magic("torchtcl", "cluster stop")


def test_an_mpiexec_that_fails_is_a_quick_clear_error_that_leaves_nothing_running():
    before = cluster_processes()
    config = LaunchConfig(ranks=2, engines="mpi", backend="gloo", timeout_s=30,
                          engine_args={"config": {"MPIEngineSetLauncher": {"mpi_args": ["--no-such-option"]}}})
    with pytest.raises(LaunchError) as failure:
        RankCluster(config).start()
    message = str(failure.value)
    assert message.startswith("could not start 2 rank(s) with engines='mpi'")
    assert "the engine launcher (mpiexec -n 2 ...) exited with status" in message
    assert "no-such-option" in message and "Everything started was stopped." in message
    assert "within the start timeout" not in message  # its failure is noticed, not waited out
    assert eventually(lambda: not cluster_processes() - before), "processes left running"


def test_no_mpiexec_on_the_path_says_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # a machine without MPI: nothing named mpiexec to find
    with pytest.raises(LaunchError, match="engines='mpi' needs mpiexec on the PATH: install an MPI"):
        RankCluster(LaunchConfig(ranks=2, engines="mpi", backend="gloo")).start()
