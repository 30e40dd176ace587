"""Memory over many cells: the same cell again and again on every rank, as a user repeats it.

    python -m benchmarks.soak --ranks 4 --cells 1000 --elements 1000000

Each cell makes a fresh 1M-element source and scatters it (`set data [torch::rand ...];
set chunk [torch::distributed_scatter $data 0]`), through the same supervisor as the magic.
Every rank's resident memory is sampled every few cells; the slope of a least-squares line
through the second half of the run (after warm-up) is printed per rank, in MiB per cell.
The goal is below 0.1 MiB per cell: the old tensors are freed without tensor_free.
"""
from __future__ import annotations

import argparse

import psutil


from launcher import LaunchConfig, RankCluster
from tcl_magic.supervise import CellSupervisor

MIB = 1 << 20


def slope(points: list[tuple[int, float]]) -> float:
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    den = sum((x - mean_x) ** 2 for x, _ in points)
    return num / den if den else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--elements", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=20)
    options = parser.parse_args()
    source = (f"set data [torch::rand {{{options.elements}}}]\n"
              "set chunk [torch::distributed_scatter $data 0]\ntorch::tensor_numel $chunk")
    samples: dict[int, list[tuple[int, float]]] = {}
    with RankCluster(LaunchConfig(ranks=options.ranks, backend="gloo", timeout_s=60)) as cluster:
        supervisor = CellSupervisor(cluster)
        processes = {rank: psutil.Process(pid) for rank, pid in cluster.rank_pids().items()}
        for cell in range(1, options.cells + 1):
            results = supervisor.run(source).results
            if not all(r.ok for r in results):
                raise SystemExit(f"cell {cell} failed: {[r.error for r in results]}")
            if cell % options.every == 0:
                for rank, process in processes.items():
                    samples.setdefault(rank, []).append((cell, process.memory_info().rss / MIB))
    print(f"{options.cells} cells of a {options.elements}-element scatter on {options.ranks} ranks; "
          "resident memory slope over the second half, MiB per cell (goal: below 0.1):")
    for rank, points in sorted(samples.items()):
        late = points[len(points) // 2:]
        print(f"  rank {rank}: {slope(late):+.4f} MiB/cell (from {points[0][1]:.0f} MiB at cell {points[0][0]} "
              f"to {points[-1][1]:.0f} MiB at cell {points[-1][0]})")


if __name__ == "__main__":
    main()
