"""The board: what every rank is doing, in a store that every rank and the front end
share, and the agreement round that every collective starts with.

Why: a gloo collective blocks in C until every member joins it. A member that never joins
(it failed earlier, skipped the call, was interrupted, died) would hold the others until
the timeout and leave the process group broken. So the agreement round runs on the board,
not on the process group: each member posts its state and its slot, and the round ends
with one verdict that every member reads alike: "agreed" (with every member's slot), set
by the member whose arrival completes the round, or a failure, set by whoever first
learns that the round cannot complete (compare-and-set: the first word wins): a member
that leaves the cell, a rank's interrupt watcher, the front end that saw a rank die or a
deadlock, or a waiter whose timeout ran out. No gloo operation starts before the verdict
is "agreed", so a failed round leaves the process group healthy.

The keys, who writes them, and who may delete them (the protocol is race-free because no
key that a member may still read is ever deleted):

- `row/R`: rank R's state (RankState as JSON). Written by R; by the front end when R
  died or was replaced. Never deleted.
- `CELL/interrupted`: set by the front end that interrupts the cell, before it signals the
  ranks; read by each rank as the cell begins there. Never deleted (a few bytes).
- `CELL/GROUP/N/slots`: appended once by each member arriving in round N of GROUP.
- `CELL/GROUP/N/n`: the arrivals, counted by each arriving member. Both in one call of
  the store (`join_round`), which also writes the agreed verdict when the arrival is the
  last, or else registers the member as the verdict's waiter.
- `CELL/GROUP/N/verdict`: the verdict (Verdict.wire: "+" and the slots, or a failure as
  JSON), set once: by the last arrival, or by compare-and-set for a failure.
- The three keys of an agreed round are deleted by the member whose arrival completes
  the group's next agreed round: every member has arrived there, so every member has
  read the earlier verdict (a TCP store deletes them a moment later, on a thread of its
  own, off the round's path). A failed round's keys stay (a late member may still arrive
  and must read the failure): a few bytes per mistake.
- Point-to-point rounds (`pSRC>DST.TAG/N/...`, in no cell: an isend of one cell may meet
  the irecv of the next) are numbered by each side's count in `pSRC>DST.TAG/sent` or
  `/received` (kept in the store, so a rank's fresh engine goes on counting). A side that
  arrives at a round already failed (its peer gave up before it came) takes the next one.
  They have no next round that both sides must reach (a side reads its verdict on a thread
  of its own, later): each side counts its reading in `.../read`, and the second to count
  deletes the keys.

Ordering makes leaving race-free: a waiter posts "waiting" before it reads its peers'
states, and a leaving rank posts "done" before it reads the waiters', and one store serves
both, so at least one of them sees the other.
"""
from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import timedelta
from typing import Callable, Iterator, Sequence

import torch.distributed as dist

from .rounds import AGREED, SPREADING, PairRound, RoundFailed, Verdict, interrupted_key, round_key, state_key
from .states import RankState, awaited, describe, format_ranks, not_run, peek
from .stores import TcpBoardStore


class BoardView:
    """The board as anybody reads and writes it: states, verdicts, dead ranks."""

    def __init__(self, store, world_size: int):
        # a shared-memory store is the board's alone; a TCP store also carries the rendezvous
        self.store = TcpBoardStore(store) if isinstance(store, dist.Store) else store
        self.world_size = world_size
        self._all_posted = False  # once every rank's state exists (none is ever deleted)

    def states(self, ranks: Sequence[int] | None = None) -> dict[int, RankState]:
        ranks = list(range(self.world_size)) if ranks is None else list(ranks)
        return {r: RankState.parse(r, raw) for r, raw in zip(ranks, self._raw_states(ranks))}

    def _raw_states(self, ranks: Sequence[int]) -> list[bytes | None]:
        keys = [state_key(r) for r in ranks]
        if self._all_posted or self.store.check([state_key(r) for r in range(self.world_size)]):
            self._all_posted = True
            return self.store.multi_get(keys)
        return [self.store.get(k) if self.store.check([k]) else None for k in keys]  # one has not posted yet

    def fail_round(self, cell: str, group: str, round_: int, verdict: Verdict) -> Verdict:
        """Set the round's verdict to a failure unless it has one; returns the verdict."""
        return self.settle(round_key(cell, group, round_), verdict)

    def settle(self, base: str, verdict: Verdict) -> Verdict:
        """Set the verdict of the round at `base` unless it has one (the first word wins);
        returns the round's verdict."""
        return Verdict.read(self.store.compare_set(base + "/verdict", "", verdict.wire()))

    def release(self, gone_rank: int, cell: str | None = None, failure: str = "left",
                cause: Verdict | None = None) -> None:
        """Fail every round someone waits in that needs `gone_rank`, which will never arrive
        there: in `cell`, which it left (a peer may already wait in its next cell), or in
        any cell (it died). With a `cause` (a deadlock, interrupt or timeout that made it
        leave), that failure is every such round's too: the first cause, not its echo; a
        rank that an interrupt stopped fails them as interrupted (it reached every rank)."""
        raws = self._raw_states(range(self.world_size))
        # every cell ends here: only the states that show a wait are parsed whole
        waiting = [RankState.parse(r, raw) for r, raw in enumerate(raws) if raw and peek(raw)[1] == "wait"]
        states = None
        for state in waiting:
            if gone_rank in state.members and cell in (None, state.cell):
                states = states or {r: RankState.parse(r, raw) for r, raw in enumerate(raws)}
                if cause is None and failure == "interrupted":
                    verdict = Verdict(failure, why=self.waiting_for(state, at_interrupt=True))
                else:
                    verdict = cause or Verdict(failure, (gone_rank,), not_run(states, [gone_rank], state.cell,
                                                                              awaited(state)))
                self.fail_round(state.cell, state.group, state.round, verdict)

    def waiting_for(self, waiting: RankState, at_interrupt: bool = False) -> str:
        """'waiting in distributed_barrier of the world (ranks 0-3) for rank 3 (running Tcl)'.
        Who arrived is read from the round's slots, which stay when a member leaves the
        round; at an interrupt, which reaches every rank at once, a peer that the same
        interrupt already stopped was running Tcl when it came."""
        base = round_key(waiting.cell, waiting.group, waiting.round)
        arrived = {int(entry.partition(":")[0]) for entry in self.store.get(base + "/slots").decode().split(";") if entry}
        absent = [m for m in waiting.members if m not in arrived]
        states = self.states(absent) if absent else {}
        if at_interrupt:
            states = {r: RankState(r, waiting.cell, "run") if s.phase == "done" and s.end == "interrupted"
                      and s.cell == waiting.cell else s for r, s in states.items()}
        phrases = describe(states, absent, waiting.cell, awaited(waiting), aside=True)
        return f"waiting in {waiting.op} of {waiting.label}" + (f" for {'; '.join(phrases)}" if phrases else "")

    def interrupt_cell(self, cell: str) -> None:
        """The front end interrupts `cell`: said here before the signals go out, so that a rank
        that gets its signal before the cell begins there still ends it as interrupted."""
        self.store.set(interrupted_key(cell), "1")

    def mark_dead(self, rank: int, why: str) -> None:
        """A rank whose process ended: its peers stop waiting for it at once."""
        self.store.set(state_key(rank), json.dumps({"phase": "dead", "since": time.time(), "error": why}))
        self.release(rank, failure="dead")

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

    def __init__(self, store, rank: int, world_size: int, timeout_s: float,
                 connect: Callable[[], object]):
        super().__init__(store, world_size)
        self.rank, self.timeout_s = rank, timeout_s
        self.store.set_timeout(timedelta(seconds=timeout_s))  # how long a verdict is waited for
        self._connect = connect  # a second client, for other threads (one client serves one at a time)
        self._side: BoardView | None = None
        self._transfers: BoardView | None = None  # for the threads of transfers, one at a time
        self._transfers_lock = threading.Lock()
        self.cell = ""
        self._cell_json = '"cell": ""'
        self._state_key = state_key(rank)
        self._round_facts: dict[tuple, str] = {}  # (op, group, members) -> their part of a state's JSON
        self._rounds: dict[str, int] = {}  # group -> rounds joined in this cell
        self._agreed: dict[str, str] = {}  # group -> its last agreed round this rank took part in
        self._waiting: RankState | None = None  # the round this rank waits in, for the interrupt watcher
        self._lock = threading.Lock()
        self.phase = "idle"
        self.interrupted_while: str | None = None  # what this rank was doing when interrupted
        self._cause: Verdict | None = None  # a failure of this cell that its peers share (SPREADING)
        self.post("idle")

    def post(self, phase: str, **facts) -> None:
        """This rank's state (a set: one message, no reply awaited)."""
        self._post(phase, json.dumps(facts)[1:-1] if facts else "")

    def _post(self, phase: str, facts: str) -> None:
        """The state as JSON (RankState's form, cell and phase first: states.peek reads them),
        with `facts` already written as JSON members."""
        self.phase = phase
        self.store.set(self._state_key, f'{{{self._cell_json}, "phase": "{phase}", "since": {time.time()!r}'
                                        f'{", " if facts else ""}{facts}}}')

    def _post_round(self, phase: str, op: str, group: str, label: str, members: tuple[int, ...], round_: int) -> None:
        """post(phase, op=..., round=...) as a collective posts it twice a call, with the part
        that repeats from call to call written once."""
        facts = self._round_facts.get((op, group, members))
        if facts is None:
            facts = json.dumps({"op": op, "group": group, "label": label, "members": list(members)})[1:-1]
            self._round_facts[(op, group, members)] = facts
        self._post(phase, f'{facts}, "round": {round_}')

    # --- the cell -----------------------------------------------------------------------

    def begin_cell(self, cell: str | None, running: Sequence[int] | None = None) -> bool:
        """A new cell: `cell` names it alike on every rank. Front ends give one; without, a
        rank counts its cells in the store, which outlives its sessions (so names never
        repeat), one count for the whole world and one for each part of it that runs cells.
        True when the front end interrupted the cell before it began here."""
        if cell is None:
            part = "all" if running is None else format_ranks(running)
            cell = f"{part}.{self.store.add(f'cells/{part}/{self.rank}', 1)}"
        self.cell, self._rounds, self.interrupted_while, self._cause = cell, {}, None, None
        self._cell_json = f'"cell": {json.dumps(cell)}'
        self.post("run")
        if self.store.check([interrupted_key(cell)]):
            self.interrupted_while = "running Tcl"
            return True
        return False

    def end_cell(self, end: str, error: str = "") -> None:
        """Say how the cell ended, and free whoever waits for this rank in a round. Peers
        quote the error's first line (a usage mistake's `Usage:` lines are this rank's own)."""
        if self.interrupted_while is not None:
            end = "interrupted"
        self.post("done", end=end, error=(error.strip().splitlines() or [""])[0][:500])
        self.release(self.rank, self.cell, "interrupted" if end == "interrupted" else "left", self._cause)

    # --- the agreement round ---------------------------------------------------------------

    def agree(self, group: str, label: str, members: Sequence[int], op: str, slot: Sequence[int]) -> list[list[int]]:
        """Every member's slot, in member order, once all have posted theirs; RoundFailed if
        the round cannot complete (a member left, died, is interrupted or never comes)."""
        round_ = self._rounds.get(group, 0) + 1
        self._rounds[group] = round_
        base = round_key(self.cell, group, round_)
        members = tuple(members)
        self._post_round("wait", op, group, label, members, round_)
        # the group's previous agreed round is garbage once this one is agreed: every member
        # has arrived here, so has read it; the arrival that completes this round deletes it
        previous = self._agreed.get(group)
        forget = [previous + suffix for suffix in ("/slots", "/n", "/verdict")] if previous else ()
        _, raw = self.store.join_round(base, f"{self.rank}:{','.join(map(str, slot))};", len(members), AGREED,
                                       forget)
        if raw:  # this arrival completed the round (or a failure came first)
            verdict = Verdict.read(raw)
        else:
            verdict = self._await(base, RankState(self.rank, self.cell, "wait", time.time(), op, group, label,
                                                  members, round_))
        if not verdict.agreed:
            message = self._explain(verdict)
            self.post("run")
            if verdict.failure in SPREADING:
                self._cause = verdict
            raise RoundFailed(message, verdict)
        self._agreed[group] = base
        self._post_round("data", op, group, label, members, round_)
        return self._slots(verdict.slots, members)

    def _gone_peers(self, ranks: Sequence[int]) -> dict[int, RankState]:
        """The states of those of `ranks` that left this cell for good or died. Read before
        every wait in a round: a state's head (states.peek) shows a rank still at work."""
        gone = {}
        for rank, raw in zip(ranks, self._raw_states(ranks)):
            if raw and peek(raw) in ((self.cell, "run"), (self.cell, "wait"), (self.cell, "data")):
                continue
            state = RankState.parse(rank, raw)
            if state.gone(self.cell):
                gone[rank] = state
        return gone

    def _await(self, base: str, waiting: RankState) -> Verdict:
        """The round's verdict, waiting for it unless a member is already gone or an
        interrupt came first; a failure this rank sets when its timeout runs out."""
        verdict = None
        try:
            with self._waiting_in(base, waiting, [m for m in waiting.members if m != self.rank]) as verdict:
                if verdict is None:
                    try:
                        verdict = Verdict.read(self.store.await_key(base + "/verdict"))
                    except dist.DistStoreError:
                        why = f"timed out after {self.timeout_s:g} s {self.waiting_for(waiting)}"
                        verdict = self.settle(base, Verdict("timeout", why=why))
        finally:
            with self._lock:
                if verdict is not None and verdict.failure == "interrupted" and self.interrupted_while is None:
                    # another member's interrupt came first: this rank's own comes in a moment
                    self.interrupted_while = verdict.why
        return verdict

    @contextlib.contextmanager
    def _waiting_in(self, base: str, waiting: RankState, peers: Sequence[int]) -> Iterator[Verdict | None]:
        """While this rank waits in the round at `base`: the interrupt watcher sees it waiting
        (or came first: the round fails as interrupted), and a peer already gone fails the
        round as left (a peer seen gone may have completed the round and left: the
        compare-and-set then answers with the agreed verdict). Yields the verdict that
        settled the round so, else None: the body waits for it."""
        with self._lock:
            self._waiting, interrupted_first = waiting, self.interrupted_while is not None
        try:
            if interrupted_first:
                doing = self.waiting_for(waiting)
                with self._lock:  # so this rank's own report says so too, not "running Tcl"
                    self.interrupted_while = doing
                yield self.settle(base, Verdict("interrupted", why=doing))
            else:
                gone = self._gone_peers(peers)
                yield self.settle(base, Verdict("left", tuple(gone), not_run(gone, list(gone), self.cell,
                                                                              awaited(waiting)))) if gone else None
        finally:
            with self._lock:
                self._waiting = None

    @staticmethod
    def _explain(verdict: Verdict) -> str:
        """The failed round's first cause, as every member words it."""
        return f"interrupted while {verdict.why}" if verdict.failure == "interrupted" else verdict.why

    @staticmethod
    def _slots(raw: str, members: Sequence[int]) -> list[list[int]]:
        by_rank = {}
        for entry in raw.rstrip(";").split(";"):
            rank, _, values = entry.partition(":")
            by_rank[int(rank)] = [int(v) for v in values.split(",")] if values else []
        return [by_rank[m] for m in members]

    # --- point-to-point rounds ------------------------------------------------------------

    def arrive_pair(self, group: str, label: str, members: Sequence[int], op: str, sending: bool,
                    slot: Sequence[int]) -> PairRound:
        """Post this side of a transfer; its verdict is there already if the peer came first."""
        while True:
            round_ = self.store.add(f"{group}/{'sent' if sending else 'received'}", 1)
            base = round_key(self.cell, group, round_)
            count, raw = self.store.join_round(base, f"{self.rank}:{','.join(map(str, slot))};", len(members),
                                               AGREED, wait=False, fresh_only=True)
            if count:
                break
        verdict = Verdict.read(raw) if raw else None
        return PairRound(self.cell, group, round_, label, tuple(members), op, verdict)

    def pair_verdict(self, pair: PairRound) -> list[list[int]]:
        """From a transfer's thread: both sides' slots once the peer came, or RoundFailed (it
        left the cell while this rank waited, died, an interrupt or the timeout failed the
        round). Looks every 0.2-20 ms (growing): the thread may wait a long time, as a
        posted isend does in gloo until its receive comes."""
        verdict, delay = pair.verdict, 0.0002
        while verdict is None:
            with self._transfer_view() as view:
                if view.store.check([pair.base + "/verdict"]):
                    verdict = Verdict.read(view.store.get(pair.base + "/verdict"))
            if verdict is None:
                time.sleep(delay)
                delay = min(2 * delay, 0.02)
        with self._transfer_view() as view:
            if view.store.add(pair.base + "/read", 1) == 2:
                view.store.discard([pair.base + suffix for suffix in ("/slots", "/n", "/verdict", "/read")])
        if not verdict.agreed:
            raise RoundFailed(self._explain(verdict), verdict)
        return self._slots(verdict.slots, pair.members)

    @contextlib.contextmanager
    def _transfer_view(self) -> Iterator[BoardView]:
        """The board as the threads of transfers use it: a client of their own (made on first
        use), one thread at a time."""
        with self._transfers_lock:
            if self._transfers is None:
                self._transfers = BoardView(self._connect(), self.world_size)
            yield self._transfers

    @contextlib.contextmanager
    def waiting_in(self, pair: PairRound, peer: int) -> Iterator[None]:
        """While this rank blocks on a transfer: its peers and the front end see it waiting in
        the transfer's round, a peer that leaves this cell or an interrupt fails the round (or
        had already come), and the timeout runs. The body waits for the transfer's thread."""
        self.post("wait", op=pair.op, group=pair.group, label=pair.label, members=list(pair.members),
                  round=pair.round)
        try:
            with self._waiting_in(pair.base, pair.waiting(self.rank, self.cell), [peer]):
                yield
        finally:
            self.post("run")

    def time_out(self, pair: PairRound) -> None:
        """A blocking wait on a transfer ran past the timeout: fail its round (unless it agreed)."""
        why = f"timed out after {self.timeout_s:g} s {self.waiting_for(pair.waiting(self.rank, self.cell))}"
        self.settle(pair.base, Verdict("timeout", why=why))

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
        self.interrupted_while = self._side.waiting_for(waiting, at_interrupt=True)
        self._side.fail_round(waiting.cell, waiting.group, waiting.round,
                              Verdict("interrupted", why=self.interrupted_while))
