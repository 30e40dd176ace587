"""The stores a cluster serves its ranks from the caller's process.

The control store (a torch TCPStore) carries each generation's rendezvous and outlives
every rank; the message store is where ranks and the caller say what they are doing: a
SharedStore in the profile dir when every engine runs on this host (a few microseconds a
call), else the control store itself (a round trip each).
"""
from __future__ import annotations

import os
import time
from datetime import timedelta

from . import addresses
from .shared_store import SharedStore


class ClusterStores:
    """The stores of one generation of ranks (none until `serve`)."""

    def __init__(self) -> None:
        self.control = None
        self.address: tuple[str, int] | None = None
        self.shared: SharedStore | None = None

    def serve(self, address: str, timeout_s: float, profile_dir: str, all_here: bool) -> None:
        """The control store on `address` (the controller's: never on every interface); and,
        when `all_here`, the shared-memory store."""
        import torch.distributed as dist  # only here: the launcher imports torch when ranks start

        listener = addresses.listen_socket(address)
        port = listener.getsockname()[1]
        self.control = dist.TCPStore(  # it owns the socket from now on, and closes it when it stops
            address, port, None, True, timeout=timedelta(seconds=timeout_s),
            wait_for_workers=False, master_listen_fd=listener.detach(),
        )
        self.address = (address, port)
        if all_here:
            path = os.path.join(profile_dir, f"messages-{time.monotonic_ns()}.store")
            self.shared = SharedStore(path, timedelta(seconds=timeout_s), create=True)

    @property
    def message(self):
        return self.shared or self.control

    @property
    def shared_path(self) -> str | None:
        return self.shared.path if self.shared is not None else None

    def close(self) -> None:
        """Remove the shared store's file; the TCP server stops with its last reference."""
        if self.shared is not None:
            self.shared.close()
            self.shared.unlink()
        self.control, self.address, self.shared = None, None, None
