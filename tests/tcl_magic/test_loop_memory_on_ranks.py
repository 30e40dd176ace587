"""Memory inside a loop on real ranks: a loop of scatters frees the chunks of its earlier
iterations while it runs, in the rank's own session (measured there by a probe command)."""
from benchmarks.rank_side import live_tensor_bytes_during
from tcl_magic.handles import SWEEP_BYTES
from tcl_magic import remote


LOOP = """
set data [torch::ones {10000000}]  ;# 40 MB on every rank; rank 0's is scattered
for {set i 0} {$i < 40} {incr i} {
    set chunk [torch::distributed_scatter $data 0]  ;# 20 MB on each of 2 ranks
    probe
}
"""


def test_a_loop_of_scatters_frees_earlier_chunks_while_it_runs(cluster_of):
    cluster = cluster_of(2)
    cluster.run(remote.reset_session)
    for error, peak in cluster.run(live_tensor_bytes_during, LOOP):
        assert error is None
        # reachable: data (40 MB) and the newest chunk (20 MB); then the sweep budget and one more chunk
        # (without sweeps inside the loop, the 40 chunks alone are 800 MB)
        assert peak <= 40e6 + 20e6 + SWEEP_BYTES + 20e6
