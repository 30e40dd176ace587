"""The agreement round as a protocol, on in-process stores: ranks are threads, each with
its own Board, meeting on torch's in-memory HashStore, on a real TCP store (as ranks on
several hosts do) or on the shared-memory store. Many rounds, random delays, back-to-back
cells named by each rank on its own: every value is checked, and the keys left behind do
not grow with the rounds."""
import random
import threading
import time
from datetime import timedelta

import pytest
import torch.distributed as dist

from launcher.shared_store import SharedStore
from tcl_magic.comm.board import Board, BoardView
from tcl_magic.comm.rounds import RoundFailed, Verdict

WORLD = 4
PAIR = (1, 2)  # a second group, meeting in some rounds only


def hash_store(tmp_path):
    store = dist.HashStore()
    return lambda: store


def tcp_store(tmp_path):
    server = dist.TCPStore("127.0.0.1", 0, None, True, timeout=timedelta(seconds=30), wait_for_workers=False)
    return lambda: server and dist.TCPStore("127.0.0.1", server.port, None, False, timeout=timedelta(seconds=30))


def shared_store(tmp_path):
    path = str(tmp_path / "board.store")
    SharedStore(path, create=True).close()
    return lambda: SharedStore(path)


STORES = [hash_store, tcp_store, shared_store]


def run_ranks(connect, body, world=WORLD, timeout_s=20.0):
    """body(board, rank) on one thread per rank; the first exception of any rank is raised."""
    errors = []

    def main(rank):
        try:
            body(Board(connect(), rank, world, timeout_s, connect), rank)
        except BaseException as err:  # reported to the test below
            errors.append((rank, err))

    threads = [threading.Thread(target=main, args=(r,), daemon=True) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a rank is still waiting"
    if errors:
        raise errors[0][1]


@pytest.mark.parametrize("make", STORES)
def test_thousands_of_rounds_with_random_delays_agree_on_every_value(tmp_path, make):
    connect = make(tmp_path)
    cells, rounds = 60, 12

    def body(board, rank):
        rng = random.Random(rank)
        for c in range(cells):
            board.begin_cell(None)  # named by each rank's own count: no front end paces the cells
            for r in range(rounds):
                if rng.random() < 0.3:
                    time.sleep(rng.random() * 0.002)
                in_pair = (c + r) % 3 == 0
                if in_pair and rank in PAIR:
                    rows = board.agree("pair", "the pair", PAIR, "distributed_barrier", [0, 7, c, r, rank])
                    assert rows == [[0, 7, c, r, m] for m in PAIR]
                    board.post("run")
                rows = board.agree("world", "the world", range(WORLD), "distributed_barrier", [0, 0, c, r, rank])
                assert rows == [[0, 0, c, r, m] for m in range(WORLD)]
                board.post("run")
            if rng.random() < 0.5:
                time.sleep(rng.random() * 0.003)  # a slow rank still reads its last verdict
            board.end_cell("ok")

    run_ranks(connect, body)
    # per group: its last agreed round (3 keys); nothing of the 960 rounds before (a TCP
    # store's garbage is deleted on a thread of its own: soon, not at once)
    store, deadline = connect(), time.monotonic() + 10
    while _round_keys(store) != 2 * 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _round_keys(store) == 2 * 3


@pytest.mark.parametrize("make", STORES)
def test_a_rank_that_leaves_fails_the_round_on_every_member_naming_it_and_the_next_cell_agrees(tmp_path, make):
    connect = make(tmp_path)
    seen = {}

    def body(board, rank):
        board.begin_cell(None)
        if rank == 3:
            time.sleep(0.05)
            board.end_cell("error", "boom\nUsage: torch::boom x")  # peers quote the first line
        else:
            with pytest.raises(RoundFailed) as failure:
                board.agree("world", "the world", range(WORLD), "distributed_barrier", [0, 0])
            seen[rank] = str(failure.value)
            board.end_cell("error", str(failure.value))
        board.begin_cell(None)
        assert board.agree("world", "the world", range(WORLD), "distributed_barrier", [0, rank]) == \
            [[0, m] for m in range(WORLD)]
        board.end_cell("ok")

    run_ranks(connect, body)
    assert set(seen.values()) == {"not run: rank 3 left the cell with an error before calling "
                                  "distributed_barrier (its error: boom)"}


@pytest.mark.parametrize("make", STORES)
def test_the_first_failure_wins_and_every_member_reads_the_same_one(tmp_path, make):
    connect = make(tmp_path)
    verdicts = {}

    def body(board, rank):
        board.begin_cell("c1")
        if rank == 0:  # a front end that saw a deadlock, then a late interrupt: the first word wins
            view = BoardView(connect(), WORLD)
            while not all(s.phase == "wait" for r, s in view.states().items() if r != 0):
                time.sleep(0.001)
            first = view.fail_round("c1", "world", 1, Verdict("deadlock", why="deadlock: ranks 1-3 wait"))
            second = view.fail_round("c1", "world", 1, Verdict("interrupted", why="too late"))
            verdicts[0] = (first, second)
            board.end_cell("ok")
            return
        with pytest.raises(RoundFailed) as failure:
            board.agree("world", "the world", range(WORLD), "distributed_barrier", [0])
        verdicts[rank] = str(failure.value)
        board.end_cell("error", str(failure.value))

    run_ranks(connect, body)
    first, second = verdicts.pop(0)
    assert first == second == Verdict("deadlock", why="deadlock: ranks 1-3 wait")
    assert set(verdicts.values()) == {"deadlock: ranks 1-3 wait"}


def test_a_waiter_whose_timeout_runs_out_names_who_did_not_come(tmp_path):
    connect = shared_store(tmp_path)

    def body(board, rank):
        board.begin_cell("c1")
        if rank == 1:
            time.sleep(0.6)  # running Tcl, long past the others' timeout
            board.end_cell("ok")
            return
        with pytest.raises(RoundFailed) as failure:
            board.agree("world", "the world", range(2), "distributed_barrier", [0])
        assert str(failure.value) == ("timed out after 0.3 s waiting in distributed_barrier of the world "
                                      "for rank 1 (running Tcl)")

    run_ranks(connect, body, world=2, timeout_s=0.3)


def _round_keys(store) -> int:
    """How many keys of rounds a store holds (beside each rank's state and cell count)."""
    if isinstance(store, SharedStore):
        with store._table(write=False) as table:
            return sum(k.count("/") == 3 for k in table["kv"])
    return store.num_keys() - 2 * WORLD


def test_a_state_is_peeked_from_its_head_whoever_wrote_it(tmp_path):
    import json

    from tcl_magic.comm.states import peek

    path = str(tmp_path / "board.store")
    SharedStore(path, create=True).close()
    board = Board(SharedStore(path), 1, 2, 5.0, lambda: SharedStore(path))
    board.begin_cell('c"7')  # a cell name JSON must escape
    board.post("done", end="error", error='"phase": "wait" in the text of an error')
    assert peek(board.store.get("row/1")) == ('c"7', "done")
    board.post("wait", op="distributed_barrier", members=[0, 1], round=3)
    assert peek(board.store.get("row/1")) == ('c"7', "wait")
    # the front end writes the phase first (a dead or revived rank): parsed whole
    assert peek(json.dumps({"phase": "dead", "since": 1.0, "error": "killed"}).encode()) == ("", "dead")


def test_a_process_exits_cleanly_while_its_tcp_board_still_deletes_keys():
    """The TCP board deletes garbage on a thread with a client of its own; a process that
    ends while that thread still works must end normally (a client left to the end of the
    interpreter aborted the process: "terminate called without an active exception")."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import torch.distributed as dist
        from datetime import timedelta
        from tcl_magic.comm.stores import TcpBoardStore
        server = dist.TCPStore("127.0.0.1", 0, None, True, timeout=timedelta(seconds=30), wait_for_workers=False)
        board = TcpBoardStore(server)
        keys = [f"k{i}" for i in range(200)]
        for key in keys:
            board.set(key, "v")
        board.discard(keys)
        print("discarding", flush=True)
        """)
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert (done.returncode, done.stdout, done.stderr) == (0, "discarding\n", "")
