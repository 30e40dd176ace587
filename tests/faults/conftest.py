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
