"""The Tcl-to-torch bridge: torch::tensor_add on 4-element tensors in a Tcl loop, against
the cheapest Python loop that does the same, a `torch.add` per iteration.

    python -m benchmarks.bridge --calls 20000 --repeats 7

Two ways, each against its Python twin: results dropped (`torch::tensor_add $a $b`, whose
handles are freed by the sweeps, against `torch.add(a, b)`), and results kept (`lappend kept
[torch::tensor_add $a $b]` against `kept.append(torch.add(a, b))`). Then the per-call cost
with 100,000 live handles, against a fresh session: it should not grow.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import time


import torch

from tcl_magic import TclSession

A, B = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([4.0, 3.0, 2.0, 1.0])


def tcl_per_call(session: TclSession, body: str, calls: int) -> float:
    session.set_variable("a", A)
    session.set_variable("b", B)
    session.eval("set kept {}")
    gc.collect()
    start = time.perf_counter()
    result = session.eval(f"for {{set i 0}} {{$i < {calls}}} {{incr i}} {{{body}}}")
    elapsed = time.perf_counter() - start
    assert result.error is None, result.error.info
    session.eval("unset kept")
    return elapsed / calls


def python_per_call(calls: int, keep: bool) -> float:
    kept = []
    gc.collect()
    start = time.perf_counter()
    if keep:
        for _ in range(calls):
            kept.append(torch.add(A, B))
    else:
        for _ in range(calls):
            torch.add(A, B)
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args()
    session = TclSession()
    for keep, body in ((False, "torch::tensor_add $a $b"), (True, "lappend kept [torch::tensor_add $a $b]")):
        ours, theirs = [], []
        for _ in range(options.repeats):
            ours.append(tcl_per_call(session, body, options.calls))
            theirs.append(python_per_call(options.calls, keep))
        ours_us, theirs_us = statistics.median(ours) * 1e6, statistics.median(theirs) * 1e6
        how = "kept" if keep else "dropped"
        print(f"tensor_add, results {how}: torch::tensor_add {ours_us:.2f} us per call, Python torch.add "
              f"{theirs_us:.2f} us per call; ratio {ours_us / theirs_us:.2f}")
    fresh = statistics.median(tcl_per_call(session, "torch::tensor_add $a $b", options.calls)
                              for _ in range(options.repeats))
    session.eval("set many {}; for {set i 0} {$i < 100000} {incr i} {lappend many [torch::ones {1}]}")
    crowded = statistics.median(tcl_per_call(session, "torch::tensor_add $a $b", options.calls)
                                for _ in range(options.repeats))
    print(f"with 100000 live handles: {crowded * 1e6:.2f} us per call, fresh: {fresh * 1e6:.2f} us; "
          f"ratio {crowded / fresh:.2f}")


if __name__ == "__main__":
    main()
