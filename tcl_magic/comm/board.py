"""The board: what every rank is doing, in a store that every rank and the front end share,
and the agreement round that every collective starts with.

Why: a gloo collective blocks in C until every member joins it. A member that never joins
(it failed earlier, skipped the call, was interrupted, died) would hold the others until
the timeout and leave the process group broken. So the agreement round runs on the board,
not on the process group: each member posts its state and its slot, then waits for the
round's verdict key. The last member to arrive sets it to "ok"; anybody who learns that the
round cannot complete sets it to a failure first (compare-and-set: the first word wins):
a member that leaves the cell, a rank's interrupt watcher, the front end that saw a rank
die or a deadlock, or a waiter whose timeout ran out. No gloo operation starts before every
member has agreed, so a failed round leaves the process group healthy.

Ordering makes this race-free: a waiter posts "waiting" before it reads its peers' states,
and a leaving rank posts "done" before it reads the waiters', and one store serves both,
so at least one of them sees the other.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Sequence

import torch.distributed as dist

OK = "ok"
# how a rank's cell ended, as its peers describe it
ENDINGS = {
    "ok": "finished the cell without calling {op}",
    "error": "left the cell with an error before calling {op} (its error: {error})",
    "exit": "called exit {error} before calling {op}",
    "interrupted": "was interrupted before calling {op}",
}


class RoundFailed(Exception):
    """An agreement round that cannot complete; the message says why, naming the ranks."""

    def __init__(self, message: str, interrupted: bool = False):
        super().__init__(message)
        self.interrupted = interrupted


@dataclass(frozen=True)
class RankState:
    """One rank's line on the board."""

    rank: int
    cell: str = ""
    phase: str = "idle"  # idle, run, wait, data, done, dead
    since: float = 0.0
    op: str = ""
    group: str = ""  # the group's board key
    label: str = ""  # the group as people read it: 'the world (ranks 0-3)'
    members: tuple[int, ...] = ()
    round: int = 0
    end: str = ""  # with phase done: ok, error, exit, interrupted
    error: str = ""

    @classmethod
    def parse(cls, rank: int, raw: bytes | None) -> "RankState":
        if not raw:
            return cls(rank)
        facts = json.loads(raw)
        facts["members"] = tuple(facts.get("members", ()))
        return cls(rank=rank, **facts)

    def waits_in(self, cell: str, group: str, round_: int) -> bool:
        return self.phase == "wait" and (self.cell, self.group, self.round) == (cell, group, round_)

    def doing(self, cell: str, op: str = "it") -> str:
        """What this rank is doing, seen from a rank that waits for it in `cell`."""
        if self.phase == "dead":
            return f"died ({self.error})" if self.error else "died"
        if self.cell != cell or self.phase == "idle":
            return "has not started the cell"
        if self.phase == "done":
            return ENDINGS.get(self.end, ENDINGS["ok"]).format(op=op, error=self.error)
        if self.phase == "wait":
            return f"is waiting in {self.op} of {self.label}"
        if self.phase == "data":
            return f"is moving data in {self.op} of {self.label}"
        return "is running Tcl"

    def gone(self, cell: str) -> bool:
        """Left `cell` for good (or died): it will join no more rounds of it."""
        return self.phase == "dead" or (self.phase == "done" and self.cell == cell)


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


def round_key(cell: str, group: str, round_: int) -> str:
    return f"{cell}/{group}/{round_}"


def state_key(rank: int) -> str:
    return f"state/{rank}"


def format_ranks(ranks: Sequence[int]) -> str:
    """`0-3`, `0,2`: rank lists as people read them."""
    ranks = sorted(ranks)
    if len(ranks) > 2 and ranks == list(range(ranks[0], ranks[-1] + 1)):
        return f"{ranks[0]}-{ranks[-1]}"
    return ",".join(map(str, ranks))


def rank_words(ranks: Sequence[int]) -> str:
    return f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {format_ranks(ranks)}"


def describe(states: dict[int, RankState], ranks: Sequence[int], cell: str, op: str = "it",
             aside: bool = False) -> list[str]:
    """'rank 3 is running Tcl' (or, aside, 'rank 3 (running Tcl)'), one phrase per distinct
    activity of the ranks."""
    by_doing: dict[str, list[int]] = {}
    for rank in ranks:
        by_doing.setdefault(states.get(rank, RankState(rank)).doing(cell, op), []).append(rank)
    if aside:
        return [f"{rank_words(ranks)} ({doing.removeprefix('is ')})" for doing, ranks in by_doing.items()]
    return [f"{rank_words(ranks)} {doing if len(ranks) == 1 else _plural(doing)}" for doing, ranks in by_doing.items()]


def not_arrived(states: dict[int, RankState], waiting: RankState) -> list[int]:
    """The members of the round `waiting` waits in that are not waiting in it too."""
    return [m for m in waiting.members
            if not states.get(m, RankState(m)).waits_in(waiting.cell, waiting.group, waiting.round)]


def _plural(doing: str) -> str:
    verb, _, rest = doing.partition(" ")
    return f"{ {'is': 'are', 'has': 'have'}.get(verb, verb)} {rest}"


class BoardView:
    """The board as anybody reads and writes it: states, verdicts, dead ranks."""

    def __init__(self, store: dist.Store, world_size: int):
        self.store = dist.PrefixStore("board", store)
        self.world_size = world_size
        self._all_posted = False  # once every rank's state exists (none is ever deleted)

    def states(self, ranks: Sequence[int] | None = None) -> dict[int, RankState]:
        ranks = list(range(self.world_size)) if ranks is None else list(ranks)
        keys = [state_key(r) for r in ranks]
        if self._all_posted or self.store.check([state_key(r) for r in range(self.world_size)]):
            self._all_posted = True
            raws = self.store.multi_get(keys)
        else:  # a rank that has not posted yet: read the others one by one
            raws = [self.store.get(k) if self.store.check([k]) else None for k in keys]
        return {r: RankState.parse(r, raw) for r, raw in zip(ranks, raws)}

    def fail_round(self, cell: str, group: str, round_: int, why: str) -> str:
        """Set the round's verdict to a failure unless it has one; returns the verdict."""
        key = round_key(cell, group, round_) + "/verdict"
        return self.store.compare_set(key, "", f"fail {why}").decode()

    def release(self, gone_rank: int, why: str = "left") -> None:
        """Fail every round someone waits in that needs `gone_rank`: it will never arrive."""
        for state in self.states().values():
            if state.phase == "wait" and gone_rank in state.members:
                self.fail_round(state.cell, state.group, state.round, f"{why} {gone_rank}")

    def mark_dead(self, rank: int, why: str) -> None:
        """A rank whose process ended: its peers stop waiting for it at once."""
        self.store.set(state_key(rank), json.dumps({"phase": "dead", "since": time.time(), "error": why}))
        self.release(rank, "dead")

    def new_cell(self) -> str:
        """A cell name no earlier cell of this store had, for a front end to give every rank."""
        return f"c{self.store.add('cells', 1)}"

    def revive(self, rank: int) -> None:
        """A fresh engine took a dead rank's place: it is idle until its first cell."""
        self.store.set(state_key(rank), json.dumps({"phase": "idle", "since": time.time()}))

    def blocked_rounds(self, running: Sequence[int]) -> dict[tuple[str, str, int], list[int]] | None:
        """When every running rank waits in a round that a member waiting elsewhere holds up
        (ranks calling collectives in different orders): those rounds and their waiters."""
        states = self.states()
        rounds: dict[tuple[str, str, int], list[int]] = {}
        for rank in running:
            state = states[rank]
            if state.phase != "wait":
                return None
            rounds.setdefault((state.cell, state.group, state.round), []).append(rank)
        for (cell, group, round_), waiters in rounds.items():
            members = states[waiters[0]].members
            if all(states[m].waits_in(cell, group, round_) for m in members):
                return None  # this one completes
            if any(m not in running and not states[m].gone(cell) for m in members):
                return None
        return rounds or None


class Board(BoardView):
    """This rank's side of the board: its state, and the agreement rounds it joins."""

    def __init__(self, store: dist.Store, rank: int, world_size: int, timeout_s: float,
                 connect: Callable[[], dist.Store]):
        super().__init__(store, world_size)
        self.rank, self.timeout_s = rank, timeout_s
        self._connect = connect  # a second client, for other threads (one client serves one at a time)
        self._side: BoardView | None = None
        self.cell = ""
        self._rounds: dict[str, int] = {}  # group -> rounds joined in this cell
        self._failed: list[str] = []  # rounds of this cell that failed: nobody deletes their keys on the way
        self._waiting: RankState | None = None  # the round this rank waits in, for the interrupt watcher
        self._lock = threading.Lock()
        self.phase = "idle"
        self.interrupted_while: str | None = None  # what this rank was doing when interrupted
        self.post("idle")

    def post(self, phase: str, **facts) -> None:
        """This rank's state (a set: one message, no reply awaited)."""
        self.phase = phase
        self.store.set(state_key(self.rank), json.dumps({"cell": self.cell, "phase": phase,
                                                          "since": time.time(), **facts}))

    # --- the cell -----------------------------------------------------------------------

    def begin_cell(self, cell: str | None, running: Sequence[int] | None = None) -> None:
        """A new cell: `cell` names it alike on every rank. Front ends give one; without, a
        rank counts its cells in the store, which outlives its sessions (so names never
        repeat), one count for the whole world and one for each part of it that runs cells."""
        if cell is None:
            part = "all" if running is None else format_ranks(running)
            cell = f"{part}.{self.store.add(f'cells/{part}/{self.rank}', 1)}"
        self._forget_cell()
        self.cell, self._rounds, self.interrupted_while = cell, {}, None
        self.post("run")

    def end_cell(self, end: str, error: str = "") -> None:
        """Say how the cell ended, and free whoever waits for this rank in a round."""
        if self.interrupted_while is not None:
            end = "interrupted"
        self.post("done", end=end, error=error[:500])
        self.release(self.rank)

    def _forget_cell(self) -> None:
        """The last rounds of the previous cell are nobody's any more: free their keys."""
        for group, last in self._rounds.items():
            for round_ in (last - 1, last):
                self._delete_round(round_key(self.cell, group, round_))
        for base in self._failed:
            self._delete_round(base)
        self._failed = []

    def _delete_round(self, base: str) -> None:
        for suffix in ("/slots", "/n", "/verdict"):
            self.store.delete_key(base + suffix)

    # --- the agreement round ---------------------------------------------------------------

    def agree(self, group: str, label: str, members: Sequence[int], op: str, slot: Sequence[int]) -> list[list[int]]:
        """Every member's slot, in member order, once all have posted theirs; RoundFailed if
        the round cannot complete (a member left, died, is interrupted or never comes)."""
        round_ = self._rounds.get(group, 0) + 1
        self._rounds[group] = round_
        base = round_key(self.cell, group, round_)
        self.post("wait", op=op, group=group, label=label, members=list(members), round=round_)
        self.store.append(base + "/slots", f"{self.rank}:{','.join(map(str, slot))};")
        if self.store.add(base + "/n", 1) == len(members):
            verdict = self.store.compare_set(base + "/verdict", "", OK).decode()
            slots = self.store.get(base + "/slots") if verdict == OK else b""
            if round_ > 2:  # every member is past round-2: its keys are garbage
                self._delete_round(round_key(self.cell, group, round_ - 2))
        else:
            verdict, slots = self._await(base, members)
        if verdict != OK:
            self._failed.append(base)
            message = self._explain(verdict, op)
            self.post("run")
            raise RoundFailed(message, verdict.startswith("fail interrupted "))
        self.post("data", op=op, group=group, label=label, members=list(members), round=round_)
        return self._slots(slots, members)

    def _await(self, base: str, members: Sequence[int]) -> tuple[str, bytes]:
        """The round's verdict and, when it is ok, every member's slot. (A member seen gone
        may have completed the round and left: the compare-and-set then answers "ok".)"""
        verdict_key = base + "/verdict"
        states = self.states(members)
        gone = [m for m, state in states.items() if state.gone(self.cell)]
        if gone:
            verdict = self.store.compare_set(verdict_key, "", f"fail left {','.join(map(str, gone))}").decode()
            return verdict, self.store.get(base + "/slots") if verdict == OK else b""
        self._waiting, verdict, slots = states[self.rank], None, b""
        try:
            verdict = self._verdict(verdict_key, states)
            if verdict in (None, OK):
                raw, slots = self.store.multi_get([verdict_key, base + "/slots"])
                verdict = raw.decode()
        finally:
            with self._lock:  # the interrupt watcher reads both
                self._waiting = None
                if verdict is not None and verdict.startswith("fail interrupted ") and self.interrupted_while is None:
                    # another member's interrupt came first: this rank's own comes in a moment
                    self.interrupted_while = verdict.removeprefix("fail interrupted interrupted while ")
        return verdict, slots

    def _verdict(self, verdict_key: str, states: dict[int, RankState]) -> str | None:
        """A failure this rank sets, or None once the verdict is there to read."""
        if self.interrupted_while is not None:  # the watcher came just before, as this rank began to wait
            doing = self._waiting_for(self, states[self.rank])
            with self._lock:  # so this rank's own report says so too, not "running Tcl"
                self.interrupted_while = doing
            return self.store.compare_set(verdict_key, "", f"fail interrupted interrupted while {doing}").decode()
        try:
            self.store.wait([verdict_key], timedelta(seconds=self.timeout_s))
        except dist.DistStoreError:
            why = f"timed out after {self.timeout_s:g} s {self._waiting_for(self, self._waiting)}"
            return self.store.compare_set(verdict_key, "", f"fail timeout {why}").decode()
        return None

    def _explain(self, verdict: str, op: str) -> str:
        """The failed round's first cause, as every member words it."""
        kind, _, detail = verdict.removeprefix("fail ").partition(" ")
        if kind in ("left", "dead"):
            ranks = [int(r) for r in detail.split(",")]
            return f"not run: {'; '.join(describe(self.states(ranks), ranks, self.cell, op))}"
        return detail  # deadlock, timeout, interrupted: worded where it was seen

    @staticmethod
    def _waiting_for(view: BoardView, waiting: RankState, at_interrupt: bool = False) -> str:
        """'waiting in distributed_barrier of the world (ranks 0-3) for rank 3 (running Tcl)'.
        Who arrived is read from the round's slots, which stay when a member leaves the
        round; at an interrupt, which reaches every rank at once, a peer that the same
        interrupt already stopped was running Tcl when it came."""
        base = round_key(waiting.cell, waiting.group, waiting.round)
        arrived = {int(entry.partition(":")[0]) for entry in view.store.get(base + "/slots").decode().split(";") if entry}
        absent = [m for m in waiting.members if m not in arrived]
        states = view.states(absent) if absent else {}
        if at_interrupt:
            states = {r: RankState(r, waiting.cell, "run") if s.phase == "done" and s.end == "interrupted"
                      and s.cell == waiting.cell else s for r, s in states.items()}
        phrases = describe(states, absent, waiting.cell, waiting.op, aside=True)
        return f"waiting in {waiting.op} of {waiting.label}" + (f" for {'; '.join(phrases)}" if phrases else "")

    @staticmethod
    def _slots(raw: bytes, members: Sequence[int]) -> list[list[int]]:
        by_rank = {}
        for entry in raw.decode().rstrip(";").split(";"):
            rank, _, values = entry.partition(":")
            by_rank[int(rank)] = [int(v) for v in values.split(",")] if values else []
        return [by_rank[m] for m in members]

    # --- from other threads -------------------------------------------------------------------

    def interrupt(self) -> None:
        """Called by the interrupt watcher: fail the round this rank waits in, if any, and
        remember what the rank was doing, for its report."""
        with self._lock:
            waiting = self._waiting
            if waiting is None:
                if self.interrupted_while is None:
                    self.interrupted_while = "moving data" if self.phase == "data" else "running Tcl"
                return
        if self._side is None:
            self._side = BoardView(self._connect(), self.world_size)
        self.interrupted_while = self._waiting_for(self._side, waiting, at_interrupt=True)
        self._side.fail_round(waiting.cell, waiting.group, waiting.round,
                              f"interrupted interrupted while {self.interrupted_while}")
