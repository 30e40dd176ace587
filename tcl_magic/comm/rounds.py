"""An agreement round's names and outcomes: where its keys live, its typed verdict on the
wire, and a transfer's round."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from .states import RankState

FAILURES = ("left", "dead", "interrupted", "timeout", "deadlock")
SPREADING = ("interrupted", "timeout", "deadlock")
"""Failures of the whole cell, not of one member: a rank that leaves because of one passes
it on to the rounds that wait for it."""
AGREED = b"+"
"""How an agreed verdict begins on the wire (a failure's begins with "{")."""


@dataclass(frozen=True)
class Verdict:
    """How an agreement round ended: agreed (`slots`: every member's, in arrival order), or
    failed for a reason of FAILURES (`ranks`: who left or died; `why`: what the one that
    failed the round saw, which every member reports as it was: a rank that left may be in
    its next cell by the time a peer reads the verdict)."""

    failure: str = ""
    ranks: tuple[int, ...] = ()
    why: str = ""
    slots: str = ""

    @property
    def agreed(self) -> bool:
        return not self.failure

    def wire(self) -> str:
        """An agreed verdict is AGREED and the slots (the store writes it so as the round
        completes); a failure is JSON."""
        if self.agreed:
            return AGREED.decode() + self.slots
        return json.dumps({"failure": self.failure, "ranks": list(self.ranks), "why": self.why})

    @classmethod
    def read(cls, raw: bytes) -> "Verdict":
        if raw.startswith(AGREED):
            return cls(slots=raw[len(AGREED):].decode())
        facts = json.loads(raw)
        return cls(facts["failure"], tuple(facts["ranks"]), facts["why"])


@dataclass(frozen=True)
class PairRound:
    """A point-to-point transfer's round: its two members are the sender and the receiver,
    under a key of the direction and tag, so a send pairs with the receive it really meets."""

    cell: str
    group: str
    round: int
    label: str
    members: tuple[int, ...]
    op: str  # this side's command
    verdict: Verdict | None  # set when this side's arrival completed the round

    @property
    def base(self) -> str:
        return round_key(self.cell, self.group, self.round)

    def waiting(self, rank: int, cell: str) -> RankState:
        """`rank` waiting in this round, during `cell`."""
        return RankState(rank, cell, "wait", time.time(), self.op, self.group, self.label, self.members, self.round)


class RoundFailed(Exception):
    """An agreement round that cannot complete; the message says why, naming the ranks."""

    def __init__(self, message: str, verdict: Verdict):
        super().__init__(message)
        self.verdict = verdict


def is_pair(group: str) -> bool:
    return ">" in group


def round_key(cell: str, group: str, round_: int) -> str:
    """Where a round's keys live: under its cell, but for a transfer's round (a transfer may
    be posted in one cell and met in the next, as gloo would pair them)."""
    return f"{group}/{round_}" if is_pair(group) else f"{cell}/{group}/{round_}"


def interrupted_key(cell: str) -> str:
    """Set when the front end interrupts `cell`, before it signals the ranks: a rank whose
    signal came before the cell began there (and was lost) learns it as the cell begins."""
    return f"{cell}/interrupted"


def state_key(rank: int) -> str:
    """A rank's state: a key with one writer, read often (a shared store keeps it in a row)."""
    return f"row/{rank}"
