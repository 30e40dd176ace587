"""What the engine tests share: the demo they run and compare with local engines, free
ports, waiting for a condition, and every process a cluster started on this machine (each carries its cluster's profile dir in IPP_PROFILE_DIR), to
check that a failed or stopped start left none behind, orphans included."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Callable

import psutil

from tcl_magic import remote

ROOT = Path(__file__).resolve().parents[2]
DEMO = (ROOT / "examples" / "scatter_demo.tcl").read_text()


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def cluster_processes() -> set[int]:
    found = set()
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and "IPP_PROFILE_DIR" in process.environ() \
                    and process.status() != psutil.STATUS_ZOMBIE:
                found.add(process.pid)
        except psutil.Error:
            continue
    return found


def demo(cluster) -> list:
    """The scatter demo run on every rank of the cluster."""
    return cluster.run(remote.run_tcl, DEMO, "scatter_demo.tcl", [], timeout=120)


def assert_same_as_local(ours: list, cluster_of) -> None:
    """What every rank printed (and any error) is what local engines give."""
    assert [(r.text(), r.error) for r in ours] == [(r.text(), r.error) for r in demo(cluster_of(len(ours)))]


def eventually(condition: Callable[[], bool], timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()
