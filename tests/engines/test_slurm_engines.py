"""Engines started by a real Slurm (Debian's slurm-wlm, which `.ci/run` installs): the test
starts munged, slurmctld and slurmd for a single-node cluster of its own, and engines go
through ipyparallel's Slurm launcher (sbatch, then srun inside the job)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

import slurm_cluster
from launcher import LaunchConfig, LaunchError, RankCluster
from started import assert_same_as_local, cluster_processes, demo, eventually


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A single-node Slurm on this machine (8 CPUs declared, so 4 one-CPU tasks fit on 2
    cores); SLURM_CONF points sbatch, squeue and scancel at it."""
    why_not = slurm_cluster.why_not()
    if why_not:
        pytest.fail(why_not)
    home = tmp_path_factory.mktemp("slurm")
    with slurm_cluster.running_slurm(home, [slurm_cluster.SlurmNode(socket.gethostname())], cpus=8) as conf:
        yield conf


LATER = """#!/bin/sh
#SBATCH --export=ALL
#SBATCH --begin=now+3600
#SBATCH --job-name=ipengine-{cluster_id}
srun {program_and_args}
"""
"""ipyparallel's engine job, asked to begin in an hour."""




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
    assert eventually(lambda: not slurm_cluster.queue()), "the job outlived the cluster"
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
    assert eventually(lambda: not slurm_cluster.queue())
    assert not cluster_processes() - before  # the controller and its helpers too
