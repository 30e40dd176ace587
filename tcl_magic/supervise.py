"""One cell on a cluster, watched until every rank has answered: the caller's side of faults.

The ranks turn a member that left a cell into an error by themselves, at once (see
comm.board). What they cannot see is seen here, where every rank's process and state are
in view: an engine that died (its peers are told at once, and its result is not waited
for), ranks waiting for each other in different collectives (a deadlock: each is told), a
cell past its time limit or interrupted (every rank is interrupted and says what it was
doing). When a process group broke, or a rank died, the cluster heals before the next
cell: a new process group on the same engines, a fresh engine for a dead rank.
Both front ends (the magic and the command line) run their cells through here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import psutil

from launcher import LaunchError, RankCluster, RankError, RankFailure

from . import display, remote
from .comm.board import BoardView
from .comm.rounds import Verdict
from .comm.states import rank_words
from .results import CellResult, TclErrorInfo

POLL_S = 0.05
INTERRUPT_GRACE_S = 10.0
"""How long interrupted ranks get to answer beyond the collective timeout (a rank inside a
transfer finishes it first)."""


class CellAbandoned(Exception):
    """Ranks that did not answer even after an interrupt (stuck inside C code)."""


@dataclass
class CellOutcome:
    """The ranks' results in rank order, and what the supervisor did along the way."""

    results: list[CellResult]
    notes: list[str] = field(default_factory=list)  # heals, dead engines: said once, before the results
    answered_s: float = 0.0  # from submitting the cell until every rank had answered (before any heal)


@dataclass
class RankHealth:
    """What `cluster status` says about a rank beyond where it lives."""

    replaced: str = ""  # when its engine was replaced by a fresh one
    last_error: str = ""


class CellSupervisor:
    """Runs cells on one cluster, numbering them alike on every rank, and heals it."""

    def __init__(self, cluster: RankCluster):
        self.cluster = cluster
        self.board = BoardView(cluster.message_store, cluster.world_size)
        self.health = {rank: RankHealth() for rank in range(cluster.world_size)}
        self.cell = ""  # the name of the cell running now (or last)

    def run(self, source: str, *, script: str | None = None, argv: list[str] | None = None,
            ranks: Sequence[int] | None = None, timeout: float | None = None,
            on_wait: Callable[[object], None] | None = None) -> CellOutcome:
        """Run `source` on `ranks` (all by default); KeyboardInterrupt while waiting interrupts
        the ranks and still returns their results. `on_wait(pending)` is called while waiting."""
        notes = self.heal_if_needed()
        subset = list(ranks) if ranks is not None and len(ranks) < self.cluster.world_size else None
        self.cell = self.board.new_cell()
        pending = self.cluster.run_async(remote.run_tcl, source, script, argv, subset, self.cell, on_ranks=ranks)
        submitted = time.monotonic()
        dead, past_timeout = self._watch(pending, timeout, on_wait)
        answered_s = time.monotonic() - submitted
        if past_timeout:
            notes.append(f"the cell ran past --timeout {timeout:g} s: every rank was interrupted")
        results = self._results(pending, dead)
        for result in results:
            self.health[result.rank].last_error = result.error.message if result.error else ""
        broken = sorted(r.rank for r in results if r.group_broken)
        if dead or broken:
            notes += self._heal(dead, broken)
        return CellOutcome(results, notes, answered_s)

    # --- waiting ----------------------------------------------------------------------------

    def _watch(self, pending, timeout: float | None, on_wait) -> tuple[dict[int, str], bool]:
        """Wait for the ranks; returns the ranks found dead, and whether the time limit struck."""
        started = time.monotonic()
        interrupted_at = None
        past_timeout = False
        dead: dict[int, str] = {}
        blocked = None
        while pending.running():
            try:
                if pending.wait(POLL_S):
                    break  # every rank answered: nothing left to watch
                if on_wait is not None:
                    on_wait(pending)
                for rank, why in self.cluster.dead_ranks().items():
                    if rank in pending.ranks and rank not in dead:
                        dead[rank] = f"{why} while {_doing(self.board.states([rank])[rank])}"
                        self.board.mark_dead(rank, why)
                        pending.abandon(rank, RankError("EngineDied", why, ""))
                blocked = self._break_deadlock(pending.running(), blocked)
                elapsed = time.monotonic() - started
                if interrupted_at is None and timeout is not None and elapsed > timeout:
                    interrupted_at, past_timeout = self._interrupt(), True
                if interrupted_at is not None and time.monotonic() - interrupted_at > \
                        self.cluster.config.timeout_s + INTERRUPT_GRACE_S:
                    stopped = self.stopped(pending.running())
                    why = (f"{rank_words(stopped)} {'is' if len(stopped) == 1 else 'are'} stopped (SIGSTOP: send "
                           "SIGCONT to go on)") if stopped else "stuck inside a computation?"
                    raise CellAbandoned(f"{rank_words(pending.running())} did not stop after the interrupt "
                                        f"({why}); %torchtcl cluster restart gives fresh ranks")
            except KeyboardInterrupt:
                if interrupted_at is not None:
                    raise CellAbandoned("interrupted again while the ranks were stopping; if they are stuck, "
                                        "%torchtcl cluster restart gives fresh ranks") from None
                interrupted_at = self._interrupt()
        return dead, past_timeout

    def _interrupt(self) -> float:
        """Interrupt every rank: the board first, for a rank whose signal comes before the cell
        begins there (its signal is then lost, but the cell begins interrupted)."""
        try:
            self.board.interrupt_cell(self.cell)
            self.cluster.interrupt_ranks()
        except Exception:  # an engine that is gone cannot be signalled; the others were
            pass
        return time.monotonic()

    def _break_deadlock(self, running: list[int], seen_before):
        """Ranks that all wait in rounds held up by each other: seen twice in a row, each
        round fails with a message that says who waits where."""
        blocked = self.board.blocked_rounds(running) if running else None
        if blocked is None or blocked != seen_before:
            return blocked
        states = self.board.states()
        waits = "; ".join(f"{rank_words(waiters)}: {states[waiters[0]].doing(cell).removeprefix('is ')}"
                          for (cell, _, _), waiters in blocked.items())
        message = (f"deadlock: {waits}. The ranks called collectives in different orders, so none of them "
                   "can complete; nothing was sent")
        for cell, group, round_ in blocked:
            self.board.fail_round(cell, group, round_, Verdict("deadlock", why=message))
        return None

    def stopped(self, ranks: Sequence[int]) -> list[int]:
        """Those of `ranks` whose process is stopped (SIGSTOP, a debugger): on this host only."""
        pids = self.cluster.rank_pids()
        found = []
        for rank in ranks:
            try:
                if rank in pids and psutil.Process(pids[rank]).status() == psutil.STATUS_STOPPED:
                    found.append(rank)
            except psutil.Error:
                pass
        return found

    def activity(self, ranks: Sequence[int]) -> list[str]:
        """What each running rank is doing, as the board and this host's processes know it."""
        return display.activity(self.board.states(), ranks, self.cell, self.stopped(ranks))

    # --- results --------------------------------------------------------------------------

    def _results(self, pending, dead: dict[int, str]) -> list[CellResult]:
        try:
            return pending.get(timeout=0)
        except RankFailure as failure:
            results, failures = dict(failure.results), failure.failures
        for rank, error in failures.items():
            if rank in dead:
                message = f"rank {rank} died: {dead[rank]}"
            elif error.type_name == "KeyboardInterrupt":
                message = remote.INTERRUPTED.format(doing="starting or ending the cell")
            else:
                message = f"the cell could not run on rank {rank}: {error.type_name}: {error.message}"
            results[rank] = CellResult(rank=rank, error=TclErrorInfo(message, message, "TORCHTCL RANK"))
        return [results[rank] for rank in sorted(results)]

    # --- healing ----------------------------------------------------------------------------

    def heal_if_needed(self) -> list[str]:
        """Engines that died since the last cell are replaced before the next one runs."""
        dead = self.cluster.dead_ranks()
        for rank, why in dead.items():
            self.board.mark_dead(rank, why)
        return self._heal(dead, []) if dead else []

    def _heal(self, dead: dict[int, str], broken: list[int]) -> list[str]:
        started = time.monotonic()
        survivors = [r for r in range(self.cluster.world_size) if r not in dead]
        try:
            definitions = self.cluster.run(remote.group_definitions, on_ranks=survivors[:1])[0] if survivors else []
            replaced = self.cluster.heal()
            self.cluster.run(remote.rebuild_groups, definitions)
        except LaunchError as err:
            raise CellAbandoned(f"the cluster could not heal itself ({err}); %torchtcl cluster restart "
                                "gives fresh ranks") from None
        seconds = time.monotonic() - started
        when = time.strftime("%H:%M:%S")
        notes = []
        if dead:
            for rank in replaced:
                self.board.revive(rank)
                self.health[rank] = RankHealth(replaced=f"fresh engine since {when}: its earlier state is lost")
            notes.append(f"{rank_words(sorted(dead))} died ({'; '.join(dead.values())}): "
                         f"{'a fresh engine took its' if len(dead) == 1 else 'fresh engines took their'} place "
                         f"and the process group was rebuilt in {seconds:.1f} s; the variables and tensors of "
                         f"{rank_words(sorted(dead))} are lost, every other rank kept its own")
        else:
            notes.append(f"the process group broke on {rank_words(broken)}: it was rebuilt in {seconds:.1f} s on "
                         "the same engines; every rank kept its variables and tensors")
        return notes


def _doing(state) -> str:
    return state.doing(state.cell).removeprefix("is ")
