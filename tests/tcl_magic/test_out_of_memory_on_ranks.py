"""A rank that cannot allocate a collective's result, on real ranks whose memory is really
limited (RLIMIT_AS of one engine's process): it refuses the call in the agreement round,
so every rank is told at once, nothing waits in gloo, and the process group stays whole."""
from __future__ import annotations

import sys

import pytest

from benchmarks.faults import HEADROOM, ROWS, memory_limited
from ranks import fresh, on_all, values

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="limits a process's address space")

# a result of ROWS float32 is 400 MB: far more than the limited rank may map (HEADROOM), even
# with what its allocators release while the cell runs (up to about 90 MB seen)
assert ROWS * 4 > HEADROOM + (200 << 20)
SHORT = 2
NOT_RUN = "not run: rank 2 of the world (ranks 0-3) reported an error for this call (see that rank's output)"


def assert_refused_by_rank_2(results, needed: int) -> None:
    by_rank = {r.rank: r for r in results}
    short = by_rank[SHORT].error
    assert short is not None and short.code == "TORCH MEMORY", short
    assert short.message.startswith(f"out of memory: could not allocate {needed / 2**20:.1f} MiB ({needed} bytes)"), \
        short.message
    for rank, r in by_rank.items():
        assert r.group_broken is None, (rank, r.group_broken)
        if rank != SHORT:
            assert r.error is not None and r.error.message == NOT_RUN, (rank, r.error)


def alike(shape: str, real_on: str = "0") -> str:
    """`t`: a tensor of `shape` on every rank, real on the ranks `real_on` names, elsewhere an
    expanded view that takes no memory (its shape and dtype are all a round sees)."""
    return (f"set t [expr {{[torch::get_rank] in {{{real_on}}} ? [torch::zeros {{{shape}}}] "
            f": [torch::tensor_expand [torch::ones {{1}}] {{{shape}}}]}}]\n")


THIRD = ROWS // 3 + 1
CASES = {
    # every rank's own tensor tells it the result it needs, before the round
    "scatter": (alike(f"4 {ROWS}") + "torch::distributed_scatter $t 0", ROWS * 4),
    "broadcast": (alike(str(ROWS)) + "torch::distributed_broadcast $t 0", ROWS * 4),
    "all_reduce": (alike(str(ROWS), real_on="") + "torch::distributed_all_reduce $t sum", ROWS * 4),
    # only the round tells rank 2 what it needs: a second round, after it tried
    "scatter to ranks holding a placeholder": (
        f"set t [expr {{[torch::get_rank] == 0 ? [torch::zeros {{4 {ROWS}}}] : [torch::zeros {{1}}]}}]\n"
        "torch::distributed_scatter $t 0", ROWS * 4),
    "gather of uneven chunks, concatenated on the limited rank": (
        f"set t [torch::zeros [expr {{[torch::get_rank] == 2 ? 1 : {THIRD}}}]]\n"
        "torch::distributed_gather $t 2 -mode cat", (3 * THIRD + 1) * 4),
}


@pytest.mark.parametrize("case", CASES)
def test_a_rank_out_of_memory_for_a_result_refuses_the_call_and_nothing_breaks(cluster_of, case):
    cluster = cluster_of(4)
    fresh(cluster)
    source, needed = CASES[case]
    with memory_limited(cluster.rank_pids()[SHORT]):
        results = on_all(cluster, source + "\nunset t")
    assert_refused_by_rank_2(results, needed)
    assert values(cluster, "torch::tensor_to_list [torch::distributed_all_reduce [torch::ones {1}] sum]") \
        == ["4.0"] * 4


def test_a_receive_that_cannot_allocate_is_refused_and_its_sender_told(cluster_of):
    cluster = cluster_of(4)
    fresh(cluster)
    source = (f"if {{[torch::get_rank] == 0}} {{torch::distributed_send [torch::zeros {{{ROWS}}}] 2}} "
              f"elseif {{[torch::get_rank] == 2}} {{torch::distributed_recv {{{ROWS}}} 0}}")
    with memory_limited(cluster.rank_pids()[SHORT]):
        sender, _, receiver, _ = on_all(cluster, source)
    assert receiver.error.code == "TORCH MEMORY", receiver.error
    assert receiver.error.message.startswith(f"out of memory: could not allocate 381.5 MiB ({ROWS * 4} bytes)")
    assert sender.error.message == ("not run: rank 2 reported an error for the transfer from rank 0 to rank 2 "
                                    "(tag 0) (see that rank's output)")
    assert sender.group_broken is None and receiver.group_broken is None
    assert values(cluster, "if {[torch::get_rank] == 0} {torch::distributed_send [torch::ones {2}] 2} "
                           "elseif {[torch::get_rank] == 2} {torch::tensor_to_list [torch::distributed_recv {2} 0]}") \
        == ["send_completed", "", "1.0 1.0", ""]
