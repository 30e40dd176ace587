"""The "still running" view of a long cell in a notebook: what each rank is doing (running
Tcl, or waiting in which collective for whom), one row per rank, updated in place through
a widget while the cell runs and closed when it ends, so a saved notebook keeps none of it.
"""
from __future__ import annotations

import html

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
TEXT = "still running ..."
"""The widget's text form: fixed, so that no timing reaches a saved output."""


class LiveStatus:
    """One widget per long cell; `show` draws the ranks' lines, `close` removes it."""

    def __init__(self) -> None:
        import ipywidgets as widgets  # only here: a live kernel is what this view is for

        self.widget = widgets.HTML()
        self._handle = None

    def show(self, lines: list[str]) -> None:
        """`lines` as the board words them: 'rank 0: waiting in ... for 2.0 s; not arrived: ...'."""
        self.widget.value = status_html(lines)
        if self._handle is None:
            self._handle = show_widget(self.widget, TEXT)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)
        self.widget.close()


def show_widget(widget, text: str):
    """Display a live widget with `text` as its form for front ends without widgets (and for
    the saved notebook, once the widget is closed); the display's handle, to update it."""
    from IPython.display import display

    view = {"model_id": widget.model_id, "version_major": 2, "version_minor": 0}
    return display({"text/plain": text, WIDGET_MIME: view}, raw=True, display_id=True)


def status_html(lines: list[str]) -> str:
    """A table of rank -> activity; waiting ranks marked (the extension's stylesheet colours them)."""
    rows = []
    for line in lines:
        who, _, doing = line.partition(": ")
        marked = ' class="torchtcl-waiting"' if doing.startswith(("waiting", "stopped")) else ""
        rows.append(f"<tr><td>{html.escape(who)}</td><td{marked}>{html.escape(doing)}</td></tr>")
    return f'<table class="torchtcl-live"><caption>still running</caption>{"".join(rows)}</table>'
