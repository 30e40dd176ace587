"""torch::distributed_scatter against a raw torch.distributed.scatter on the same ranks.

    python benchmarks/scatter.py --ranks 4 --elements 16777216

Both run on one cluster, interleaved, on the same data; a repeat's time is the slowest
rank's, and the ratio compares medians. Also measured: the per-call cost of
torch::tensor_add on 4-element tensors against a Python loop of torch.add, and the peak
memory of the source and of a receiving rank during one scatter.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks import rank_side  # noqa: E402
from launcher import LaunchConfig, RankCluster  # noqa: E402
from tcl_magic import TclSession  # noqa: E402

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


def bench_tensor_add(calls: int, repeats: int) -> float:
    """Both sides keep every result (the Tcl side as handles), and start each repeat from
    the same heap: no live results left over, a fresh garbage collection."""
    session = TclSession()
    a, b = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([4.0, 3.0, 2.0, 1.0])
    loop = f"for {{set i 0}} {{$i < {calls}}} {{incr i}} {{torch::tensor_add $a $b}}"
    ours, raw = [], []
    for _ in range(repeats):
        session.handles = type(session.handles)()
        session.set_variable("a", a)
        session.set_variable("b", b)
        gc.collect()
        start = time.perf_counter()
        session.eval(loop)
        ours.append((time.perf_counter() - start) / calls)
        session.handles = type(session.handles)()
        kept = {}
        gc.collect()
        start = time.perf_counter()
        for i in range(calls):
            kept[i] = torch.add(a, b)
        raw.append((time.perf_counter() - start) / calls)
        del kept
    ours_us, raw_us = statistics.median(ours) * 1e6, statistics.median(raw) * 1e6
    print(f"torch::tensor_add on 4 elements: {ours_us:.2f} us per call; Python torch.add loop "
          f"(results kept): {raw_us:.2f} us per call")
    return ours_us / raw_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--elements", type=int, default=16 * MIB)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--backend", default="auto", choices=("auto", "gloo", "nccl"))
    options = parser.parse_args()
    add_ratio = bench_tensor_add(calls=20000, repeats=7)
    print(f"tensor_add ratio (torch::tensor_add / torch.add): {add_ratio:.2f}")
    with RankCluster(LaunchConfig(ranks=options.ranks, backend=options.backend, timeout_s=120)) as cluster:
        bench_memory(cluster, options.elements)
        ratio = bench_scatter(cluster, options.elements, options.repeats)
    print(f"scatter ratio (torch::distributed_scatter / dist.scatter): {ratio:.2f}")


if __name__ == "__main__":
    main()
