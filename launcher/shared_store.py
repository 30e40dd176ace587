"""A key-value store in shared memory, for the processes of one host.

Why: the ranks tell each other what they are doing, and agree before every collective,
through a store. Every operation on the TCP store is a round trip through the caller's
server (~0.1-0.2 ms here); a collective's agreement takes several, which cost more than a
small collective itself. When every rank runs on the caller's host, they share this store
instead: an operation is a lock, a read and a write of a small table in a memory-mapped
file (a few microseconds), and a waiter sleeps on a socket of its own that a writer of
the keys it waits for wakes (a round's verdict comes in the wake-up itself).

It offers the calls of torch.distributed's stores that the ranks use (set, get, add,
compare_set, append, multi_get, check, wait, delete_key), with the same meaning: `get`,
`multi_get` and `wait` wait for missing keys up to the timeout, then raise DistStoreError.

Rows: a key `row/N` has one writer (a rank posting its own state, many times a cell), and is
read far more often than the table's other keys are waited for. Such a key lives in a
fixed row of its own, outside the table, written and read without the lock (a sequence
number per row, odd while its writer writes, lets a reader retry a torn read).

Crash safety: the table is written to the half of the file not in use, then a header
names the new half in one 8-byte write; the lock is an flock, which the kernel releases
when its holder dies. So a process killed at any instant leaves the last complete table.
One client serves one thread at a time (as a TCP store client does): give each thread
its own, like `SharedStore(path)` again.
"""
from __future__ import annotations

import contextlib
import fcntl
import itertools
import marshal
import mmap
import os
import select
import socket
import threading
import time
from datetime import timedelta
from typing import Iterable, Iterator

ROWS, ROW_SIZE = 1024, 2048
"""Keys `row/0` .. `row/1023` live in rows of this many bytes (a longer value: in the table)."""
ROW_PREFIX = "row/"
_ROWS_AT = 4096
_TABLE_AT = _ROWS_AT + ROWS * ROW_SIZE
SIZE = _TABLE_AT + (16 << 20)
"""Bytes of the file: a header, the rows, then two halves of which one holds the table."""
_HALF = (SIZE - _TABLE_AT) // 2
_WORD = 8
"""The table's header (which half is current | the length of its table << 32) and each row's
(its sequence number | its value's length << 32) are one aligned 8-byte word, written and
read in one machine access: a reader never sees half of one (struct.pack_into writes a
field byte by byte, so a reader could see a written row's sequence number as 0, "never
written", in the middle of a write)."""
_ROW_OF = {f"{ROW_PREFIX}{n}": n for n in range(ROWS)}
_IN_TABLE = 0xFFFFFFFF  # a row's length when its value was too long for it
_CARRIED = 16384
"""The longest value a wake-up carries (a datagram); a longer one is read from the table."""
_clients = itertools.count()


def _timeout_error(keys: Iterable[str], seconds: float):
    import torch.distributed as dist

    return dist.DistStoreError(f"wait timeout after {seconds * 1000:.0f}ms, keys: {', '.join(keys)}")


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


class SharedStore:
    """One client of the shared store at `path` (`create` makes the file)."""

    def __init__(self, path: str, timeout: timedelta = timedelta(minutes=5), create: bool = False):
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        self.path = path
        self._fd = os.open(path, flags, 0o600)
        if create:
            os.ftruncate(self._fd, SIZE)
        self._map = mmap.mmap(self._fd, SIZE)
        self._words = memoryview(self._map).cast("Q")
        self.timeout = timeout
        self._thread_lock = threading.Lock()
        # a waiter's wake-up socket, in the abstract namespace (no file to clean up)
        self._wake = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._address = f"\0torchtcl-store-{os.getpid()}-{next(_clients)}-{time.monotonic_ns()}"
        self._wake.bind(self._address)
        self._wake.setblocking(False)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError, BufferError):
            self._wake.close()
            self._words.release()
            self._map.close()
            os.close(self._fd)

    def unlink(self) -> None:
        """Remove the file (its clients keep working until they close)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    # --- the table ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _table(self, write: bool = True) -> Iterator[dict]:
        """The table under the lock; written back (with the waiters of changed keys woken)
        when `write`."""
        with self._thread_lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                header = self._words[0]
                half, length = header & 0xFFFFFFFF, header >> 32
                start = _TABLE_AT + half * _HALF
                table = marshal.loads(self._map[start:start + length]) if length else {"kv": {}, "waiters": {}}
                changed: set[str] = set()
                table["changed"] = changed
                yield table
                if write and changed:
                    self._wake_waiters(table, changed)
                    del table["changed"]
                    blob = marshal.dumps(table)
                    if len(blob) > _HALF:
                        raise RuntimeError(f"the shared store at {self.path} is full ({len(blob)} bytes)")
                    other = 1 - half
                    self._map[_TABLE_AT + other * _HALF:_TABLE_AT + other * _HALF + len(blob)] = blob
                    self._words[0] = other | len(blob) << 32
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _wake_waiters(self, table: dict, changed: set[str]) -> None:
        """Wake each waiter of a changed key. A waiter of one key that now has a short value
        gets the key and value in its wake-up (see await_key), so it need not take the lock
        to read them: a verdict wakes all the members of a round at once, and each reading
        it under the lock made them queue for it, one wake-up after another."""
        waiters, kv = table["waiters"], table["kv"]
        for address in [a for a, keys in waiters.items() if changed.intersection(keys)]:
            keys = waiters.pop(address)
            value = kv.get(keys[0]) if len(keys) == 1 else None
            message = b"!" if value is None or len(value) > _CARRIED else keys[0].encode() + b"\0" + value
            with contextlib.suppress(OSError):  # a waiter that is gone, or one already woken
                self._wake.sendto(message, address)

    @staticmethod
    def _put(table: dict, key: str, value: bytes) -> None:
        table["kv"][key] = value
        table["changed"].add(key)

    # --- rows ------------------------------------------------------------------------

    @staticmethod
    def _row(key: str) -> int | None:
        """The row of a `row/N` key, or None for a key of the table (looked up: every call
        of the store asks)."""
        return _ROW_OF.get(key)

    def _write_row(self, row: int, value: bytes) -> None:
        at = _ROWS_AT + row * ROW_SIZE
        word = at // _WORD
        seq = (self._words[word] & 0xFFFFFFFF) + 1
        seq += seq % 2 == 0  # odd while writing
        fits = len(value) <= ROW_SIZE - _WORD
        length = len(value) if fits else _IN_TABLE
        self._words[word] = seq | length << 32
        if fits:
            self._map[at + _WORD:at + _WORD + len(value)] = value
        else:
            with self._table() as table:
                self._put(table, ROW_PREFIX + str(row), value)
        self._words[word] = (seq + 1) | length << 32

    def _read_row(self, row: int) -> bytes | None:
        """The row's value (None: never written), read again while its writer was writing."""
        at = _ROWS_AT + row * ROW_SIZE
        word = at // _WORD
        while True:
            header = self._words[word]
            seq, length = header & 0xFFFFFFFF, header >> 32
            if seq == 0:
                return None
            if length == _IN_TABLE:
                with self._table(write=False) as table:
                    return table["kv"].get(ROW_PREFIX + str(row))
            if seq % 2 == 0:
                value = self._map[at + _WORD:at + _WORD + length]
                if self._words[word] == header:
                    return value
            time.sleep(0)

    # --- the calls ---------------------------------------------------------------------

    def set(self, key: str, value: str | bytes) -> None:
        row = self._row(key)
        if row is not None:
            return self._write_row(row, _as_bytes(value))
        with self._table() as table:
            self._put(table, key, _as_bytes(value))

    def add(self, key: str, amount: int) -> int:
        with self._table() as table:
            value = int(table["kv"].get(key, b"0")) + amount
            self._put(table, key, str(value).encode())
        return value

    def append(self, key: str, value: str | bytes) -> None:
        with self._table() as table:
            self._put(table, key, table["kv"].get(key, b"") + _as_bytes(value))

    def compare_set(self, key: str, expected: str | bytes, desired: str | bytes) -> bytes:
        """As torch's stores: set `desired` if the key holds `expected` (or is missing and
        `expected` is empty); returns the value the key holds afterwards."""
        expected, desired = _as_bytes(expected), _as_bytes(desired)
        with self._table() as table:
            current = table["kv"].get(key)
            if (current is None and not expected) or current == expected:
                self._put(table, key, desired)
                return desired
            return expected if current is None else current

    def check(self, keys: list[str]) -> bool:
        rows = [self._row(k) for k in keys]
        if all(r is not None for r in rows):
            return all(self._read_row(r) is not None for r in rows)
        with self._table(write=False) as table:
            return all(k in table["kv"] or (r is not None and self._read_row(r) is not None)
                       for k, r in zip(keys, rows))

    def delete_key(self, key: str) -> bool:
        return self.delete_keys([key]) == 1

    # --- compound calls: what takes several calls on a TCP store, under one lock ----------------

    def discard(self, keys: Iterable[str]) -> None:
        """Delete garbage keys (nobody reads them again): here at once, as a delete costs
        microseconds (a TCP board store deletes them on a thread of its own)."""
        self.delete_keys(list(keys))

    def delete_keys(self, keys: list[str]) -> int:
        """Delete the keys; how many there were."""
        with self._table() as table:
            return self._remove(table, keys)

    @staticmethod
    def _remove(table: dict, keys: Iterable[str]) -> int:
        found = [k for k in keys if table["kv"].pop(k, None) is not None]
        table["changed"].update(found)
        return len(found)

    def join_round(self, base: str, entry: str | bytes, expected: int, agreed: bytes, forget: Iterable[str] = (),
                   wait: bool = True, fresh_only: bool = False) -> tuple[int, bytes]:
        """Arrive in the round whose keys start with `base`, under one lock: append `entry` to
        `base/slots` and count it in `base/n`. The arrival that completes the round (the
        count is `expected`) sets `base/verdict` to `agreed` + the slots unless a verdict is
        there already, and, when it did, deletes the keys `forget`. Returns (the count, the
        round's verdict or b"" when it has none yet: then, with `wait`, this client is the
        verdict's waiter, and await_key sleeps without missing it). With `fresh_only`, a
        round that has a verdict already is left as it is: (0, b"")."""
        verdict_key, slots_key, count_key = base + "/verdict", base + "/slots", base + "/n"
        with self._table() as table:
            kv = table["kv"]
            verdict = kv.get(verdict_key, b"")
            if fresh_only and verdict:
                return 0, b""
            listed = kv.get(slots_key, b"") + _as_bytes(entry)
            count = int(kv.get(count_key, b"0")) + 1
            self._put(table, slots_key, listed)
            self._put(table, count_key, str(count).encode())
            if count == expected and not verdict:
                verdict = agreed + listed
                self._put(table, verdict_key, verdict)
                self._remove(table, forget)
            elif not verdict and wait:
                table["waiters"][self._address] = [verdict_key]
        return count, verdict

    def await_key(self, key: str) -> bytes:
        """The value of `key`, which join_round registered this client to wait for. Only for
        a key set once (a round's verdict): its value may come in the wake-up."""
        return self._wait([key], self.timeout.total_seconds(), read=True, registered=True, carried=True)[0]

    def get(self, key: str) -> bytes:
        return self.multi_get([key])[0]

    def multi_get(self, keys: list[str]) -> list[bytes]:
        rows = [self._row(k) for k in keys]
        if all(r is not None for r in rows):  # rows that exist are read without the lock
            values = [self._read_row(r) for r in rows]
            if all(v is not None for v in values):
                return values
        return self._wait(keys, self.timeout.total_seconds(), read=True)

    def wait(self, keys: list[str], timeout: timedelta | None = None) -> None:
        self._wait(keys, (timeout or self.timeout).total_seconds(), read=False)

    def set_timeout(self, timeout: timedelta) -> None:
        self.timeout = timeout

    def _wait(self, keys: list[str], seconds: float, read: bool, registered: bool = False,
              carried: bool = False) -> list[bytes]:
        """The keys' values once all exist: until then, sleep until a writer of one of them
        wakes this client (registered under the lock, so no write is missed; `registered`:
        the caller did so already, so the first look is a sleep). Rows have no waiters: a
        missing one is looked at again every millisecond. With `carried` (one key, set
        once), a wake-up that carries the key's value is the answer; any other wake-up
        (one left by an earlier wait included) means: look again."""
        deadline = time.monotonic() + seconds
        rows = {k: self._row(k) for k in keys}
        found: dict[str, bytes] = {}
        wanted = keys[0].encode() + b"\0" if carried else None  # how a wake-up carrying the value begins
        while True:
            if not registered:
                found = {k: v for k, r in rows.items() if r is not None and (v := self._read_row(r)) is not None}
                with self._table() as table:
                    kv = table["kv"]
                    missing = [k for k in keys if rows[k] is None and k not in kv]
                    if not missing and len(found) == sum(r is not None for r in rows.values()):
                        return [found[k] if k in found else kv[k] for k in keys] if read else []
                    if missing:
                        table["waiters"][self._address] = missing
                        table["changed"].add("")
            registered = False
            remaining = deadline - time.monotonic()
            pause = remaining if len(found) == sum(r is not None for r in rows.values()) else min(remaining, 0.001)
            if remaining > 0 and select.select([self._wake], [], [], max(pause, 0))[0]:
                with contextlib.suppress(BlockingIOError):
                    while message := self._wake.recv(_CARRIED + 1024):  # this wake-up, and any left by earlier waits
                        if wanted and message.startswith(wanted):
                            return [message[len(wanted):]]
            elif remaining <= 0 or pause == remaining:
                with self._table() as table:
                    if table["waiters"].pop(self._address, None) is not None:
                        table["changed"].add("")
                raise _timeout_error([k for k in keys if k not in found and k not in table["kv"]], seconds)
