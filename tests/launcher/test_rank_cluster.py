"""RankCluster with real processes: a real ipyparallel cluster and a real gloo group.

One module-scoped 3-rank cluster serves most tests; the caller-dies test starts
one more in a subprocess. Functions run on the ranks are defined here, at
module level: the engines import this module by name, so the fixture puts
this directory on the engines' PYTHONPATH (local engines inherit os.environ).
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from launcher import LaunchConfig, LaunchError, RankCluster, RankFailure, RankTimeout

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
WORLD = 3
GONE_WITHIN_S = 30.0


# -- run on the ranks --------------------------------------------------------

def whoami():
    import torch.distributed as dist

    return dist.get_rank(), dist.get_world_size(), int(os.environ["RANK"])


def all_reduce_sum(offset):
    import torch
    import torch.distributed as dist

    value = torch.tensor([float(dist.get_rank() + offset)])
    dist.all_reduce(value)
    return value.item()


def fail_on_rank(bad_rank):
    import torch.distributed as dist

    if dist.get_rank() == bad_rank:
        raise ValueError(f"rank {bad_rank} refuses")
    return "fine"


def sleep_when_marked(directory, seconds):
    """Say that this rank is about to sleep (a file in ``directory``), then sleep."""
    import torch.distributed as dist

    open(os.path.join(directory, str(dist.get_rank())), "w").close()
    time.sleep(seconds)


def print_then_sleep_when_marked(directory, seconds):
    """Print a line, flush it, then sleep until ``directory`` holds a file named "go"."""
    import torch.distributed as dist

    print(f"rank {dist.get_rank()} is here", flush=True)
    deadline = time.monotonic() + seconds
    while not os.path.exists(os.path.join(directory, "go")) and time.monotonic() < deadline:
        time.sleep(0.02)
    return dist.get_rank()


def rank_env():
    keys = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    return {key: os.environ[key] for key in keys}


# -- helpers -----------------------------------------------------------------

def alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pids, timeout_s=GONE_WITHIN_S):
    """Pids still alive after waiting up to timeout_s for them to exit."""
    deadline = time.monotonic() + timeout_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [p for p in pids if alive(p)]


def child_pids():
    return {p.pid for p in psutil.Process().children(recursive=True)
            if p.status() != psutil.STATUS_ZOMBIE}


@pytest.fixture(scope="module")
def ranks():
    with pytest.MonkeyPatch.context() as env:
        paths = [HERE, os.environ.get("PYTHONPATH")]
        env.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
        cluster = RankCluster(LaunchConfig(ranks=WORLD, backend="gloo")).start()
    yield cluster
    cluster.stop()


# -- tests -------------------------------------------------------------------

def test_properties(ranks):
    assert ranks.is_running
    assert ranks.world_size == WORLD
    assert ranks.backend == "gloo"
    assert [p.rank for p in ranks.placements] == list(range(WORLD))
    assert {p.address for p in ranks.placements} == {"127.0.0.1"}
    engine_pids = ranks.run(os.getpid)
    assert len(set(engine_pids)) == WORLD
    assert set(engine_pids) < set(ranks.local_pids)  # plus the controller (and helpers)


def test_results_come_back_in_rank_order(ranks):
    assert ranks.run(whoami) == [(r, WORLD, r) for r in range(WORLD)]


def test_rank_env_is_set(ranks):
    envs = ranks.run(rank_env)
    assert [e["RANK"] for e in envs] == ["0", "1", "2"]
    assert [e["LOCAL_RANK"] for e in envs] == ["0", "1", "2"]
    assert {e["WORLD_SIZE"] for e in envs} == {"3"}
    assert {e["LOCAL_WORLD_SIZE"] for e in envs} == {"3"}
    assert {e["MASTER_ADDR"] for e in envs} == {"127.0.0.1"}
    assert len({e["MASTER_PORT"] for e in envs}) == 1


def test_all_reduce_sums_across_ranks(ranks):
    # ranks contribute 10, 11, 12
    assert ranks.run(all_reduce_sum, 10) == [33.0] * WORLD
    assert ranks.run(all_reduce_sum, offset=0) == [3.0] * WORLD


def test_failure_on_one_rank_names_it_and_cluster_keeps_working(ranks):
    with pytest.raises(RankFailure) as err:
        ranks.run(fail_on_rank, 2)
    failure = err.value
    assert str(failure) == "1 of 3 rank(s) failed:\nrank 2: ValueError: rank 2 refuses"
    assert list(failure.failures) == [2]
    assert failure.failures[2].type_name == "ValueError"
    assert "fail_on_rank" in failure.failures[2].traceback
    assert failure.results == {0: "fine", 1: "fine"}
    assert isinstance(failure, LaunchError)
    assert ranks.run(all_reduce_sum, 0) == [3.0] * WORLD


def test_subset_of_ranks_in_given_order(ranks):
    assert ranks.run(whoami, on_ranks=[2, 0]) == [(2, WORLD, 2), (0, WORLD, 0)]


@pytest.mark.parametrize("on_ranks", [[], [3], [0, 0], "0", [-1], 1, [True]])
def test_bad_on_ranks(ranks, on_ranks):
    with pytest.raises(LaunchError, match=r"on_ranks="):
        ranks.run(whoami, on_ranks=on_ranks)


@pytest.mark.parametrize("timeout", [-1, "5"])
def test_bad_timeout(ranks, timeout):
    with pytest.raises(LaunchError, match=r"timeout=.* is not a number of seconds >= 0"):
        ranks.run(whoami, timeout=timeout)


def test_run_async(ranks):
    pending = ranks.run_async(whoami)
    assert pending.ranks == [0, 1, 2]
    assert pending.get(timeout=60) == [(r, WORLD, r) for r in range(WORLD)]
    assert pending.ready()


def test_timeout_names_running_ranks(ranks):
    with pytest.raises(RankTimeout) as err:
        ranks.run(time.sleep, 2, on_ranks=[1], timeout=0.1)
    assert err.value.pending_ranks == [1]
    assert "rank(s) 1 did not finish" in str(err.value)
    assert ranks.run(whoami, on_ranks=[1]) == [(1, WORLD, 1)]  # queued behind the sleep


def test_interrupt_ranks_stops_running_code(ranks, tmp_path):
    pending = ranks.run_async(sleep_when_marked, str(tmp_path), 120)
    deadline = time.monotonic() + 60
    while len(list(tmp_path.iterdir())) < WORLD and time.monotonic() < deadline:
        time.sleep(0.05)
    ranks.interrupt_ranks()  # once: a second SIGINT could land while an engine sends its reply
    with pytest.raises(RankFailure) as err:
        pending.get(timeout=30)
    assert str(err.value) == (
        "3 of 3 rank(s) failed:\nrank 0: KeyboardInterrupt\n"
        "rank 1: KeyboardInterrupt\nrank 2: KeyboardInterrupt"
    )
    assert ranks.run(all_reduce_sum, 0) == [3.0] * WORLD


def test_output_is_read_while_the_ranks_run(ranks, tmp_path):
    pending = ranks.run_async(print_then_sleep_when_marked, str(tmp_path), 60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all("is here" in text for text in pending.stdout().values()):
        time.sleep(0.05)
    assert pending.stdout() == {r: f"rank {r} is here\n" for r in range(WORLD)}
    assert pending.running() == [0, 1, 2]
    (tmp_path / "go").touch()
    assert pending.get(timeout=60) == [0, 1, 2]
    assert pending.stderr() == {r: "" for r in range(WORLD)}


def test_function_the_engines_cannot_load_fails_on_every_rank(ranks, tmp_path, monkeypatch):
    (tmp_path / "only_here.py").write_text("def answer():\n    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # the caller imports it; the engines cannot
    import only_here

    with pytest.raises(RankFailure) as err:
        ranks.run(only_here.answer)
    assert sorted(err.value.failures) == [0, 1, 2]
    assert {f.type_name for f in err.value.failures.values()} == {"ModuleNotFoundError"}
    assert "only_here" in str(err.value)
    assert ranks.run(all_reduce_sum, 0) == [3.0] * WORLD


def test_the_client_history_stays_bounded(ranks, monkeypatch):
    from launcher import runs

    monkeypatch.setattr(runs, "_HISTORY_KEPT", 5)
    for _ in range(4):
        assert ranks.run(whoami) == [(r, WORLD, r) for r in range(WORLD)]
    assert len(ranks.client.history) == 5


def test_unpicklable_function_is_a_launch_error(ranks):
    lock = __import__("threading").Lock()
    with pytest.raises(LaunchError, match="could not send"):
        ranks.run(print, lock)


def test_start_failure_is_cleaned_up(ranks):
    before = child_pids()
    cluster = RankCluster(LaunchConfig(ranks=2, backend="gloo", start_timeout_s=0.01))
    with pytest.raises(LaunchError) as err:
        cluster.start()
    assert "only 0 of 2 engines came up within the start timeout" in str(err.value)
    assert "Everything started was stopped." in str(err.value)
    assert not cluster.is_running
    assert wait_gone(child_pids() - before) == []


def test_caller_killed_leaves_no_processes():
    code = textwrap.dedent("""
        import json, os, signal, sys
        from launcher import LaunchConfig, RankCluster
        cluster = RankCluster(LaunchConfig(ranks=2, backend="gloo")).start()
        print(json.dumps({"pids": cluster.local_pids, "profile_dir": cluster._profile_dir,
                          "reaper": cluster._reaper.pid}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    started = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(started["pids"]) >= 3  # controller and 2 engines at least
    assert wait_gone(started["pids"] + [started["reaper"]]) == []
    assert not os.path.exists(started["profile_dir"])


def test_stop_leaves_no_processes(ranks):
    """Runs last: stops the shared cluster."""
    pids = list(ranks.local_pids)
    profile_dir = ranks._profile_dir
    assert all(alive(p) for p in pids)
    ranks.stop()
    assert not ranks.is_running
    assert wait_gone(pids) == []
    assert not os.path.exists(profile_dir)
    ranks.stop()  # idempotent
    with pytest.raises(LaunchError, match="is not running; call start"):
        ranks.run(whoami)
