"""Every example of the scatter page, run as written on 4 real gloo ranks."""
import torch

from ranks import fresh, on_all, tcl_list, values
from seed_examples import ERROR_BLOCK, PRELUDE, blocks, error_statements

# On four ranks two examples cannot succeed as written, and must say why on every rank:
EXPECTED_ERRORS = {
    # `torch::distributedScatter $tensor 100`: there is no rank 100
    "Different Source Ranks": "invalid src parameter: rank 100 is not in the world (ranks 0-3)",
    # each rank names its left neighbour as the source: the ranks disagree
    "Ring Topology": "are not making the same call (rank 0: scatter src=3, rank 1: scatter src=0, "
                     "rank 2: scatter src=1, rank 3: scatter src=2)",
}


def test_every_block_on_four_ranks(cluster_of):
    cluster = cluster_of(4)
    fresh(cluster)
    values(cluster, PRELUDE)
    for heading, source in blocks():
        if heading == ERROR_BLOCK:
            continue
        results = on_all(cluster, source)
        for r in results:
            if heading in EXPECTED_ERRORS:
                assert r.error is not None and EXPECTED_ERRORS[heading] in r.error.message, (heading, r)
            else:
                assert r.error is None, f"{heading}, rank {r.rank}: {r.error.info}"
    check_basic_usage_chunks(cluster)
    check_scatter_gather_pattern(cluster)


def check_basic_usage_chunks(cluster):
    # {1 2 3 4} as 2x2 over four ranks: one row each for ranks 0 and 1, none for 2 and 3
    expected = ["1 2|1.0 2.0", "1 2|3.0 4.0", "0 2|", "0 2|"]
    for var in ("result1", "result2", "result3"):
        got = values(cluster, f'return "[torch::tensor_shape ${var}]|[torch::tensor_to_list ${var}]"')
        assert got == expected, var


def check_scatter_gather_pattern(cluster):
    # data is {1..8} as 4x2; each rank adds 1 to its row; rank 0 gathers the four rows
    got = values(cluster, 'return "[torch::tensor_shape $final_result]|[torch::tensor_to_list $final_result]"')
    rows = torch.arange(1, 9, dtype=torch.float32).reshape(4, 1, 2) + 1
    assert got[0] == f"4 1 2|{tcl_list(rows)}"
    assert got[1:] == ["0 1 2|"] * 3


def test_the_page_error_examples_on_four_ranks(cluster_of):
    cluster = cluster_of(4)
    fresh(cluster)
    values(cluster, PRELUDE + dict(blocks())["Basic Usage"])
    handling = [src for h, src in blocks() if h == "Error Handling"][0]
    for r in on_all(cluster, handling):
        assert r.text() == ("Error: invalid src parameter: -1 (a rank is >= 0)\n"
                            "Error: Invalid tensor handle: invalid_tensor (Invalid tensor name for tensor: "
                            "Tensor not found)\n")
    for statement, expected in error_statements(dict(blocks())[ERROR_BLOCK]):
        for r in on_all(cluster, statement):
            assert r.error is not None and r.error.message == expected, (statement, r.rank)
