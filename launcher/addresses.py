"""Which address each socket listens on: never every interface.

The caller's sockets (the controller, the control store) listen on one address of this
machine: loopback when every engine is here, else the address the engines reach it by.
Each rank's sockets (gloo's pairs, NCCL's bootstrap) listen on its host's address on the
route back to the caller, found by the rank itself. Sockets only a host's own processes
use (an engine's nanny, its monitor) stay on that host's loopback.
"""

from __future__ import annotations

import ipaddress
import os
import socket

import psutil

from .errors import LaunchError
from .terms import DERIVED_IFNAME, LOOPBACK_ADDR

SOCKET_IFNAME_VARS = ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME")
"""What gloo and NCCL read to pick the interface their sockets bind to."""
USER_IFNAMES = {v: os.environ[v] for v in SOCKET_IFNAME_VARS
                if os.environ.get(v) and os.environ[v] != os.environ.get(DERIVED_IFNAME)}
"""Interfaces this process's environment named for gloo or NCCL when it began: those win.
Not one that listen_on chose in a process this one was started from (a kernel that ran
torch::distributed_init itself, then started engines on other hosts)."""


def resolve(host: str) -> str:
    """The IPv4 address of a host name or address; LaunchError when it has none."""
    try:
        return socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    except (OSError, UnicodeError) as err:
        raise LaunchError(f"address {host!r} does not resolve to an IPv4 address ({err}); give an "
                          f"address of this machine that every engine host can reach.") from None


def route_source(destination: str) -> str:
    """This machine's address on the route to ``destination`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((destination, 9))
        return probe.getsockname()[0]


def is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


def interface_of(address: str) -> str:
    """The name of this machine's interface that holds ``address`` (loopback: ``lo``'s)."""
    for name, entries in psutil.net_if_addrs().items():
        if any(entry.family == socket.AF_INET and entry.address == address for entry in entries):
            return name
    if is_loopback(address):  # 127.0.0.0/8 is all on the loopback interface
        return next((name for name, entries in psutil.net_if_addrs().items()
                     if any(e.family == socket.AF_INET and is_loopback(e.address) for e in entries)), "lo")
    raise LaunchError(f"{address} is not an address of this machine (its IPv4 addresses: "
                      f"{', '.join(local_addresses())}); give one of them.")


def listen_on(address: str) -> None:
    """Have gloo's and NCCL's sockets listen on the interface holding ``address`` (this
    process's own choice, if its environment made one, stays)."""
    interface = interface_of(address)
    for variable in SOCKET_IFNAME_VARS:
        os.environ[variable] = USER_IFNAMES.get(variable) or interface
    os.environ[DERIVED_IFNAME] = interface


def local_addresses() -> list[str]:
    return sorted(entry.address for entries in psutil.net_if_addrs().values()
                  for entry in entries if entry.family == socket.AF_INET)


def caller_address(address: str | None, engines: str, hosts: list[str]) -> str:
    """Where the caller's controller and store listen.

    Given: that address (checked to be this machine's). Local engines: loopback. Named
    hosts (ssh, mpi): this machine's address on the route to the first one (loopback when
    the hosts are names of this machine). Otherwise (a hostfile, Slurm): the address this
    machine's name resolves to; a multi-host job whose name resolves to loopback passes
    ``address``.
    """
    if address is not None:
        chosen = resolve(address)
        interface_of(chosen)  # raises when it is not ours
        return chosen
    if engines == "local":
        return LOOPBACK_ADDR
    if hosts:
        return route_source(resolve(hosts[0]))
    return resolve(socket.gethostname())


def listen_socket(address: str) -> socket.socket:
    """A listening TCP socket on ``address`` and a free port."""
    try:
        return socket.create_server((address, 0), backlog=128)
    except OSError as err:
        raise LaunchError(f"cannot listen on {address}: {err}; give an address of this machine "
                          f"({', '.join(local_addresses())}).") from None
