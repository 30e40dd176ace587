"""An IPython shell with the extension loaded, for driving the magics with run_cell_magic."""
import pytest
from IPython.testing.globalipapp import start_ipython

from tcl_magic.magic import magics_of


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
