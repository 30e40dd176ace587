"""Per-rank results grouped for people: identical output from several ranks is shown once.

The plain-text rendering here is what terminals (and notebook validation) see; it labels
every line with the ranks it came from, so output stays greppable.
"""
from __future__ import annotations

import re
import sys
import textwrap
import time
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable, Sequence, TypeVar

from .comm.states import RankState, awaited, describe, not_arrived, rank_words
from .results import CellResult, TensorSummary, format_bytes

K = TypeVar("K", bound=Hashable)


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


def grouped_lines(results: Sequence[CellResult], text: Callable[[CellResult], str]) -> list[str]:
    """Each distinct text once (none if empty), every line labelled with the ranks that made it."""
    lines = []
    for ranks, value in group_by(results, text):
        lines += labelled_lines(rank_words(ranks), value)
    return lines


WRAP_AT = 100
"""Error lines longer than this are broken between words, so that no front end breaks a
word in two; the continuation keeps the rank label and is indented."""


def wrapped(lines: Sequence[str], width: int = WRAP_AT) -> list[str]:
    out = []
    for line in lines:
        label = re.match(r"\[ranks? [0-9,\-]+\] ", line)
        prefix = label.group(0) if label else ""
        if len(line) <= width:
            out.append(line)
            continue
        body = line[len(prefix):]
        indent = " " * 4 if not body.startswith(" ") else body[:len(body) - len(body.lstrip())] + " " * 4
        pieces = textwrap.wrap(body, width - len(prefix), subsequent_indent=indent, break_long_words=False,
                               break_on_hyphens=False)
        out += [prefix + piece for piece in pieces]
    return out


def error_lines(results: Sequence[CellResult]) -> list[str]:
    """Each distinct Tcl error once, with its trace, labelled with the ranks that raised it:
    root causes first, then the errors that only report another rank's."""
    groups = group_by([r for r in results if r.error is not None], lambda r: (is_consequence(r), r.error.info))
    lines = []
    for ranks, (_, info) in sorted(groups, key=lambda group: group[1][0]):  # stable: by rank within each
        lines += labelled_lines(rank_words(ranks), f"error: {info}")
    return lines


def is_consequence(result: CellResult) -> bool:
    """An error that only says that another rank failed first (an agreement round's report)."""
    return result.error is not None and result.error.code == "TORCH PEER"


# --- results and tensor tables, for the notebook front end --------------------------------

def stream_lines(results: Sequence[CellResult], stream: str) -> list[str]:
    """One stream's distinct text once, labelled with its ranks (stdout alike even if stderr differs)."""
    return grouped_lines(results, lambda r: r.text(stream))


def result_lines(results: Sequence[CellResult]) -> list[str]:
    """Each distinct value of a cell's last command once, labelled with its ranks."""
    return grouped_lines([r for r in results if r.ok and not r.value_in_variable], lambda r: r.result)


def format_shape(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def format_tensor(summary: TensorSummary | None) -> str:
    """One cell of the per-rank table: shape, dtype, device, size."""
    if summary is None:
        return "-"
    return f"{format_shape(summary.shape)} {summary.dtype} {summary.device} {format_bytes(summary.nbytes)}"


@dataclass
class TableRow:
    variable: str
    cells: dict[int, TensorSummary | None]  # rank -> what the variable holds there

    @property
    def differs(self) -> bool:
        """True when ranks hold different shapes, or some rank does not hold it at all."""
        return len({None if s is None else s.shape for s in self.cells.values()}) > 1


@dataclass
class TensorTable:
    """The tensor variables of a cell, one column per rank; what the widget and the text draw."""

    ranks: list[int]
    rows: list[TableRow]
    labels: list[str]  # column titles: "rank 0", ... or "kernel"

    def text(self) -> str:
        """The plain-text form: aligned columns, a `*` on rows whose shape differs across ranks."""
        if not self.rows:
            return ""
        header = ["variable"] + self.labels
        body = [[row.variable + (" *" if row.differs else "")] + [format_tensor(row.cells[r]) for r in self.ranks]
                for row in self.rows]
        widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in [header] + body]
        if any(row.differs for row in self.rows):
            lines.append("* shape differs across ranks")
        return "\n".join(lines)


def tensor_table(results: Sequence[CellResult], variables: Iterable[str] | None = None,
                 labels: list[str] | None = None) -> TensorTable:
    """The table of `variables` (all tensor variables when None), sorted by name."""
    by_rank = {r.rank: {s.variable: s for s in r.tensors} for r in results}
    names = set().union(*by_rank.values()) if by_rank else set()
    if variables is not None:
        names &= set(variables)
    ranks = [r.rank for r in results]
    rows = [TableRow(name, {rank: by_rank[rank].get(name) for rank in ranks}) for name in sorted(names)]
    return TensorTable(ranks, rows, labels or [f"rank {r}" for r in ranks])


@dataclass
class ScatterPicture:
    """Which rows of `source` (as held on `source_rank`) each rank holds in `chunk`."""

    source: str
    source_summary: TensorSummary
    chunk: str
    spans: dict[int, tuple[int, int]]  # rank -> (first row, stop row)

    def text(self, width: int = 40) -> str:
        rows = self.source_summary.shape[0]
        scale = min(1.0, width / rows) if rows else 1.0
        lines = [f"rows of {self.source} ({format_shape(self.source_summary.shape)} "
                 f"{self.source_summary.dtype}) held in {self.chunk}:"]
        label_width = max(len(f"rank {r}") for r in self.spans)
        for rank, (start, stop) in self.spans.items():
            where = row_span(start, stop)
            bar = "".join("#" if start <= int(i / scale) < stop else "." for i in range(max(1, round(rows * scale))))
            lines.append(f"  {f'rank {rank}'.ljust(label_width)}  {where.ljust(12)} {bar}")
        return "\n".join(lines)


def row_span(start: int, stop: int) -> str:
    """`rows 3-5`, `row 3` or `no rows`: the legend's words, in text and in the drawing."""
    return f"rows {start}-{stop - 1}" if stop - start > 1 else f"row {start}" if stop > start else "no rows"


def find_scatters(table: TensorTable, everything: TensorTable) -> list[ScatterPicture]:
    """Rows of the table that look like the chunks of a scatter of another variable.

    A chunk variable holds, across the ranks, row counts that add up to the rows of a
    source variable with the same trailing shape and dtype, and at least two ranks hold
    rows without all holding the whole source (a broadcast).
    """
    pictures = []
    for row in table.rows:
        chunks = row.cells
        if len(chunks) < 2 or any(s is None or not s.shape for s in chunks.values()):
            continue
        trailing = {s.shape[1:] for s in chunks.values()}
        dtypes = {s.dtype for s in chunks.values()}
        counts = [s.shape[0] for s in chunks.values()]
        if len(trailing) != 1 or len(dtypes) != 1 or sum(1 for c in counts if c) < 2:
            continue
        source = _source_of(row, (sum(counts),) + trailing.pop(), dtypes.pop(), everything)
        if source is not None:
            spans, start = {}, 0
            for rank, summary in chunks.items():
                spans[rank] = (start, start + summary.shape[0])
                start += summary.shape[0]
            pictures.append(ScatterPicture(source[0], source[1], row.variable, spans))
    return pictures


def _source_of(chunk: TableRow, shape: tuple, dtype: str, everything: TensorTable) -> tuple | None:
    """The oldest matching tensor (lowest handle number): the original, not a later copy of it."""
    candidates = [(_handle_number(summary.handle), row.variable, summary)
                  for row in everything.rows if row.variable != chunk.variable
                  for summary in row.cells.values()
                  if summary is not None and summary.shape == shape and summary.dtype == dtype]
    return min(candidates, key=lambda c: (c[0], c[1]))[1:] if candidates else None


def _handle_number(handle: str) -> int:
    digits = handle.lstrip("abcdefghijklmnopqrstuvwxyz_")
    return int(digits) if digits.isdigit() else 1 << 62


# --- live output of a long cell ---------------------------------------------------------

class LiveOutput:
    """While a long cell runs: what ranks print, labelled by rank, and what each rank is
    doing (running Tcl, or waiting in which collective for whom): in a terminal as lines,
    in Jupyter as a widget updated in place; there the cell's view replaces both at the end."""

    STATUS_EVERY_S = 1.0
    TERMINAL_REPEAT_S = 10.0

    def __init__(self, after: float | None, can_clear: bool, activity: Callable[[list[int]], list[str]] | None = None,
                 echo_output: bool = True):
        self.after, self.can_clear, self.activity, self.echo_output = after, can_clear, activity, echo_output
        self.started = time.monotonic()
        self.seen: dict[tuple[int, str], int] = {}
        self.shown = False
        self._status_at = 0.0
        self._status_shape = ""
        self._status_printed_at = 0.0
        self._status = None

    def feed(self, pending) -> None:
        now = time.monotonic()
        if self.after is None or now - self.started < self.after:
            return
        for stream, texts in (("stdout", pending.stdout()), ("stderr", pending.stderr())) if self.echo_output else ():
            for rank, text in texts.items():
                done = self.seen.get((rank, stream), 0)
                complete = text.rfind("\n", done) + 1
                if complete > done:
                    for line in text[done:complete].splitlines():
                        print(f"[rank {rank}] {line}", file=sys.stderr if stream == "stderr" else sys.stdout)
                    self.seen[(rank, stream)] = complete
                    self.shown = True
        sys.stdout.flush()
        if self.activity is not None and now - self._status_at >= self.STATUS_EVERY_S:
            self._status_at = now
            self._show_status(self.activity(pending.running()), now)

    def _show_status(self, lines: list[str], now: float) -> None:
        if not lines:
            return
        if self.can_clear:  # a Jupyter front end: one widget, updated in place
            if self._status is None:
                from .live_widget import LiveStatus
                self._status = LiveStatus()
            self._status.show(lines)
            self.shown = True
            return
        text = "still running:\n" + "\n".join(f"  {line}" for line in lines)
        shape = re.sub(r"[0-9.]+ s\b", "", text)  # a terminal: again when it changes, or now and then
        if shape != self._status_shape or now - self._status_printed_at >= self.TERMINAL_REPEAT_S:
            print(text, file=sys.stderr, flush=True)
            self._status_shape, self._status_printed_at = shape, now

    def finish(self) -> None:
        """In a Jupyter front end the live lines and the status go when the cell ends (at once:
        a clear that waited for the next output would stay when no output follows)."""
        if self._status is not None:
            self._status.close()
        if self.shown and self.can_clear:
            from IPython.display import clear_output
            clear_output()


def activity(states: dict[int, RankState], ranks: Sequence[int], cell: str, stopped: Sequence[int] = (),
             now: float | None = None) -> list[str]:
    """What each running rank is doing in `cell`, for the live view of a long cell (a rank
    whose process is stopped says so: its state on the board is the last it posted)."""
    now = time.time() if now is None else now
    lines = []
    for rank in ranks:
        state = states[rank]
        if rank in stopped:
            doing = state.doing(cell)
            before = "was " + doing[3:] if doing.startswith("is ") else doing.replace("has ", "had ", 1)
            lines.append(f"rank {rank}: stopped (SIGSTOP: it does not run until SIGCONT); it {before}")
            continue
        line = f"rank {rank}: {state.doing(cell).removeprefix('is ')}"
        if state.phase in ("wait", "data") and state.cell == cell:
            line += f" for {now - state.since:.1f} s"
        if state.phase == "wait" and state.cell == cell:
            absent = describe(states, not_arrived(states, state), state.cell, awaited(state), aside=True)
            if absent:
                line += f"; not arrived: {'; '.join(absent)}"
        lines.append(line)
    return lines
