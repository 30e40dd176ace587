"""The shared-memory store across real processes: a row read while another process writes it
is always a whole value (its header is one machine word), and a round's waiter is woken
whatever it reads between joining the round and sleeping."""
import multiprocessing
from datetime import timedelta

from launcher.shared_store import SharedStore

WRITES = 40_000  # the row's sequence number passes 256 and 65,536 (a byte-wise write once read as 0)


def _write_row(path: str) -> None:
    store = SharedStore(path)
    for i in range(1, WRITES + 1):
        store.set("row/0", str(i) * (1 + i % 7))  # lengths change too
    store.close()


def _whole(value: str) -> bool:
    """One number n written as it is n % 7 + 1 times over, as _write_row writes it."""
    for times in range(1, 8):
        number = value[:len(value) // times]
        if number.isdigit() and number * times == value and int(number) % 7 + 1 == times:
            return True
    return False


def test_a_row_read_during_writes_is_always_a_whole_value(tmp_path):
    path = str(tmp_path / "rows.store")
    store = SharedStore(path, create=True)
    store.set("row/0", "0")
    writer = multiprocessing.get_context("fork").Process(target=_write_row, args=(path,))
    writer.start()
    reads = 0
    while writer.is_alive() or reads == 0:
        value = store.multi_get(["row/0"])[0].decode()
        assert value, "a written row read as missing"
        assert value == "0" or _whole(value), f"a torn row: {value!r}"
        reads += 1
    writer.join()
    assert writer.exitcode == 0
    assert store.get("row/0").decode() == str(WRITES) * (1 + WRITES % 7)
    assert reads > 100
    store.close()


def _complete_rounds(path: str, rounds: int) -> None:
    store = SharedStore(path)
    for r in range(rounds):
        store.wait([f"r{r}/ready"])
        store.join_round(f"r{r}", "1;", 2, b"+")
    store.close()


def test_a_waiter_that_reads_the_store_between_joining_and_sleeping_is_still_woken(tmp_path):
    # the wake-up of a round's verdict once went to a read made in between, and the waiter
    # slept until its timeout
    path = str(tmp_path / "rounds.store")
    store = SharedStore(path, create=True)
    store.set_timeout(timedelta(seconds=20))  # a lost wake-up: a timeout error
    for rank in range(3):
        store.set(f"row/{rank}", "state")
    rounds = 100
    peer = multiprocessing.get_context("fork").Process(target=_complete_rounds, args=(path, rounds))
    peer.start()
    for r in range(rounds):
        count, verdict = store.join_round(f"r{r}", "0;", 2, b"+")
        assert (count, verdict) == (1, b"")
        store.set(f"r{r}/ready", "1")  # the peer completes the round now, and wakes this client
        while not store.check([f"r{r}/verdict"]):
            pass
        # reads in between (a peer's state, the round's slots) leave the wake-up to the wait
        assert store.multi_get(["row/0", "row/1", "row/2"]) == [b"state"] * 3
        assert store.get(f"r{r}/slots") == b"0;1;"
        assert store.await_key(f"r{r}/verdict") == b"+0;1;"
    peer.join(20)
    assert peer.exitcode == 0
    store.close()
