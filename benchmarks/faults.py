"""How fast a mistake on one rank reaches every rank, against the collective timeout.

    python -m benchmarks.faults --ranks 4 --timeout 60

The baseline is what raw torch.distributed does with the same mistake: every waiting rank
sits in the collective until the timeout (here --timeout seconds), then the gloo group is
broken for good. Each scenario runs on one real gloo cluster, through the same supervisor
as the `%%torchtcl` magic; the time is from the cell's start (or from the interrupt, the
kill) until every rank has answered. The heal rows time the rebuild of the process group
with a fresh engine for a killed one. Every scenario is followed by a cell whose
all_reduce must give the right value on every rank, or the benchmark fails.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import statistics
import threading
import time


from launcher import LaunchConfig, RankCluster
from tcl_magic.supervise import CellSupervisor

SCENARIOS = {
    "divergent all_reduce (rank 2 errors first)":
        "set t [torch::ones {4}]; if {[torch::get_rank] == 2} {error boom}; torch::distributed_all_reduce $t sum",
    "skipped barrier (rank 3 never calls it)": "if {[torch::get_rank] != 3} {torch::distributed_barrier}",
    "exit before a broadcast (rank 1)": "if {[torch::get_rank] == 1} {exit 2}; torch::distributed_broadcast "
                                        "[torch::ones {2}] 0",
    "different orders (a deadlock)": "if {[torch::get_rank] == 3} {torch::distributed_all_reduce [torch::ones {2}] "
                                     "sum pair}; torch::distributed_barrier",
    "unmatched recv (rank 0 never sends)": "if {[torch::get_rank] == 1} {torch::distributed_recv {4} 0}",
    "crossing blocking sends (ranks 0 and 1)": "set r [torch::get_rank]; if {$r < 2} {torch::distributed_send "
                                               "[torch::ones {2}] [expr {1 - $r}]}",
}
SPIN = "if {[torch::get_rank] == 3} {while 1 {incr i}} else {torch::distributed_barrier}"
ROWS = 100_000_000  # rank 0 scatters {4 ROWS} float32: a chunk is 400 MB
HEADROOM = 50 << 20
CHECK = "torch::tensor_to_list [torch::distributed_all_reduce [torch::ones {1}] sum]"


def check_healthy(supervisor: CellSupervisor, ranks: int) -> None:
    results = supervisor.run(CHECK).results
    if [r.result for r in results] != [f"{float(ranks)}"] * ranks:
        raise SystemExit(f"the cluster did not recover: {[(r.result, r.error) for r in results]}")


def timed(supervisor: CellSupervisor, source: str, **options) -> float:
    start = time.monotonic()
    results = supervisor.run(source, **options).results
    if all(r.ok for r in results):
        raise SystemExit(f"expected a failure from {source!r}")
    return time.monotonic() - start


@contextlib.contextmanager
def memory_limited(pid: int, headroom: int = HEADROOM):
    """The process may map `headroom` bytes more than it has mapped now (RLIMIT_AS), until
    the block ends: a rank that really runs out of memory."""
    with open(f"/proc/{pid}/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    before = resource.prlimit(pid, resource.RLIMIT_AS)
    resource.prlimit(pid, resource.RLIMIT_AS, (mapped + headroom, before[1]))
    try:
        yield
    finally:
        resource.prlimit(pid, resource.RLIMIT_AS, before)


def after(seconds: float, action) -> None:
    threading.Timer(seconds, action).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60.0, help="the collective timeout (the baseline)")
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    rows = []
    with RankCluster(LaunchConfig(ranks=options.ranks, backend="gloo", timeout_s=options.timeout)) as cluster:
        supervisor = CellSupervisor(cluster)
        supervisor.run("torch::distributed_new_group pair {2 3}")
        for name, source in SCENARIOS.items():
            times = []
            for _ in range(options.repeats):
                times.append(timed(supervisor, source))
                check_healthy(supervisor, options.ranks)
            rows.append((name, statistics.median(times)))
        supervisor.run(f"set big [expr {{[torch::get_rank] == 0 ? [torch::zeros {{4 {ROWS}}}] : [torch::zeros 1]}}]")
        times = []
        for _ in range(options.repeats):
            with memory_limited(cluster.rank_pids()[2]):
                times.append(timed(supervisor, "set chunk [torch::distributed_scatter $big 0]"))
            check_healthy(supervisor, options.ranks)
        supervisor.run("unset big")
        rows.append(("rank 2 cannot allocate its 400 MB chunk of a scatter", statistics.median(times)))
        times = []
        for _ in range(options.repeats):
            after(1.0, cluster.interrupt_ranks)
            times.append(timed(supervisor, SPIN) - 1.0)
            check_healthy(supervisor, options.ranks)
        rows.append(("interrupt, ranks 0-2 in a barrier, rank 3 spinning (from the interrupt)",
                     statistics.median(times)))
        times = []
        for _ in range(options.repeats):
            times.append(timed(supervisor, SPIN, timeout=1.0) - 1.0)
            check_healthy(supervisor, options.ranks)
        rows.append(("cell --timeout 1 s, ranks waiting for a spinning rank (from the time limit)",
                     statistics.median(times)))
        pid = cluster.rank_pids()[1]
        after(1.0, lambda: os.kill(pid, signal.SIGKILL))
        started = time.monotonic()
        outcome = supervisor.run("if {[torch::get_rank] == 1} {after 60000}; torch::distributed_barrier")
        heal = time.monotonic() - started - outcome.answered_s
        rows.append(("engine killed while the others wait (from the kill)", outcome.answered_s - 1.0))
        rows.append(("  ... then heal: fresh engine + new process group", heal))
        check_healthy(supervisor, options.ranks)
        os.kill(cluster.rank_pids()[2], signal.SIGKILL)
        time.sleep(0.5)
        started = time.monotonic()
        check_healthy(supervisor, options.ranks)
        rows.append(("engine killed between cells: heal before the next cell, and the cell", time.monotonic() - started))
    width = max(len(name) for name, _ in rows)
    print(f"{options.ranks} gloo ranks, collective timeout {options.timeout:g} s (raw torch.distributed waits "
          f"that long, then its group is broken); median of {options.repeats} where repeated")
    for name, seconds in rows:
        print(f"{name.ljust(width)}  {seconds:6.2f} s  (timeout {options.timeout:g} s: "
              f"{options.timeout / max(seconds, 1e-3):.0f}x sooner)")


if __name__ == "__main__":
    main()
