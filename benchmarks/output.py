"""Rank output through the cluster: 20,000 `puts` lines on each of 4 ranks, against the same
loop in one kernel-local session (the baseline: no cluster at all).

    python -m benchmarks.output --ranks 4 --lines 20000
"""
from __future__ import annotations

import argparse
import time


from launcher import LaunchConfig, RankCluster
from tcl_magic import remote
from tcl_magic.session import TclSession


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--lines", type=int, default=20000)
    options = parser.parse_args()
    source = f"for {{set i 0}} {{$i < {options.lines}}} {{incr i}} {{puts \"line $i of rank [torch::get_rank]\"}}"
    with RankCluster(LaunchConfig(ranks=options.ranks, backend="gloo", timeout_s=60)) as cluster:
        cluster.run(remote.run_tcl, "set warm 1")
        start = time.perf_counter()
        results = cluster.run(remote.run_tcl, source)
        on_ranks = time.perf_counter() - start
    for result in results:
        lines = result.text().splitlines()
        if lines != [f"line {i} of rank {result.rank}" for i in range(options.lines)]:
            raise SystemExit(f"rank {result.rank}: output lost or out of order")
    session = TclSession(on_output=lambda stream, text: None)
    start = time.perf_counter()
    session.eval(source)
    here = time.perf_counter() - start
    print(f"{options.lines} lines on each of {options.ranks} ranks: {on_ranks:.2f} s; the same loop in the "
          f"kernel: {here:.2f} s; ratio {on_ranks / here:.1f}")


if __name__ == "__main__":
    main()
