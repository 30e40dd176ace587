"""The stores a board lives in, beside the shared-memory one of the launcher: a client (or
the server) of a TCP store, and the board's keys in it."""
from __future__ import annotations

import socket
from datetime import timedelta
from typing import Iterable

import torch.distributed as dist


def connect_store(host: str, port: int, timeout_s: float, serve: bool = False,
                  world_size: int | None = None) -> dist.TCPStore:
    """A client of the TCP store at host:port (or, with serve, the store itself, listening
    on that address only: not on every interface)."""
    listener = None
    if serve:
        listener = socket.create_server((host, port), backlog=128)
    return dist.TCPStore(host, port, world_size, serve, timeout=timedelta(seconds=timeout_s),
                         wait_for_workers=world_size is not None,
                         master_listen_fd=listener.detach() if listener else None)


class TcpBoardStore:
    """The board's keys in a TCP store (under "board/"), with the compound calls a shared
    store makes under one lock made of several calls."""

    def __init__(self, store: dist.Store):
        self._store = dist.PrefixStore("board", store)

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def delete_keys(self, keys: list[str]) -> int:
        return sum(bool(self._store.delete_key(k)) for k in keys)

    def join_round(self, base: str, entry: str, expected: int, agreed: bytes, forget: Iterable[str] = (),
                   wait: bool = True, fresh_only: bool = False) -> tuple[int, bytes]:
        if fresh_only and self._store.check([base + "/verdict"]):  # (a failure set just after: read as such)
            return 0, b""
        self._store.append(base + "/slots", entry)
        count = self._store.add(base + "/n", 1)
        if count != expected:
            return count, b""  # the waiter's get waits for the verdict
        proposed = agreed + self._store.get(base + "/slots")
        verdict = self._store.compare_set(base + "/verdict", "", proposed)
        if verdict == proposed:
            self.delete_keys(list(forget))
        return count, verdict

    def await_key(self, key: str) -> bytes:
        return self._store.get(key)
