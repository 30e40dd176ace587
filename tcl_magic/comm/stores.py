"""The stores a board lives in, beside the shared-memory one of the launcher: a client (or
the server) of a TCP store, and the board's keys in it."""
from __future__ import annotations

import atexit
import queue
import socket
import threading
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


_STOP_S = 2.0
"""How long an ending process waits for its board's deleting thread to finish."""

_NO_VALUE = "\0"
"""What no key of the board holds: compare_set with it as the expected value reads a key in
one round trip (get is two: a wait, then the read)."""


class TcpBoardStore:
    """The board's keys in a TCP store (under "board/"), with the compound calls a shared
    store makes under one lock made of several calls, as few of them awaiting a reply as
    can be (a set or an append awaits none; an add, a read, a compare-and-set one each)."""

    def __init__(self, store: dist.Store):
        self._store = dist.PrefixStore("board", store)
        self._discarded: queue.SimpleQueue | None = None

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def discard(self, keys: Iterable[str]) -> None:
        """Delete garbage keys (nobody reads them again) later, on a thread with a client of
        its own: each delete is a round trip that the caller need not wait for."""
        if self._discarded is None:
            self._discarded = queue.SimpleQueue()
            thread = threading.Thread(target=_delete_forever, args=(self._store.clone(), self._discarded),
                                      name="board-discard", daemon=True)
            thread.start()
            atexit.register(_stop, self._discarded, thread)
        self._discarded.put(list(keys))

    def join_round(self, base: str, entry: str, expected: int, agreed: bytes, forget: Iterable[str] = (),
                   wait: bool = True, fresh_only: bool = False) -> tuple[int, bytes]:
        if fresh_only and self._store.check([base + "/verdict"]):  # (a failure set just after: read as such)
            return 0, b""
        self._store.append(base + "/slots", entry)  # before the count, on the same connection
        count = self._store.add(base + "/n", 1)
        if count != expected:
            return count, b""  # the waiter's get waits for the verdict
        proposed = agreed + self._store.compare_set(base + "/slots", _NO_VALUE, _NO_VALUE)
        verdict = self._store.compare_set(base + "/verdict", "", proposed)
        if verdict == proposed and forget:
            self.discard(forget)
        return count, verdict

    def await_key(self, key: str) -> bytes:
        return self._store.get(key)


def _delete_forever(store: dist.Store, discarded: queue.SimpleQueue) -> None:
    while (keys := discarded.get()) is not None:
        for key in keys:
            try:
                store.delete_key(key)
            except Exception:  # the store is gone (its world was destroyed): nothing left to tidy
                return


def _stop(discarded: queue.SimpleQueue, thread: threading.Thread) -> None:
    """At exit, end the thread so that its client closes before the interpreter ends: a
    client left to the end of the process aborted it ("terminate called without an active
    exception") about once in fifteen exits."""
    discarded.put(None)
    thread.join(timeout=_STOP_S)
