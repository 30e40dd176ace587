"""Dispatch of a trivial %%torchtcl cell against ipyparallel's %%px on the same engines.

    python -m benchmarks.cell_dispatch --ranks 4 --repeats 200

One cluster, one IPython shell with both magics: `%%torchtcl` of `set x 1` (every rank
evaluates it in its Tcl session and the kernel shows the grouped result) and `%%px` of
`x = 1` (every engine executes it), interleaved; the ratio compares medians.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time


from IPython.core.interactiveshell import InteractiveShell

from launcher import LaunchConfig, RankCluster
from tcl_magic.magic import attach_cluster


def timed(run_cell, repeats: int) -> list[float]:
    times = []
    sink = io.StringIO()
    for _ in range(repeats):
        with contextlib.redirect_stdout(sink):
            start = time.perf_counter()
            run_cell()
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=200)
    options = parser.parse_args()
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("tcl_magic")
    with RankCluster(LaunchConfig(ranks=options.ranks, backend="gloo")) as cluster:
        attach_cluster(cluster, shell)
        cluster.client[[p.engine_id for p in cluster.placements]].activate()  # registers %%px on this shell
        tcl = lambda: shell.run_cell_magic("torchtcl", "", "set x 1")  # noqa: E731
        px = lambda: shell.run_cell_magic("px", "--block", "x = 1")  # noqa: E731
        timed(tcl, 20), timed(px, 20)  # warm up both paths
        ours, theirs = [], []
        for _ in range(options.repeats // 10):
            ours += timed(tcl, 10)
            theirs += timed(px, 10)
    ours_ms, theirs_ms = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
    print(f"trivial cell on {options.ranks} ranks, median of {len(ours)}: %%torchtcl {ours_ms:.2f} ms, "
          f"%%px {theirs_ms:.2f} ms")
    print(f"cell dispatch ratio (%%torchtcl / %%px): {ours_ms / theirs_ms:.2f}")


if __name__ == "__main__":
    main()
