"""Peak memory of a loop that reassigns a large tensor, inside one evaluation.

    python -m benchmarks.loop_memory --mb 100 --iterations 100
    python -m benchmarks.loop_memory --ranks 2 --mb 10 --iterations 400

`set chunk [torch::aten::clone $data]` repeated in a Tcl `for` loop, at top level and inside
a proc, against the bytes the script can reach at any moment (`$data` and `$chunk`), and
against the same Python loop (`for _ in range(n): chunk = data.clone()`), whose old chunk
is freed as soon as the new one is assigned. Each case runs in a fresh process; its peak is
the resident set's high-water mark above what the process held before it made `data`.

With --ranks N, on a cluster: a Tcl loop of `set chunk [torch::distributed_scatter $data 0]`
against the same Python loop of `dist.scatter` into a new chunk, on the same ranks (each
rank's resident set sampled while its loop runs).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20
LOOP = "for {set i 0} {$i < $n} {incr i} {set chunk [torch::aten::clone $data]}"
TCL = {
    "Tcl loop at top level": f"set n $iterations; set data [torch::rand $elements]; {LOOP}",
    "Tcl loop inside a proc": f"proc work {{n elements}} {{set data [torch::rand $elements]; {LOOP}}}; "
                              "work $iterations $elements",
}
_CASE = """
import resource, sys
import torch
from tcl_magic import TclSession

script, elements, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
session = TclSession()
with open("/proc/self/statm") as statm:
    before = int(statm.read().split()[1]) * resource.getpagesize()
if script:
    session.eval(f"set elements {elements}; set iterations {iterations}")
    result = session.eval(script)
    assert result.error is None, result.error.info
else:
    data = torch.rand(elements)
    for _ in range(iterations):
        chunk = data.clone()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before)
"""


def peak_above_start(script: str, elements: int, iterations: int) -> int:
    """The case's peak resident bytes above what its process held before the loop (a Tcl
    script, or the Python loop for an empty one), each in a fresh process."""
    done = subprocess.run([sys.executable, "-c", _CASE, script, str(elements), str(iterations)],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=100, help="size of the reassigned tensor, in MB (float32)")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--ranks", type=int, default=0, help="scatter on a cluster of this many ranks")
    options = parser.parse_args()
    if options.ranks:
        return on_ranks(options)
    elements = options.mb * 1_000_000 // 4
    reachable = 2 * elements * 4  # $data and $chunk
    peaks = {name: peak_above_start(script, elements, options.iterations)
             for name, script in {**TCL, "Python loop": ""}.items()}
    python = peaks["Python loop"]
    print(f"{options.iterations} iterations reassigning a {options.mb} MB tensor; the script reaches "
          f"{reachable / MIB:.0f} MiB; peak resident memory above the start:")
    for name, peak in peaks.items():
        print(f"  {name}: {peak / MIB:.0f} MiB; ratio {peak / reachable:.2f} to what it reaches, "
              f"{peak / python:.2f} to the Python loop")


def on_ranks(options) -> None:
    from benchmarks import rank_side
    from launcher import LaunchConfig, RankCluster

    elements = options.mb * 1_000_000 // 4
    with RankCluster(LaunchConfig(ranks=options.ranks, timeout_s=300)) as cluster:
        per_rank = cluster.run(rank_side.scatter_loop_peaks, elements, options.iterations)
    print(f"{options.iterations} scatters of a {options.mb} MB tensor on {options.ranks} ranks; peak resident "
          "memory above the start, per rank:")
    for r in per_rank:
        print(f"  rank {r['rank']}: Tcl loop {r['tcl'] / MIB:.0f} MiB resident, at most {r['live'] / MIB:.0f} MiB of "
              f"live tensors; Python loop {r['python'] / MIB:.0f} MiB; the loop reaches {r['reachable'] / MIB:.0f} "
              f"MiB (live tensors: ratio {r['live'] / r['reachable']:.2f})")


if __name__ == "__main__":
    main()
