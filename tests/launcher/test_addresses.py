"""Which address the caller's controller and store listen on, and which interface a rank's
gloo sockets use (pure functions over this machine's real interfaces)."""
import json
import os
import subprocess
import sys

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



def _run(code: str, env: dict) -> dict:
    """What a fresh Python process started with `env` prints as JSON after `code`."""
    done = subprocess.run([sys.executable, "-c", f"import json, os\n{code}"], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


CHILD = "from launcher.addresses import USER_IFNAMES; print(json.dumps(USER_IFNAMES))"
PARENT = ("from launcher.addresses import listen_on; listen_on('127.0.0.1'); "
          "print(json.dumps({k: v for k, v in os.environ.items() if 'IFNAME' in k}))")


def test_an_interface_chosen_by_a_parent_is_not_taken_for_the_users_choice():
    """A kernel that joined a world itself (torch::distributed_init: listen_on) and then starts
    engines: they inherit its environment, and must choose their own interface on their own
    host, not bind to the kernel's (which broke a later two-host Slurm cluster)."""
    base = {k: v for k, v in os.environ.items() if k not in ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME",
                                                             "TORCHTCL_DERIVED_IFNAME")}
    chosen = _run(PARENT, base)
    assert chosen == {"GLOO_SOCKET_IFNAME": "lo", "NCCL_SOCKET_IFNAME": "lo", "TORCHTCL_DERIVED_IFNAME": "lo"}
    assert _run(CHILD, {**base, **chosen}) == {}
    # a user's own choice stays, in the process and in those it starts
    own = _run(PARENT, {**base, "GLOO_SOCKET_IFNAME": "eth7"})
    assert own == {"GLOO_SOCKET_IFNAME": "eth7", "NCCL_SOCKET_IFNAME": "lo", "TORCHTCL_DERIVED_IFNAME": "lo"}
    assert _run(CHILD, {**base, **own}) == {"GLOO_SOCKET_IFNAME": "eth7"}
