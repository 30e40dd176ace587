"""Back-to-back evaluations on real ranks, with nothing pacing them: each rank runs the next
cell as soon as it finished the last (the cells are queued on every engine at once), with
random delays on each rank, so a fast rank is often a cell ahead of a slow one. Every
value of about a thousand agreement rounds is checked, on the board in shared memory and
on the board in the TCP store (where ranks on several hosts meet)."""
from launcher import LaunchConfig, RankCluster
from tcl_magic import remote

CELLS = 80

CELL = r"""
expr {srand([torch::get_rank] * 7919 + %(cell)d)}
proc pause {} { if {rand() < 0.4} { after [expr {int(rand() * 3)}] } }
set world [torch::get_world_size]
set rank [torch::get_rank]
set src [expr {%(cell)d %% $world}]
set checks {}
for {set i 0} {$i < 3} {incr i} {
    pause
    set mine [torch::full {4} [expr {$rank + 1.0}]]
    lappend checks [torch::tensor_to_list [torch::distributed_all_reduce $mine sum]]
    pause
    set chunk [torch::distributed_scatter [torch::arange 0 [expr {2 * $world}] 1 float32] $src]
    lappend checks [torch::tensor_to_list $chunk]
    pause
    lappend checks [torch::tensor_to_list [torch::distributed_broadcast [torch::full {2} %(cell)d.0] $src]]
    torch::distributed_barrier
}
set checks
"""


def expected(rank: int, world: int, cell: int) -> str:
    total = float(world * (world + 1) // 2)
    reduced = " ".join([str(total)] * 4)
    chunk = f"{2.0 * rank} {2.0 * rank + 1}"
    broadcast = f"{float(cell)} {float(cell)}"
    return " ".join([f"{{{reduced}}} {{{chunk}}} {{{broadcast}}}"] * 3)


def test_a_thousand_rounds_in_back_to_back_cells_agree_on_every_value(cluster_of):
    cluster = cluster_of(4)
    cluster.run(remote.reset_session)
    _check_back_to_back(cluster, CELLS)


def test_back_to_back_rounds_on_the_tcp_store_agree_on_every_value():
    with RankCluster(LaunchConfig(ranks=4, backend="gloo", timeout_s=30, shared_board=False)) as cluster:
        assert cluster.message_store is cluster.control_store
        _check_back_to_back(cluster, CELLS // 2)


def _check_back_to_back(cluster, cells: int) -> None:
    queued = [cluster.run_async(remote.run_tcl, CELL % {"cell": c}) for c in range(cells)]
    for c, pending in enumerate(queued):
        for result in pending.get(timeout=120):
            assert result.error is None, f"cell {c}, rank {result.rank}: {result.error.info}"
            assert result.result == expected(result.rank, 4, c), f"cell {c}, rank {result.rank}"
