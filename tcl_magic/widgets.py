"""ipywidgets views of a cell: the per-rank tensor table, the scatter picture, start progress.

Each view is composed from stock widgets (GridBox, HTML, Label, IntProgress) and displayed
with a text/plain form chosen here, so terminals and nbval (which compares text/plain and
ignores widget model ids) see the same deterministic table a person sees drawn.
"""
from __future__ import annotations

import html
import threading
import time
from collections import OrderedDict

import ipywidgets as widgets
from IPython.display import display

from .display import ScatterPicture, TensorTable, format_bytes, format_shape, row_span

RANK_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7")
DIFFERS_BACKGROUND = "#fff3cd"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_PAD = "padding:2px 8px;text-align:left;"


MAX_CELLS_WITH_WIDGETS = 50
"""Cells whose widgets stay live in the kernel; an older cell's are closed (its saved output
keeps the text form), so the kernel's widget count stays bounded."""
_shown: "OrderedDict[object, list[widgets.Widget]]" = OrderedDict()


def show(widget: widgets.Widget, text: str) -> None:
    """Display a widget whose text/plain form is `text` (not the widget's repr). The widgets
    an earlier run of the same cell showed are closed: its output was just replaced."""
    key = _cell_key()
    if key in _shown and key is not None:
        _close(_shown.pop(key))
    _shown.setdefault(key if key is not None else object(), []).append(widget)
    while len(_shown) > MAX_CELLS_WITH_WIDGETS:
        _close(_shown.popitem(last=False)[1])
    view = {"model_id": widget.model_id, "version_major": 2, "version_minor": 0}
    display({"text/plain": text, WIDGET_MIME: view}, raw=True)


def _cell_key() -> object:
    """The notebook cell being run (JupyterLab and Notebook send its id), else None."""
    try:
        from IPython import get_ipython
        parent = get_ipython().kernel.get_parent()
        return parent.get("metadata", {}).get("cellId") or parent["header"]["msg_id"]
    except (AttributeError, KeyError, TypeError):
        return None


def _close(shown: list[widgets.Widget]) -> None:
    for widget in shown:
        for child in getattr(widget, "children", ()):
            child.close()
        widget.close()


def live_widget_count() -> int:
    """Widgets of this extension still open in the kernel."""
    return sum(1 + len(getattr(w, "children", ())) for ws in _shown.values() for w in ws)


def tensor_table_widget(table: TensorTable) -> widgets.HTML:
    """One HTML widget: a table with one row per variable, one column per rank; differing
    shapes highlighted."""
    head = "".join(f'<th style="{_PAD}">{html.escape(label)}</th>' for label in ["variable", *table.labels])
    rows = []
    for row in table.rows:
        style = _PAD + (f"background:{DIFFERS_BACKGROUND};" if row.differs else "")
        title = ' title="shape differs across ranks"' if row.differs else ""
        name = html.escape(row.variable) + (" &#9888;" if row.differs else "")
        cells = [f'<td style="{style}"{title}><code>{name}</code></td>']
        for rank in table.ranks:
            s = row.cells[rank]
            text = "&ndash;" if s is None else (
                f'<span class="torchtcl-shape"><b>{format_shape(s.shape)}</b></span> {html.escape(s.dtype)} '
                f"{html.escape(s.device)} {format_bytes(s.nbytes)}")
            cells.append(f'<td style="{style}"{title}>{text}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    grid = widgets.HTML(f'<table style="border-collapse:collapse"><tr>{head}</tr>{"".join(rows)}</table>')
    grid.add_class("torchtcl-table")
    return grid


def scatter_widget(picture: ScatterPicture, max_rows: int = 64) -> widgets.HTML:
    """Source rows as a strip of blocks coloured by the rank that holds them, with a legend."""
    rows = picture.source_summary.shape[0]
    per_block = max(1, -(-rows // max_rows))
    owner = {}
    for rank, (start, stop) in picture.spans.items():
        owner.update({row: rank for row in range(start, stop)})
    blocks = []
    for first in range(0, rows, per_block):
        rank = owner.get(first)
        colour = RANK_COLOURS[rank % len(RANK_COLOURS)] if rank is not None else "#ddd"
        tip = f"row {first}" + (f" &rarr; rank {rank}" if rank is not None else "")
        blocks.append(f'<div title="{tip}" style="width:14px;height:22px;margin-right:1px;background:{colour}"></div>')
    legend = []
    for rank, (start, stop) in picture.spans.items():
        colour = RANK_COLOURS[rank % len(RANK_COLOURS)]
        where = row_span(start, stop)
        legend.append(f'<span style="margin-right:12px"><span style="display:inline-block;width:10px;'
                      f'height:10px;background:{colour}"></span> rank {rank}: {where}</span>')
    title = (f"rows of <code>{html.escape(picture.source)}</code> ({format_shape(picture.source_summary.shape)}) "
             f"held in <code>{html.escape(picture.chunk)}</code>")
    body = (f'<div>{title}</div><div style="display:flex;margin:4px 0">{"".join(blocks)}</div>'
            f'<div style="font-size:90%">{"".join(legend)}</div>')
    view = widgets.HTML(body)
    view.add_class("torchtcl-scatter")
    return view


def show_tensors(table: TensorTable, pictures: list[ScatterPicture]) -> None:
    """The table and the scatter pictures as one display, with their text as text/plain."""
    if not table.rows:
        return
    parts = [tensor_table_widget(table)] + [scatter_widget(p) for p in pictures]
    text = "\n\n".join([table.text()] + [p.text() for p in pictures])
    show(widgets.VBox(parts), text)


class StartProgress:
    """An indeterminate progress bar for the seconds ranks take to start.

    Its text/plain form is fixed when displayed, so a saved notebook does not depend on
    how long the start took; the bar itself moves through widget updates only.
    """

    def __init__(self, what: str, expected_s: float = 20.0) -> None:
        self.bar = widgets.IntProgress(value=0, min=0, max=int(expected_s * 4), bar_style="info")
        self.label = widgets.Label(f"starting {what} ...")
        self.what = what
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="torchtcl-progress", daemon=True)

    def __enter__(self) -> "StartProgress":
        show(widgets.HBox([self.bar, self.label]), f"starting {self.what} ...")
        self._started = time.monotonic()
        self._thread.start()
        return self

    def _tick(self) -> None:
        while not self._done.wait(0.25):
            elapsed = time.monotonic() - self._started
            self.bar.value = min(self.bar.max - 1, self.bar.value + 1)
            self.label.value = f"starting {self.what} ... {elapsed:.0f} s"

    def __exit__(self, kind, error, trace) -> None:
        self._done.set()
        self._thread.join(1.0)
        elapsed = time.monotonic() - self._started
        if kind is None:
            self.bar.value, self.bar.bar_style = self.bar.max, "success"
            self.label.value = f"started {self.what} in {elapsed:.1f} s"
        else:
            self.bar.bar_style = "danger"
            self.label.value = f"could not start {self.what} (after {elapsed:.1f} s)"
