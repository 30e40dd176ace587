"""The JSON a cell's view carries, for a scripted cell on 4 real gloo ranks: every rank's
output and tensors, and the timeline of its collectives and transfers in order, per rank,
with the late rank named as the one the others waited for."""
import json

import pytest

from tcl_magic import display, remote
from tcl_magic.supervise import CellSupervisor
from tcl_magic.view import MIME, VERSION, view_bundle

CELL = """
set data [torch::tensor_reshape [torch::arange -start 0 -end 30 -dtype float32] {10 3}]
if {[torch::get_rank] == 3} { after 300 }
set chunk [torch::distributed_scatter $data 0]
puts "rank [torch::get_rank] holds [lindex [torch::tensor_shape $chunk] 0] rows"
set back [torch::distributed_gather $chunk 0 -mode cat]
set total [torch::distributed_all_reduce [torch::ones {2}] sum]
if {[torch::get_rank] == 0} { torch::distributed_send [torch::ones {4}] 1 }
if {[torch::get_rank] == 1} { set got [torch::distributed_recv {4} 0] }
torch::distributed_barrier
"""


@pytest.fixture(scope="module")
def view(cluster_of):
    cluster = cluster_of(4)
    supervisor = CellSupervisor(cluster)
    cluster.run(remote.reset_session)
    results = supervisor.run(CELL).results
    assert all(r.ok for r in results), [r.error for r in results]
    table = display.tensor_table(results, ["chunk", "data", "got"])
    bundle = view_bundle(results, table, display.find_scatters(table, table))
    json.dumps(bundle[MIME])  # it is JSON as it stands: no tuples or objects that need converting
    return bundle


def test_the_view_names_every_rank_with_its_output_host_and_memory(view):
    data = view[MIME]
    assert data["version"] == VERSION and data["where"] == "cluster"
    assert [r["rank"] for r in data["ranks"]] == [0, 1, 2, 3]
    rows = [3, 3, 2, 2]
    for entry, count in zip(data["ranks"], rows):
        assert entry["output"] == [{"stream": "stdout", "text": f"rank {entry['rank']} holds {count} rows\n"}]
        assert entry["ok"] and entry["error"] is None and entry["device"] == "cpu" and entry["host"]
        assert entry["rss"] > 10 << 20 and entry["cuda"] is None
        assert 0 <= entry["start_ms"] < entry["end_ms"]


def test_the_table_holds_each_ranks_shape_and_the_values_of_small_tensors(view):
    variables = {v["name"]: v for v in view[MIME]["variables"]}
    chunk = variables["chunk"]
    assert chunk["differs"] and [c["shape"] for c in chunk["cells"]] == [[3, 3], [3, 3], [2, 3], [2, 3]]
    assert chunk["cells"][2]["stats"] == {"min": 18.0, "max": 23.0, "mean": 20.5}
    assert chunk["cells"][0]["bytes"] == 36 and chunk["cells"][0]["dtype"] == "Float32"
    assert [c is None for c in variables["got"]["cells"]] == [True, False, True, True]
    assert view[MIME]["scatters"] == [{"source": "data", "chunk": "chunk", "shape": [10, 3], "dtype": "Float32",
                                       "spans": [[0, 0, 3], [1, 3, 6], [2, 6, 8], [3, 8, 10]]}]


def test_the_timeline_lists_the_calls_in_order_with_who_kept_whom_waiting(view):
    calls = view[MIME]["calls"]
    # one line per call: the uneven gather's second round (its result's size is known only
    # after the first) is part of the call
    assert [c["op"] for c in calls] == ["distributed_scatter", "distributed_gather", "distributed_all_reduce",
                                        "distributed_send", "distributed_barrier"]
    scatter = calls[0]
    assert scatter["members"] == [0, 1, 2, 3] and scatter["last"] == 3
    by_rank = {e["rank"]: e for e in scatter["events"]}
    for rank in (0, 1, 2):  # rank 3 slept before the scatter: the others waited for it
        assert by_rank[rank]["waited_for"] == 3 and by_rank[rank]["arrived"] <= by_rank[3]["arrived"]
        assert by_rank[rank]["arrived"] <= by_rank[rank]["agreed"] <= by_rank[rank]["moved"] <= by_rank[rank]["left"]
    assert by_rank[3]["waited_for"] is None
    assert by_rank[0]["sent"] == 84 and by_rank[0]["received"] == 0  # rows 3-9 of 3 float32
    assert by_rank[2]["received"] == 24 and by_rank[2]["sent"] == 0
    gather = {e["rank"]: (e["sent"], e["received"]) for e in calls[1]["events"]}
    assert gather == {0: (0, 84), 1: (36, 0), 2: (24, 0), 3: (24, 0)}
    transfer = calls[3]
    assert [(e["rank"], e["op"], e["sent"], e["received"]) for e in transfer["events"]] == [
        (0, "distributed_send", 16, 0), (1, "distributed_recv", 0, 16)]
    assert transfer["group"] == "the transfer from rank 0 to rank 1 (tag 0)"
    for rank in range(4):  # each rank's calls in the order it made them
        mine = [c for c in calls if any(e["rank"] == rank for e in c["events"])]
        arrivals = [next(e for e in c["events"] if e["rank"] == rank)["arrived"] for c in mine]
        assert arrivals == sorted(arrivals)


def test_the_text_form_is_the_grouped_output_and_table_without_times(view):
    text = view["text/plain"]
    assert text.splitlines()[:4] == ["[rank 0] rank 0 holds 3 rows", "[rank 1] rank 1 holds 3 rows",
                                     "[rank 2] rank 2 holds 2 rows", "[rank 3] rank 3 holds 2 rows"]
    assert "chunk *" in text and "rows of data (10x3 Float32) held in chunk:" in text
    assert " ms" not in text and "rss" not in text


def test_a_data_parallel_step_counts_the_bytes_of_its_gradients(cluster_of):
    """DDP moves data inside calls that show no tensor: its timeline entries count the
    parameters it broadcast at the start and the gradients each backward pass averages."""
    cluster = cluster_of(2)
    cluster.run(remote.reset_session)
    results = CellSupervisor(cluster).run(
        "set model [torch::distributed_data_parallel [torch::linear 4 2]]\n"
        "torch::tensor_backward [torch::tensor_sum [torch::layer_forward $model [torch::ones {3 4}]]]\n").results
    assert all(r.ok for r in results), [r.error for r in results]
    weights = (4 * 2 + 2) * 4  # a 4x2 float32 weight and its bias
    for result in results:
        calls = {e.op: e for e in result.facts.events}
        assert (calls["tensor_backward"].sent, calls["tensor_backward"].received) == (weights, weights)
        assert calls["distributed_data_parallel"].sent == weights
