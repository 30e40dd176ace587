"""torch::distributed_scatter against a raw torch.distributed.scatter on the same ranks.

    python -m benchmarks.scatter --ranks 4 --elements 16777216

Both run on one cluster, interleaved, on the same data; a repeat's time is the slowest
rank's, and the ratio compares medians. Also measured: the peak memory of the source and
of a receiving rank during one scatter.
"""
from __future__ import annotations

import argparse
import statistics



from benchmarks import rank_side
from launcher import LaunchConfig, RankCluster

MIB = 1024 * 1024


def slowest_rank_median(per_rank: list[dict], key: str) -> float:
    """Median over repeats of the slowest rank's time (a collective ends when all ranks do)."""
    repeats = zip(*(timings[key] for timings in per_rank))
    return statistics.median(max(times) for times in repeats)


def bench_scatter(cluster: RankCluster, elements: int, repeats: int) -> float:
    per_rank = cluster.run(rank_side.collective_times, "scatter", elements, repeats)
    ours, raw = slowest_rank_median(per_rank, "ours"), slowest_rank_median(per_rank, "raw")
    print(f"scatter of {elements} float32 on {cluster.world_size} {cluster.backend} ranks, "
          f"median of {repeats}: torch::distributed_scatter {ours * 1e3:.2f} ms, "
          f"dist.scatter {raw * 1e3:.2f} ms")
    return ours / raw


def bench_memory(cluster: RankCluster, elements: int) -> None:
    reports = cluster.run(rank_side.scatter_peak_memory, elements)
    source, receivers = reports[0], reports[1:]
    print(f"peak memory during the scatter, above what each rank held before: source rank 0 "
          f"+{source['extra'] / MIB:.1f} MiB (its chunk {source['chunk'] / MIB:.1f} MiB; the "
          f"{source['source'] / MIB:.0f} MiB source tensor was already held)")
    worst = max(receivers, key=lambda r: r["extra"])
    print(f"peak memory of a receiving rank: +{worst['extra'] / MIB:.1f} MiB at most "
          f"(rank {worst['rank']}; its chunk {worst['chunk'] / MIB:.1f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--elements", type=int, default=16 * MIB)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--backend", default="auto", choices=("auto", "gloo", "nccl"))
    options = parser.parse_args()
    with RankCluster(LaunchConfig(ranks=options.ranks, backend=options.backend, timeout_s=120)) as cluster:
        bench_memory(cluster, options.elements)
        ratio = bench_scatter(cluster, options.elements, options.repeats)
    print(f"scatter ratio (torch::distributed_scatter / dist.scatter): {ratio:.2f}")


if __name__ == "__main__":
    main()
