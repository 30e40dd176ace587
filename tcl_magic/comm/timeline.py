"""This rank's timeline of the cell: each collective and transfer with the moments it
arrived, agreed, finished moving data and left, appended as the call ends.

Why here: the agreement layer already knows each step, so a few clock reads per call give
the notebook a picture of who kept whom waiting, at no cost worth measuring. Times are
wall-clock seconds (`time.time`), so the front end can compare ranks of one host.
"""
from __future__ import annotations

import math
from typing import Sequence

from ..results import CallEvent

MAX_EVENTS = 1000
"""Calls kept per cell and rank (a long training loop makes many): later ones are counted."""


class Timeline:
    """The calls of the cell running now; reset when a cell begins."""

    def __init__(self) -> None:
        self.events: list[CallEvent] = []
        self.dropped = 0
        self._counts: dict[str, int] = {}

    def reset(self) -> None:
        self.events, self.dropped, self._counts = [], 0, {}

    def record(self, op: str, group: str, key: str, members: Sequence[int], times: tuple[float, float, float, float],
               sent: int = 0, received: int = 0, outcome: str = "ok") -> None:
        """One call that ended; `times` is (arrived, agreed, moved, left). Every call on `key`
        is counted, kept or not, so that its index names the same call on every member."""
        index = self._counts.get(key, 0)
        self._counts[key] = index + 1
        if len(self.events) >= MAX_EVENTS:
            self.dropped += 1
            return
        self.events.append(CallEvent(op, group, key, index, tuple(members), *times, sent, received, outcome))


def _nbytes(meta) -> int:
    return math.prod(meta.shape) * meta.dtype.itemsize


def _chunk(rows: int, parts: int, i: int) -> int:
    """Rows of chunk i when `rows` are split in `parts` as torch.tensor_split splits them."""
    base, extra = divmod(rows, parts)
    return base + (1 if i < extra else 0)


def moved_bytes(op: str, arg: int, metas: Sequence, ranks: Sequence[int], me: int) -> tuple[int, int]:
    """(sent, received) by this rank in a collective, from the shapes the members agreed on:
    what its own chunks of the call carried; reductions count their payload both ways."""
    if me not in ranks or not metas:
        return 0, 0
    n, i = len(ranks), ranks.index(me)
    if op in ("scatter", "gather", "gather_cat", "broadcast") and arg not in ranks:
        return 0, 0
    if op == "scatter":
        src = metas[ranks.index(arg)]
        row = _nbytes(src) // src.shape[0] if src.shape and src.shape[0] else 0
        if me == arg:
            return (src.shape[0] - _chunk(src.shape[0], n, i)) * row, 0
        return 0, _chunk(src.shape[0], n, i) * row if src.shape else 0
    if op in ("gather", "gather_cat"):
        if me == arg:
            return 0, sum(_nbytes(m) for j, m in enumerate(metas) if j != i)
        return _nbytes(metas[i]), 0
    if op == "broadcast":
        root = _nbytes(metas[ranks.index(arg)])
        return (root * (n - 1), 0) if me == arg else (0, root)
    if op in ("all_reduce", "reduce_scatter"):
        return _nbytes(metas[i]), _nbytes(metas[i])
    if op == "all_to_all":
        mine = metas[i]
        row = _nbytes(mine) // mine.shape[0] if mine.shape and mine.shape[0] else 0
        sent = (mine.shape[0] - _chunk(mine.shape[0], n, i)) * row if mine.shape else 0
        received = sum(_chunk(m.shape[0], n, i) * row for j, m in enumerate(metas) if j != i and m.shape)
        return sent, received
    return 0, 0
