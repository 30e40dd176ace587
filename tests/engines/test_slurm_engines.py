"""Engines started by a real Slurm (Debian's slurm-wlm, which `.ci/run` installs): the test
starts munged, slurmctld and slurmd for a single-node cluster of its own, and engines go
through ipyparallel's Slurm launcher (sbatch, then srun inside the job)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from launcher import LaunchConfig, LaunchError, RankCluster
from started import assert_same_as_local, cluster_processes, demo, eventually, free_port


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A single-node Slurm on this machine (8 CPUs declared, so 4 one-CPU tasks fit on 2
    cores); SLURM_CONF points sbatch, squeue and scancel at it."""
    if shutil.which("slurmctld") is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.fail("these tests need Slurm: apt-get install -y slurm-wlm (as root)")
        subprocess.run(["apt-get", "install", "-y", "slurm-wlm"], check=True, capture_output=True)
    if os.geteuid() != 0:
        pytest.fail("the Slurm test runs slurmd, which needs root")
    home = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool", "log"):
        (home / sub).mkdir()
    node = socket.gethostname()
    conf = home / "slurm.conf"
    conf.write_text(
        f"ClusterName=tcltest\nSlurmctldHost={node}\nSlurmctldPort={free_port()}\nSlurmdPort={free_port()}\n"
        f"AuthType=auth/munge\nStateSaveLocation={home}/state\nSlurmdSpoolDir={home}/spool\n"
        f"SlurmctldPidFile={home}/slurmctld.pid\nSlurmdPidFile={home}/slurmd.pid\n"
        f"SlurmctldLogFile={home}/log/slurmctld.log\nSlurmdLogFile={home}/log/slurmd.log\n"
        "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\n"
        "SlurmUser=root\nReturnToService=2\nSlurmdParameters=config_overrides\nMpiDefault=none\n"
        f"NodeName={node} CPUs=8 State=UNKNOWN\nPartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP\n")
    for directory in ("/etc/munge", "/run/munge", "/var/log/munge", "/var/lib/munge"):
        os.makedirs(directory, exist_ok=True)
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        key.write_bytes(os.urandom(1024))
    subprocess.run(["chown", "-R", "munge:munge", "/etc/munge", "/run/munge", "/var/log/munge", "/var/lib/munge"],
                   check=True)
    key.chmod(0o400)
    munged = None
    if subprocess.run(["munge", "-n"], capture_output=True).returncode != 0:
        munged = subprocess.Popen(["runuser", "-u", "munge", "--", "munged", "--foreground", "--force"])
        for _ in range(100):
            if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
    env = dict(os.environ, SLURM_CONF=str(conf))
    daemons = [subprocess.Popen(["slurmctld", "-D", "-f", str(conf), "-c"], env=env),
               subprocess.Popen(["slurmd", "-D", "-f", str(conf)], env=env)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", str(conf))
        for _ in range(100):
            if "idle" in subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True).stdout:
                break
            time.sleep(0.1)
        yield conf
        subprocess.run(["scancel", "--user", "root"], capture_output=True)  # our test cluster's jobs only
        for _ in range(100):
            if not queue():
                break
            time.sleep(0.1)
    for daemon in [*reversed(daemons), *([munged] if munged else [])]:  # munged only if we started it
        family = [daemon.pid, *[c.pid for c in psutil.Process(daemon.pid).children(recursive=True)]] \
            if psutil.pid_exists(daemon.pid) else []
        daemon.terminate()
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(10)
        for pid in family[1:]:  # job steps (slurmstepd) that outlived slurmd
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass


LATER = """#!/bin/sh
#SBATCH --export=ALL
#SBATCH --begin=now+3600
#SBATCH --job-name=ipengine-{cluster_id}
srun {program_and_args}
"""
"""ipyparallel's engine job, asked to begin in an hour."""


def queue() -> str:
    return subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip()


def test_engines_in_a_slurm_job_give_the_local_results(slurm, cluster_of):
    here = set(Path.cwd().iterdir())
    cluster = RankCluster(LaunchConfig(ranks=4, engines="slurm", backend="gloo", timeout_s=30,
                                       start_timeout_s=120)).start()
    try:
        jobs = set(cluster.run(os.getenv, "SLURM_JOB_ID"))
        assert len(jobs) == 1 and None not in jobs  # all four in one real job
        # rank r is srun's task r, whatever order the engines registered in
        assert cluster.run(os.getenv, "SLURM_PROCID") == ["0", "1", "2", "3"]
        ours = demo(cluster)
    finally:
        cluster.stop()
    assert_same_as_local(ours, cluster_of)
    assert eventually(lambda: not queue()), "the job outlived the cluster"
    assert set(Path.cwd().iterdir()) == here, "the job script was left in the caller's directory"


def test_a_job_that_cannot_start_says_so_and_leaves_nothing_queued(slurm):
    """A job Slurm will not start within the start timeout (it may begin in an hour) stays
    pending: the error says so, with squeue's reason, and the job is cancelled."""
    config = LaunchConfig(ranks=2, engines="slurm", backend="gloo", timeout_s=30, start_timeout_s=10,
                          engine_args={"config": {"SlurmEngineSetLauncher": {"batch_template": LATER}}})
    before = cluster_processes()
    with pytest.raises(LaunchError) as failure:
        RankCluster(config).start()
    message = str(failure.value)
    assert "only 0 of 2 engines came up within the start timeout (the Slurm job" in message
    assert "is PENDING (BeginTime)" in message and "Everything started was stopped." in message
    assert eventually(lambda: not queue())
    assert not cluster_processes() - before  # the controller and its helpers too
