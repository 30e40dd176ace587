"""What the engine tests share: the demo they run, free ports, and every process a cluster
started on this machine (each carries its cluster's profile dir in IPP_PROFILE_DIR), to
check that a failed or stopped start left none behind, orphans included."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
DEMO = (ROOT / "examples" / "scatter_demo.tcl").read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
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
