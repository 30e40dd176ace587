"""A training step written in Tcl against the same step written in Python with torch.

    python -m benchmarks.training --ranks 4 --steps 50 --width 256

In one process: `steps` SGD steps of a 2-layer MLP (forward, MSE loss, backward, step) as
a torch:: loop, against the same loop in Python (the cheapest way a Python user would
write it). On a cluster: the same steps with the model wrapped in DistributedDataParallel,
as torch:: commands (each forward and backward starts with an agreement round) against
raw Python DDP on the same ranks, interleaved. Times are medians of the repeats; on the
cluster a repeat's time is the slowest rank's.
"""
from __future__ import annotations

import argparse
import statistics


from benchmarks.rank_side import training_times
from benchmarks.scatter import slowest_rank_median
from launcher import LaunchConfig, RankCluster

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backend", default="auto", choices=("auto", "gloo", "nccl"))
    options = parser.parse_args()
    one = training_times(options.width, options.steps, options.repeats, parallel=False)
    ours, raw = statistics.median(one["ours"]), statistics.median(one["raw"])
    per_step = f"per step, {options.width}-wide MLP, batch 64"
    print(f"one process: torch:: {ours / options.steps * 1e3:.2f} ms, Python torch {raw / options.steps * 1e3:.2f} "
          f"ms {per_step}: ratio {ours / raw:.2f}", flush=True)
    with RankCluster(LaunchConfig(ranks=options.ranks, backend=options.backend, timeout_s=300)) as cluster:
        per_rank = cluster.run(training_times, options.width, options.steps, options.repeats, True)
        ours, raw = slowest_rank_median(per_rank, "ours"), slowest_rank_median(per_rank, "raw")
        print(f"DDP on {cluster.world_size} {cluster.backend} ranks: torch:: {ours / options.steps * 1e3:.2f} ms, "
              f"Python DDP {raw / options.steps * 1e3:.2f} ms {per_step}: ratio {ours / raw:.2f}")


if __name__ == "__main__":
    main()
