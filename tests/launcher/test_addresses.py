"""Which address the caller's controller and store listen on, and which interface a rank's
gloo sockets use (pure functions over this machine's real interfaces)."""
import pytest

from launcher import LaunchError
from launcher.addresses import caller_address, interface_of, local_addresses, route_source


def test_local_engines_listen_on_loopback():
    assert caller_address(None, "local", []) == "127.0.0.1"


def test_named_hosts_give_this_machines_address_on_the_route_to_the_first():
    assert caller_address(None, "ssh", ["localhost", "node2"]) == "127.0.0.1"
    assert caller_address(None, "mpi", ["127.0.0.1"]) == "127.0.0.1"
    outside = next((a for a in local_addresses() if not a.startswith("127.")), None)
    if outside is not None:  # the route to one of our own addresses starts at that address
        assert caller_address(None, "ssh", [outside]) == route_source(outside) == outside


def test_a_given_address_must_be_this_machines():
    assert caller_address("localhost", "ssh", ["node2"]) == "127.0.0.1"
    with pytest.raises(LaunchError, match=r"192\.0\.2\.123 is not an address of this machine \(its IPv4 addresses: "):
        caller_address("192.0.2.123", "ssh", [])
    with pytest.raises(LaunchError, match="does not resolve to an IPv4 address"):
        caller_address("no-such-host.invalid", "mpi", [])


def test_the_interface_of_an_address_is_the_one_that_holds_it():
    assert interface_of("127.0.0.1") == "lo"
    assert interface_of("127.0.0.2") == "lo"  # all of 127/8 is loopback
