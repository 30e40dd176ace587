"""What each rank is doing, as the board records it, and how people read it.

The board (board.py) stores these states; the agreement layer, the front end's live view
and its failure reports all word them here, so a rank's activity reads the same wherever
it is shown ("rank 3 is running Tcl", "ranks 0-2 are waiting in distributed_barrier").
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Sequence

PHASES = ("idle", "run", "wait", "data", "done", "dead")
# how a rank's cell ended, as its peers describe it
ENDINGS = {
    "ok": "finished the cell without calling {op}",
    "error": "left the cell with an error before calling {op} (its error: {error})",
    "exit": "called exit {error} before calling {op}",
    "interrupted": "was interrupted before calling {op}",
}


@dataclass(frozen=True)
class RankState:
    """One rank's line on the board."""

    rank: int
    cell: str = ""
    phase: str = "idle"  # one of PHASES
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


_HEAD = re.compile(rb'\{"cell": ("(?:[^"\\]|\\.)*"), "phase": "(\w+)"')


def peek(raw: bytes) -> tuple[str, str]:
    """(cell, phase) of a posted state, from its head where it has the rank's form (cell and
    phase first), without parsing the rest: read on every wait and at every cell's end."""
    head = _HEAD.match(raw)
    if head:
        cell = head.group(1)
        return (json.loads(cell) if b"\\" in cell else cell[1:-1].decode()), head.group(2).decode()
    state = RankState.parse(0, raw)
    return state.cell, state.phase


def pair_key(src: int, dst: int, tag: int) -> str:
    """The board key of the transfers from src to dst with this tag."""
    return f"p{src}>{dst}.{tag}"


def awaited(state: RankState) -> str:
    """The call a waiting rank waits for: its own, from the members of a collective; the
    other side's, from the peer of a transfer."""
    if ">" in state.group:  # a transfer's key: pair_key
        return "distributed_send" if state.op.endswith("recv") else "distributed_recv"
    return state.op


def format_ranks(ranks: Sequence[int]) -> str:
    """`0-3`, `0,2`: rank lists as people read them."""
    ranks = sorted(ranks)
    if len(ranks) > 2 and ranks == list(range(ranks[0], ranks[-1] + 1)):
        return f"{ranks[0]}-{ranks[-1]}"
    return ",".join(map(str, ranks))


def rank_words(ranks: Sequence[int]) -> str:
    """'rank 2', 'ranks 0-3'."""
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


def not_run(states: dict[int, RankState], ranks: Sequence[int], cell: str, op: str) -> str:
    """Why a round of `op` cannot run: 'not run: rank 3 finished the cell without calling ...'."""
    return f"not run: {'; '.join(describe(states, ranks, cell, op))}"


def not_arrived(states: dict[int, RankState], waiting: RankState) -> list[int]:
    """The members of the round `waiting` waits in that are not waiting in it too."""
    return [m for m in waiting.members
            if not states.get(m, RankState(m)).waits_in(waiting.cell, waiting.group, waiting.round)]


def _plural(doing: str) -> str:
    verb, _, rest = doing.partition(" ")
    return f"{ {'is': 'are', 'has': 'have'}.get(verb, verb)} {rest}"
