"""Every torch:: collective against the raw torch.distributed call on the same ranks and data.

    python -m benchmarks.collectives --ranks 4 --elements 1024 --calls 100
    python -m benchmarks.collectives --ranks 4 --elements 16777216 --calls 1

Each collective runs interleaved with its raw twin on one cluster: `--calls` calls per
repeat, in a Tcl loop in one evaluation against a Python loop of the raw call (the cheapest
way a Python user makes the same calls). A repeat's time is the slowest rank's, each ratio
compares medians of the time per call. The raw twin returns a new tensor and leaves its
input as it was, as the torch:: command does (so all_reduce reduces a clone). Beside each
ratio: where a torch:: call's time went on rank 0 and rank 1, from their timelines (the
agreement round, moving data, and between calls: the Tcl loop, parsing, checks, handles).

A second baseline pays for a guarantee like ours: the raw call on a process group that
torch checks before every collective (TORCH_DISTRIBUTED_DEBUG=DETAIL: a monitored barrier,
then every member's call and shapes compared). `--no-checked` leaves it out.
`--tcp-board` has the ranks agree through the TCP store, as ranks on several hosts do.
"""
from __future__ import annotations

import argparse
import statistics


from benchmarks import rank_side
from benchmarks.scatter import MIB, slowest_rank_median
from launcher import LaunchConfig, RankCluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--elements", type=int, default=16 * MIB)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--calls", type=int, default=None,
                        help="calls per repeat (default: 100 under 1M elements, else 1)")
    parser.add_argument("--backend", default="auto", choices=("auto", "gloo", "nccl"))
    parser.add_argument("--only", nargs="*", choices=sorted(rank_side.TCL_CALLS), help="a subset of collectives")
    parser.add_argument("--no-checked", dest="checked", action="store_false",
                        help="leave out the baseline of torch's own checked collectives")
    parser.add_argument("--tcp-board", action="store_true",
                        help="agree through the TCP store, as ranks on several hosts do")
    options = parser.parse_args()
    ratios, against_checked = {}, {}
    calls = options.calls or (100 if options.elements < 1 << 20 else 1)
    config = LaunchConfig(ranks=options.ranks, backend=options.backend, timeout_s=300,
                          shared_board=not options.tcp_board)
    with RankCluster(config) as cluster:
        for name in options.only or rank_side.TCL_CALLS:
            per_rank = cluster.run(rank_side.collective_times, name, options.elements, options.repeats, calls,
                                   options.checked)
            ours, raw = slowest_rank_median(per_rank, "ours"), slowest_rank_median(per_rank, "raw")
            ratios[name] = ours / raw
            checked = ""
            if options.checked:
                theirs = slowest_rank_median(per_rank, "checked")
                against_checked[name] = ours / theirs
                checked = f"   checked {theirs * 1e3:8.2f} ms ({against_checked[name]:.2f})"
            print(f"{name:15s} torch:: {ours * 1e3:8.2f} ms   torch.distributed {raw * 1e3:8.2f} ms   "
                  f"ratio {ratios[name]:.2f}{checked}   {_where(per_rank)}", flush=True)
        setting = (f"{options.elements} float32 on {cluster.world_size} {cluster.backend} ranks, {calls} calls a "
                   f"repeat{', board in the TCP store' if options.tcp_board else ''}")
    if against_checked:
        listed = ", ".join(f"{name} {ratio:.2f}" for name, ratio in against_checked.items())
        print(f"against torch's checked collectives (TORCH_DISTRIBUTED_DEBUG=DETAIL), {setting}: {listed}")
    listed = ", ".join(f"{name} {ratio:.2f}" for name, ratio in ratios.items())
    print(f"collective ratios (torch:: / torch.distributed), {setting}: {listed}; "
          f"worst {max(ratios.values()):.2f}")


def _where(per_rank: list[dict]) -> str:
    """Where a torch:: call's time went, rank 0 then rank 1 (the root and a peer of the rooted
    collectives): medians over repeats of each rank's own medians, in microseconds."""
    parts = []
    for rank in (0, 1):
        stages = per_rank[rank]["stages"]
        parts.append(f"rank {rank}: " + " ".join(
            f"{stage} {statistics.median(s[stage] for s in stages) * 1e6:.0f}" for stage in ("round", "data", "between")))
    return "(us " + "; ".join(parts) + ")"


if __name__ == "__main__":
    main()
