"""Ranks on two hosts that cannot reach each other's loopback (two network namespaces, see
two_hosts.py), started by ssh, by mpiexec and by a two-node Slurm: every socket a cluster
process listens on is on its host's chosen address or its own loopback, never on every
interface, and the ranks still compute what local engines compute."""
from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import slurm_cluster
import two_hosts
from launcher import LaunchConfig, RankCluster
from started import ROOT, assert_same_as_local, cluster_processes, demo, eventually

WHY_NOT = two_hosts.available()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"two hosts cannot be made here: {WHY_NOT}")


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    with two_hosts.two_hosts(tmp_path_factory.mktemp("two_hosts")) as made:
        yield made


@pytest.fixture
def ssh_on_path(hosts, monkeypatch):
    """`ssh` and `scp` read the hosts' port and key, as with a ~/.ssh/config."""
    monkeypatch.setenv("PATH", f"{hosts.bin_dir}:{os.environ['PATH']}")


def listening_sockets(hosts, pids: set[int]) -> dict[str, set[str]]:
    """host -> the addresses the given processes listen on there."""
    found = {hosts.a: set(), hosts.b: set()}
    for host, sockets in ((hosts.a, two_hosts.listening_in_a()), (hosts.b, hosts.listening_in_b())):
        found[host] |= {address for address, _, pid in sockets if pid in pids}
    return found


def test_ssh_ranks_on_two_hosts_listen_on_their_hosts_addresses_only(hosts, ssh_on_path, cluster_of):
    config = LaunchConfig(engines="ssh", backend="gloo", timeout_s=30, start_timeout_s=180,
                          hosts={hosts.a: 2, hosts.b: 2},
                          engine_args={"config": {"SSHEngineSetLauncher": {"remote_python": sys.executable}}})
    before = cluster_processes()
    cluster = RankCluster(config).start()
    try:
        assert cluster.client is not None
        assert [(p.rank, p.host, p.local_rank, p.address) for p in cluster.placements] == [
            (0, hosts.a, 0, hosts.a), (1, hosts.a, 1, hosts.a), (2, hosts.b, 0, hosts.b), (3, hosts.b, 1, hosts.b)]
        ours = demo(cluster)  # gloo's pairs exist after its collectives
        store_host, _ = cluster.control_store.host, cluster.control_store.port
        assert store_host == hosts.a
        pids = cluster_processes() - before
        sockets = listening_sockets(hosts, pids)
    finally:
        cluster.stop()
    # the controller, the store and A's gloo pairs on A's address; B's gloo pairs on B's
    assert hosts.a in sockets[hosts.a] and hosts.b in sockets[hosts.b], sockets
    for host, found in sockets.items():
        assert all(address == host or ipaddress.ip_address(address).is_loopback for address in found), sockets
    assert eventually(lambda: not pids & cluster_processes()), "processes left on a host"
    assert_same_as_local(ours, cluster_of)


def test_the_readme_recipe_for_mpi_on_two_hosts(hosts, ssh_on_path, tmp_path):
    """torchtcl run --engines mpi --hosts A:2,B:2 --address A: mpiexec reaches B by ssh,
    ranks 0-1 run on A and 2-3 on B, rank r is MPI rank r, and the demo prints what it
    prints on local engines."""
    script = tmp_path / "demo_and_where.tcl"
    script.write_text((ROOT / "examples" / "scatter_demo.tcl").read_text()
                      + '\nputs "on [info hostname] as MPI rank $env(OMPI_COMM_WORLD_RANK)"\n')
    done = subprocess.run(
        [sys.executable, "-m", "tcl_magic.cli", "run", str(script), "--engines", "mpi", "--backend", "gloo",
         "--hosts", f"{hosts.a}:2,{hosts.b}:2", "--address", hosts.a, "--timeout", "30"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, "OMPI_MCA_oob_tcp_if_include": hosts.subnet})
    assert done.returncode == 0, done.stderr[-3000:]
    here = socket.gethostname()
    where = [line for line in done.stdout.splitlines() if " on " in line and "as MPI rank" in line]
    assert where == [f"[rank {r}] on {here if r < 2 else hosts.b_name} as MPI rank {r}" for r in range(4)]
    local = subprocess.run([sys.executable, "-m", "tcl_magic.cli", "run", str(ROOT / "examples" / "scatter_demo.tcl"),
                            "-n", "4", "--backend", "gloo"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert [line for line in done.stdout.splitlines() if line not in where] == local.stdout.splitlines()


TWO_NODES = """#!/bin/sh
#SBATCH --export=ALL
#SBATCH --nodes=2 --ntasks-per-node=2
#SBATCH --output={output_file}
#SBATCH --job-name=ipengine-{cluster_id}
srun {program_and_args}
"""
"""The README's exact shape for a two-node job (its output in the cluster's log dir, not a
slurm-N.out in the caller's directory)."""


def test_a_two_node_slurm_job_puts_ranks_on_both_hosts_in_srun_order(hosts, tmp_path, cluster_of):
    why_not = slurm_cluster.why_not()
    if why_not:
        pytest.fail(why_not)
    nodes = [slurm_cluster.SlurmNode(socket.gethostname(), hosts.a),
             slurm_cluster.SlurmNode(hosts.b_name, hosts.b, hosts.as_b())]
    with slurm_cluster.running_slurm(tmp_path, nodes, cpus=4, controller_address=hosts.a):
        config = LaunchConfig(ranks=4, engines="slurm", backend="gloo", timeout_s=30, start_timeout_s=120,
                              address=hosts.a,
                              engine_args={"config": {"SlurmEngineSetLauncher": {"batch_template": TWO_NODES}}})
        here = set(Path.cwd().iterdir())
        cluster = RankCluster(config).start()
        try:
            assert cluster.run(os.getenv, "SLURM_PROCID") == ["0", "1", "2", "3"]
            assert len(set(cluster.run(os.getenv, "SLURM_JOB_ID"))) == 1
            layout = [(p.host, p.local_rank, p.address) for p in cluster.placements]
            by_host = {p.host: p.address for p in cluster.placements}
            assert by_host == {socket.gethostname(): hosts.a, hosts.b_name: hosts.b}
            assert [local for _, local, _ in layout] == [0, 1, 0, 1]
            ours = demo(cluster)
            # ours: the engines, the controller and this process (the store); srun (it listens
            # on every interface of B for its tasks' output) carries the job's environment
            # too, but its sockets are Slurm's own
            pids = set(cluster.run(os.getpid)) | set(cluster.local_pids) | {os.getpid()}
            sockets = listening_sockets(hosts, pids)
        finally:
            cluster.stop()
        assert eventually(lambda: not slurm_cluster.queue()), "the job outlived the cluster"
    assert set(Path.cwd().iterdir()) == here, "the job left files in the caller's directory"
    for host, found in sockets.items():
        assert all(address == host or ipaddress.ip_address(address).is_loopback for address in found), sockets
    assert hosts.b in sockets[hosts.b], sockets  # B's ranks' gloo pairs
    assert_same_as_local(ours, cluster_of)
