"""The shared-memory store across real processes: a row read while another process writes it
is always a whole value (its header is one machine word), a round's waiter is woken
whatever it reads between joining the round and sleeping, and its wake-up carries the
verdict: the waiter reads it without the lock, and never takes an earlier round's for it."""
import fcntl
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


def _complete_then_hold_the_lock(path: str, locked, got_it) -> None:
    store = SharedStore(path)
    store.wait(["r0/ready"])
    store.join_round("r0", "1;", 2, b"+")  # wakes the waiter
    with open(path, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # the table's lock, held until the waiter has its verdict
        locked.set()
        raise SystemExit(0 if got_it.wait(5) else 1)


def test_the_verdict_comes_in_the_wake_up_without_the_lock(tmp_path):
    # every member of a round wakes at its verdict: reading it under the lock made them
    # queue for the lock, one cross-core wake-up after another
    path = str(tmp_path / "carried.store")
    store = SharedStore(path, create=True)
    store.set_timeout(timedelta(seconds=20))
    context = multiprocessing.get_context("fork")
    locked, got_it = context.Event(), context.Event()
    peer = context.Process(target=_complete_then_hold_the_lock, args=(path, locked, got_it))
    peer.start()
    assert store.join_round("r0", "0;", 2, b"+") == (1, b"")
    store.set("r0/ready", "1")
    assert locked.wait(20)
    assert store.await_key("r0/verdict") == b"+0;1;"
    got_it.set()
    peer.join(30)
    assert peer.exitcode == 0, "the waiter waited for the lock: the verdict did not come in its wake-up"
    store.close()


def test_a_wake_up_left_by_an_earlier_round_is_not_taken_for_the_next_verdict(tmp_path):
    path = str(tmp_path / "stale.store")
    store, peer = SharedStore(path, create=True), SharedStore(path)
    store.set_timeout(timedelta(seconds=20))
    store.join_round("r0", "0;", 2, b"+")
    peer.join_round("r0", "1;", 2, b"+")  # wakes the waiter, which never waits: its wake-up stays
    assert store.join_round("r1", "0;", 2, b"+") == (1, b"")
    completer = multiprocessing.get_context("fork").Process(target=_complete_rounds_from, args=(path, 1))
    completer.start()
    assert store.await_key("r1/verdict") == b"+0;7;"  # not r0's "+0;1;"
    completer.join(20)
    assert completer.exitcode == 0
    store.close(), peer.close()


def _complete_rounds_from(path: str, first: int) -> None:
    store = SharedStore(path)
    store.join_round(f"r{first}", "7;", 2, b"+")
    store.close()
