"""A local cluster listens on loopback only: the store, the controller, every engine and gloo."""
import ipaddress
import os

import psutil

from tcl_magic import remote


def listening(pids) -> list[tuple[int, str, int]]:
    found = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            connections = getattr(process, "net_connections", process.connections)(kind="inet")
        except psutil.Error:
            continue
        found += [(pid, c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN]
    return found


def test_every_listening_socket_of_a_local_cluster_is_on_loopback(cluster_of):
    cluster = cluster_of(2)
    # a collective first, so gloo's pairs exist
    assert [r.result for r in cluster.run(remote.run_tcl, "torch::distributed_barrier")] == \
        ["Barrier synchronized: 2 ranks"] * 2
    sockets = listening([*cluster.local_pids, os.getpid()])
    ports = {port for _, _, port in sockets}
    store_port = cluster.control_store.port
    assert store_port in ports
    assert len(sockets) >= 3  # the store, the controller's sockets, and more
    assert all(ipaddress.ip_address(ip).is_loopback for _, ip, _ in sockets), sockets
