"""What every fault test checks afterwards: the cluster still computes right."""


SUM_CELL = "torch::tensor_to_list [torch::distributed_all_reduce [torch::full {2} [expr {[torch::get_rank] + 1}]] sum]"


def assert_collectives_work(cell):
    """The next cell's collective gives the right value on every rank, with no restart."""
    assert cell(SUM_CELL, "--no-table") == {0: "10.0 10.0", 1: "10.0 10.0", 2: "10.0 10.0", 3: "10.0 10.0"}
