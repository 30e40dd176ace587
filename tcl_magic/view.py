"""A cell's per-rank view as data: one versioned JSON document under its own MIME type,
drawn by the torchtcl JupyterLab extension (rank tabs, the tensor table, the scatter
picture, the timeline of the cell's collectives), with the grouped text and a static HTML
drawing beside it for other front ends and for notebook validation.

The JSON holds data only (no markup, no scripts), so a renderer can draw it in an
untrusted notebook; its schema is documented in docs/notebook.md. The text forms hold no
timings, hosts or sizes of memory, so saved notebooks compare equal when re-run.
"""
from __future__ import annotations

import heapq

import html
from typing import Sequence

from . import display
from .frontend import print_output
from .results import CallEvent, CellResult, TensorSummary

MIME = "application/vnd.torchtcl.view+json"
VERSION = 1


def view_data(results: Sequence[CellResult], table: display.TensorTable | None,
              pictures: Sequence[display.ScatterPicture] = (), where: str = "cluster") -> dict:
    """The JSON document of a cell: its ranks, their output, tensors and calls over time."""
    facts = [r.facts for r in results if r.facts is not None]
    t0 = min((f.started for f in facts), default=0.0)
    ranks = [r.rank for r in results]
    stats = {r.rank: r.facts.stats if r.facts else {} for r in results}
    return {
        "version": VERSION,
        "where": where,
        "ranks": [_rank(r, t0, where) for r in results],
        "variables": [] if table is None else [
            {"name": row.variable, "differs": row.differs,
             "cells": [_tensor(row.cells.get(rank), stats[rank].get(row.variable)) for rank in ranks]}
            for row in table.rows],
        "scatters": [{"source": p.source, "chunk": p.chunk, "shape": list(p.source_summary.shape),
                      "dtype": p.source_summary.dtype, "spans": [[rank, a, b] for rank, (a, b) in p.spans.items()]}
                     for p in pictures],
        "calls": _calls(results, t0),
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _rank(result: CellResult, t0: float, where: str) -> dict:
    facts = result.facts
    entry = {"rank": result.rank, "label": "kernel" if where == "kernel" else f"rank {result.rank}",
             "ok": result.ok, "exit": result.exit_code,
             "error": None if result.error is None else result.error.info,
             "output": [{"stream": stream, "text": text} for stream, text in result.output],
             "result": "" if result.value_in_variable else result.result,
             "host": None, "device": None, "rss": None, "cuda": None, "start_ms": None, "end_ms": None,
             "dropped_calls": 0}
    if facts is not None:
        entry.update(host=facts.host, device=facts.device, rss=facts.rss, cuda=facts.cuda,
                     start_ms=_ms(facts.started - t0), end_ms=_ms(facts.ended - t0), dropped_calls=facts.dropped)
    return entry


def _tensor(summary: TensorSummary | None, stats: tuple[float, float, float] | None) -> dict | None:
    if summary is None:
        return None
    return {"shape": list(summary.shape), "dtype": summary.dtype, "device": summary.device,
            "bytes": summary.nbytes, "handle": summary.handle,
            "stats": None if stats is None else dict(zip(("min", "max", "mean"), stats))}


def _calls(results: Sequence[CellResult], t0: float) -> list[dict]:
    """The cell's calls, each with every member's times, in the order they began; a call is
    matched across ranks by its group (or transfer) and its count there."""
    calls: dict[tuple[str, int], list[tuple[int, CallEvent]]] = {}
    for result in results:
        for event in result.facts.events if result.facts else ():
            calls.setdefault((event.key, event.index), []).append((result.rank, event))
    out = []
    for lived in (calls[key] for key in _in_program_order(results, calls)):
        first = lived[0][1]
        last_rank, last = max(lived, key=lambda item: item[1].arrived)
        events = []
        for rank, e in sorted(lived, key=lambda item: item[0]):
            waited_for = last_rank if rank != last_rank and len(lived) > 1 else None
            events.append({"rank": rank, "op": e.op, "arrived": _ms(e.arrived - t0), "agreed": _ms(e.agreed - t0),
                           "moved": _ms(e.moved - t0), "left": _ms(e.left - t0),
                           "waited": _ms(e.agreed - e.arrived), "waited_for": waited_for,
                           "sent": e.sent, "received": e.received, "outcome": e.outcome})
        out.append({"op": first.op, "group": first.group, "members": list(first.members),
                    "last": last_rank if len(lived) > 1 else None, "events": events})
    return out


def _in_program_order(results: Sequence[CellResult], calls: dict) -> list[tuple[str, int]]:
    """The calls in an order that every rank's own agrees with (a rank makes its calls one
    after another), the earliest to begin first among those free to come next: ordering by
    arrival alone could put a rank's barrier before another rank's earlier send."""
    after: dict[tuple[str, int], set] = {key: set() for key in calls}  # call -> calls a rank made next
    for result in results:
        events = sorted(result.facts.events if result.facts else (), key=lambda e: e.arrived)
        for earlier, later in zip(events, events[1:]):
            after[(earlier.key, earlier.index)].add((later.key, later.index))
    waiting_on = dict.fromkeys(calls, 0)
    for successors in after.values():
        for key in successors:
            waiting_on[key] += 1
    began = {key: min(e.arrived for _, e in lived) for key, lived in calls.items()}
    free = [(began[key], key) for key, count in waiting_on.items() if count == 0]
    heapq.heapify(free)
    order: list[tuple[str, int]] = []
    while free:  # a heap of the calls free to come next, by when they began: n log n for long cells
        _, key = heapq.heappop(free)
        order.append(key)
        for successor in after[key]:
            waiting_on[successor] -= 1
            if waiting_on[successor] == 0:
                heapq.heappush(free, (began[successor], successor))
    # calls whose ranks disagree on their order (transfers on threads, clocks apart): by when they began
    return order + sorted((key for key, count in waiting_on.items() if count > 0), key=began.__getitem__)


# --- the fallbacks --------------------------------------------------------------------------

def output_lines(results: Sequence[CellResult]) -> list[tuple[str, str]]:
    """(stream, line) pairs: each distinct output once, in its order, labelled with its ranks."""
    lines = []
    for ranks, output in display.group_by(results, lambda r: tuple(r.output)):
        for stream, text in output:
            lines += [(stream, line) for line in display.labelled_lines(display.rank_words(ranks), text)]
    return lines


def view_text(results: Sequence[CellResult], table: display.TensorTable | None,
              pictures: Sequence[display.ScatterPicture] = ()) -> str:
    """What terminals and notebook validation see: each distinct output once, labelled by
    rank, then the table and the pictures (deterministic: no times, hosts or memory)."""
    parts = ["\n".join(line for _, line in output_lines(results))]
    if table is not None and table.rows:
        parts += [table.text()] + [p.text() for p in pictures]
    return "\n\n".join(part for part in parts if part)


def view_html(results: Sequence[CellResult], table: display.TensorTable | None,
              pictures: Sequence[display.ScatterPicture] = ()) -> str:
    """A static drawing for front ends without the extension: the output, the table, the pictures."""
    from .widgets import STYLE, scatter_html, tensor_table_html  # the static drawing lives there

    lines = output_lines(results)
    body = []
    if lines:
        body.append('<pre class="torchtcl-output">' + "\n".join(
            f'<span class="torchtcl-stderr">{html.escape(line)}</span>' if stream == "stderr" else html.escape(line)
            for stream, line in lines) + "</pre>")
    if table is not None and table.rows:
        body += [STYLE, tensor_table_html(table)] + [scatter_html(p) for p in pictures]
    return f'<div class="torchtcl-view">{"".join(body)}</div>'


def view_bundle(results: Sequence[CellResult], table: display.TensorTable | None,
                pictures: Sequence[display.ScatterPicture] = (), where: str = "cluster") -> dict:
    """The MIME bundle of a cell's view: the JSON for the extension, HTML and text beside it."""
    return {MIME: view_data(results, table, pictures, where),
            "text/html": view_html(results, table, pictures),
            "text/plain": view_text(results, table, pictures)}


def show_view(results: Sequence[CellResult], table: display.TensorTable | None,
              pictures: Sequence[display.ScatterPicture] = (), where: str = "cluster") -> None:
    """Display a cell's view as one output (nothing when there is nothing to show)."""
    from IPython.display import display as show

    bundle = view_bundle(results, table, pictures, where)
    if bundle["text/plain"] or bundle[MIME]["calls"]:
        show(bundle, raw=True)


def show_cell(results: Sequence[CellResult], where: str, table: display.TensorTable | None,
              pictures: Sequence[display.ScatterPicture] = (), rich: bool = False) -> None:
    """A cell's results as the front end can show them: on a cluster in a front end that
    renders MIME bundles (`rich`, a Jupyter kernel), the one view; elsewhere each rank's
    output as labelled lines and the table as before (output in the kernel was written live)."""
    if where == "cluster" and rich:
        show_view(results, table, pictures, where)
        return
    if where == "cluster":
        print_output(results)
    if table is not None and table.rows:
        from .widgets import show_tensors  # ipywidgets only when a table is drawn

        show_tensors(table, list(pictures))
