"""A 4-rank cluster of the fault tests' own (they kill engines), attached to the magic."""
import pytest

from launcher import LaunchConfig, RankCluster

COLLECTIVE_TIMEOUT_S = 30


@pytest.fixture(scope="session")
def fault_cluster():
    cluster = RankCluster(LaunchConfig(ranks=4, backend="gloo", timeout_s=COLLECTIVE_TIMEOUT_S)).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def on_faults(magics, fault_cluster):
    """The magic runs cells on the fault cluster, every rank with a fresh session."""
    magics.attach(fault_cluster)
    magics.shell.run_line_magic("torchtcl", "reset")
    return fault_cluster


SUM_CELL = "torch::tensor_to_list [torch::distributed_all_reduce [torch::full {2} [expr {[torch::get_rank] + 1}]] sum]"


def assert_collectives_work(cell):
    """The next cell's collective gives the right value on every rank, with no restart."""
    assert cell(SUM_CELL, "--no-table") == {0: "10.0 10.0", 1: "10.0 10.0", 2: "10.0 10.0", 3: "10.0 10.0"}
