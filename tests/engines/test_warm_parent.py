"""Local engines are forked from one warm parent process (launcher/zygote.py): real
ipyparallel engines with the preloaded modules already imported, a clear error when the
parent cannot start, and nothing left behind."""
import sys

import psutil
import pytest
from ipyparallel.serialize.canning import interactive

from launcher import LaunchConfig, LaunchError, RankCluster, ipp_processes
from started import cluster_processes, eventually


@interactive
def engine_facts():
    import os
    import sys
    return os.getppid(), "json" in sys.modules, "tcl_magic.warm" in sys.modules


def test_engines_are_forked_from_one_parent_that_imported_the_preload():
    cluster = RankCluster(LaunchConfig(ranks=2, backend="gloo", preload=("json",))).start()
    try:
        parent = ipp_processes.warm_parent_pid(cluster._profile_dir)
        assert parent in cluster.local_pids
        facts = cluster.client[[p.engine_id for p in cluster.placements]].apply_sync(engine_facts)
        assert facts == [(parent, True, False)] * 2
        # they are ipyparallel engines like any other: %%px-style code runs on them
        assert cluster.client[:].apply_sync(interactive(lambda: 6 * 7)) == [42, 42]
        pids = [*cluster.local_pids]
    finally:
        cluster.stop()
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_a_parent_that_cannot_import_its_preload_fails_the_start_clearly():
    before = cluster_processes()
    with pytest.raises(LaunchError) as failure:
        RankCluster(LaunchConfig(ranks=2, backend="gloo", preload=("no_such_module_here",),
                                 start_timeout_s=60)).start()
    message = str(failure.value)
    assert message.startswith("could not start 2 rank(s) with engines='local'")
    assert "the engines' parent process could not start: cannot import no_such_module_here" in message
    assert "Everything started was stopped." in message
    assert eventually(lambda: not cluster_processes() - before, timeout_s=10)


def test_preload_is_a_tuple_of_module_names():
    with pytest.raises(LaunchError, match=r"preload=\['numpy'\] is not a tuple of module names"):
        LaunchConfig(backend="gloo", preload=["numpy"])


def test_torchtcl_exits_with_the_scripts_status_after_its_output(tmp_path):
    import subprocess

    script = tmp_path / "s.tcl"
    script.write_text('puts "rank [torch::get_rank]"\nexit 3\n')
    done = subprocess.run([sys.executable, "-m", "tcl_magic.cli", "run", str(script), "-n", "2", "--backend", "gloo"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 3
    assert done.stdout.splitlines() == ["[rank 0] rank 0", "[rank 1] rank 1"]


def test_a_reaper_that_cannot_start_fails_the_start_and_leaves_no_profile_dir(monkeypatch, tmp_path):
    import launcher.cluster as cluster_module

    # a real failed spawn: the Python the reaper would run does not exist
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    monkeypatch.setattr(cluster_module.tempfile, "tempdir", str(tmp_path))
    cluster = RankCluster(LaunchConfig(ranks=2, backend="gloo"))
    with pytest.raises(LaunchError, match=r"could not start the reaper process that guards the ranks: .*no-such-python"):
        cluster.start()
    assert list(tmp_path.iterdir()) == [] and not cluster.is_running
