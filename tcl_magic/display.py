"""Per-rank results grouped for people: identical output from several ranks is shown once.

The plain-text rendering here is what terminals (and notebook validation) see; it labels
every line with the ranks it came from, so output stays greppable.
"""
from __future__ import annotations

from typing import Callable, Hashable, Sequence, TypeVar

from .comm import format_ranks
from .results import CellResult

K = TypeVar("K", bound=Hashable)


def rank_label(ranks: Sequence[int]) -> str:
    return f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {format_ranks(ranks)}"


def group_by(results: Sequence[CellResult], key: Callable[[CellResult], K]) -> list[tuple[list[int], K]]:
    """Ranks that produced the same key, in order of their lowest rank."""
    groups: dict[K, list[int]] = {}
    for result in results:
        groups.setdefault(key(result), []).append(result.rank)
    return sorted(((ranks, k) for k, ranks in groups.items()), key=lambda item: item[0][0])


def labelled_lines(label: str, text: str) -> list[str]:
    if not text:
        return []
    return [f"[{label}] {line}" for line in text.rstrip("\n").split("\n")]


def output_lines(results: Sequence[CellResult]) -> list[tuple[str, str]]:
    """(stream, line) pairs: each distinct output once, labelled with its ranks."""
    lines = []
    for ranks, output in group_by(results, lambda r: tuple(r.output)):
        label = rank_label(ranks)
        for stream, text in output:
            lines += [(stream, line) for line in labelled_lines(label, text)]
    return lines


def error_lines(results: Sequence[CellResult]) -> list[str]:
    """Each distinct Tcl error once, with its trace, labelled with the ranks that raised it."""
    failed = [r for r in results if r.error is not None]
    lines = []
    for ranks, info in group_by(failed, lambda r: r.error.info):
        lines += labelled_lines(rank_label(ranks), f"error: {info}")
    return lines


def failed_ranks(results: Sequence[CellResult]) -> list[int]:
    return [r.rank for r in results if not r.ok]
