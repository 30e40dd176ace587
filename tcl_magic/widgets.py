"""What a cell draws in a notebook: the per-rank tensor table, the scatter picture, and
the progress bar of a cluster start.

The table and the picture are static, so they are HTML outputs (with their text form as
text/plain), not widget models: the saved notebook holds them as they were drawn, a
reopened notebook or a notebook viewer shows them without a kernel, and the kernel keeps
nothing per cell. Their colours come from JupyterLab's theme variables (with plain
fallbacks elsewhere), so the light and dark themes both read well. The start progress
bar is the one live widget; when the start ends it is replaced by its text, so no widget
state is left in a saved notebook either.
"""
from __future__ import annotations

import html
import threading
import time

from IPython.display import display

from .display import ScatterPicture, TensorTable, format_shape, row_span
from .live_widget import show_widget
from .results import format_bytes

RANK_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7")

STYLE = """<style>
.torchtcl-table {border-collapse: collapse; color: var(--jp-content-font-color1, inherit)}
.torchtcl-table th, .torchtcl-table td {padding: 2px 8px; text-align: left;
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0)}
.torchtcl-table th {color: var(--jp-ui-font-color1, inherit)}
.torchtcl-table tr.torchtcl-differs td {background: rgba(255, 152, 0, 0.25);
  background: color-mix(in srgb, var(--jp-warn-color1, #ff9800) 28%, transparent)}
.torchtcl-scatter {color: var(--jp-content-font-color1, inherit); margin-top: 6px}
.torchtcl-scatter .torchtcl-strip {display: flex; margin: 4px 0}
.torchtcl-scatter .torchtcl-strip div {width: 14px; height: 22px; margin-right: 1px}
.torchtcl-scatter .torchtcl-key {display: inline-block; width: 10px; height: 10px}
</style>"""


def tensor_table_html(table: TensorTable) -> str:
    """A table with one row per variable, one column per rank; rows whose shape differs
    across ranks are highlighted and marked."""
    head = "".join(f"<th>{html.escape(label)}</th>" for label in ["variable", *table.labels])
    rows = []
    for row in table.rows:
        marked = ' class="torchtcl-differs" title="shape differs across ranks"' if row.differs else ""
        cells = [f"<td><code>{html.escape(row.variable)}</code>{' &#9888;' if row.differs else ''}</td>"]
        for rank in table.ranks:
            s = row.cells[rank]
            cells.append("<td>&ndash;</td>" if s is None else
                         f'<td><b class="torchtcl-shape">{format_shape(s.shape)}</b> {html.escape(s.dtype)} '
                         f"{html.escape(s.device)} {format_bytes(s.nbytes)}</td>")
        rows.append(f"<tr{marked}>{''.join(cells)}</tr>")
    return f'<table class="torchtcl-table"><tr>{head}</tr>{"".join(rows)}</table>'


def scatter_html(picture: ScatterPicture, max_rows: int = 64) -> str:
    """Source rows as a strip of blocks coloured by the rank that holds them, with a legend."""
    rows = picture.source_summary.shape[0]
    per_block = max(1, -(-rows // max_rows))
    owner = {}
    for rank, (start, stop) in picture.spans.items():
        owner.update({row: rank for row in range(start, stop)})
    blocks = []
    for first in range(0, rows, per_block):
        rank = owner.get(first)
        colour = RANK_COLOURS[rank % len(RANK_COLOURS)] if rank is not None else "var(--jp-layout-color3, #bdbdbd)"
        tip = f"row {first}" + (f" &rarr; rank {rank}" if rank is not None else "")
        blocks.append(f'<div title="{tip}" style="background:{colour}"></div>')
    legend = [f'<span style="margin-right:12px"><span class="torchtcl-key" style="background:'
              f'{RANK_COLOURS[rank % len(RANK_COLOURS)]}"></span> rank {rank}: {row_span(start, stop)}</span>'
              for rank, (start, stop) in picture.spans.items()]
    title = (f"rows of <code>{html.escape(picture.source)}</code> ({format_shape(picture.source_summary.shape)}) "
             f"held in <code>{html.escape(picture.chunk)}</code>")
    return (f'<div class="torchtcl-scatter"><div>{title}</div><div class="torchtcl-strip">{"".join(blocks)}</div>'
            f'<div style="font-size:90%">{"".join(legend)}</div></div>')


def show_tensors(table: TensorTable, pictures: list[ScatterPicture]) -> None:
    """The table and the scatter pictures as one output, HTML and its text form."""
    if not table.rows:
        return
    text = "\n\n".join([table.text()] + [p.text() for p in pictures])
    body = "".join([STYLE, tensor_table_html(table)] + [scatter_html(p) for p in pictures])
    display({"text/plain": text, "text/html": f'<div class="torchtcl-view">{body}</div>'}, raw=True)


class StartProgress:
    """An indeterminate progress bar for the seconds ranks take to start.

    Its text/plain form is fixed when displayed, so a saved notebook does not depend on
    how long the start took; the bar moves through widget updates only, and when the start
    ends the output becomes that text alone (the widgets are closed: nothing to save).
    """

    def __init__(self, what: str, expected_s: float = 20.0) -> None:
        import ipywidgets as widgets  # only here: the one live view

        self.bar = widgets.IntProgress(value=0, min=0, max=int(expected_s * 4), bar_style="info")
        self.label = widgets.Label(f"starting {what} ...")
        self.box = widgets.HBox([self.bar, self.label])
        self.what = what
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="torchtcl-progress", daemon=True)

    def __enter__(self) -> "StartProgress":
        self._handle = show_widget(self.box, self._text())
        self._started = time.monotonic()
        self._thread.start()
        return self

    def _text(self) -> str:
        return f"starting {self.what} ..."

    def _tick(self) -> None:
        while not self._done.wait(0.25):
            elapsed = time.monotonic() - self._started
            self.bar.value = min(self.bar.max - 1, self.bar.value + 1)
            self.label.value = f"starting {self.what} ... {elapsed:.0f} s"

    def __exit__(self, kind, error, trace) -> None:
        self._done.set()
        self._thread.join(1.0)
        if self._handle is not None:
            self._handle.update({"text/plain": self._text()}, raw=True)
        for widget in (self.bar, self.label, self.box):
            widget.close()
