"""Shared fixtures: a fresh single-process session per test, clusters, an IPython shell."""
import pytest
from IPython.testing.globalipapp import start_ipython

from tcl_magic import TclSession
from tcl_magic.magic import magics_of


@pytest.fixture
def session():
    return TclSession()


@pytest.fixture
def tcl(session):
    """Evaluate Tcl in the session and return its result; a Tcl error fails with its message."""
    def run(source: str) -> str:
        result = session.eval(source)
        if result.error is not None:
            raise AssertionError(f"Tcl error: {result.error.info}")
        return result.result
    return run


@pytest.fixture
def tcl_error(session):
    """Evaluate Tcl that must fail; return the error message."""
    def run(source: str) -> str:
        result = session.eval(source)
        assert result.error is not None, f"expected a Tcl error from {source!r}, got {result.result!r}"
        return result.error.message
    return run


@pytest.fixture(scope="session")
def cluster_of():
    """Real gloo clusters on loopback, one per world size, shared by the whole test run."""
    from launcher import LaunchConfig, RankCluster

    started = {}

    def get(ranks: int):
        if ranks not in started:
            started[ranks] = RankCluster(LaunchConfig(ranks=ranks, backend="gloo", timeout_s=30)).start()
        return started[ranks]

    yield get
    for cluster in started.values():
        cluster.stop()


@pytest.fixture(scope="session")
def ip():
    shell = start_ipython()
    shell.extension_manager.load_extension("tcl_magic")
    return shell


@pytest.fixture
def magics(ip):
    """The magics with a fresh kernel session and no cluster; detached again afterwards."""
    found = magics_of(ip)
    found.attach(None)
    ip.run_line_magic("torchtcl", "reset")
    yield found
    found.attach(None)


@pytest.fixture
def cell(ip, magics):
    """Run a %%torchtcl cell: cell(body, options='') -> the magic's value."""
    def run(body: str, options: str = ""):
        return ip.run_cell_magic("torchtcl", options, body)
    return run
