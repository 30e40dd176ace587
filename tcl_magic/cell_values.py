"""What a `%%torchtcl` cell gives back to IPython: its value, shown like a Python result,
or its failure, raised as an exception that Jupyter reports without a Python traceback.
"""
from __future__ import annotations

from typing import Any

from . import display
from .frontend import CellFailure
from .results import CellResult


class TclCellError(Exception):
    """A cell that failed on some ranks; shown as the Tcl errors, without a Python traceback.

    `str()` is the one-line summary (what Jupyter reports as the error's value); what a
    notebook draws is `headline` then `details`, which say each error once, with its trace,
    wrapped between words."""

    def __init__(self, summary: str, details: list[str] | None = None, headline: str | None = None):
        super().__init__(summary)
        self.details = details or []
        self.headline = summary if headline is None else headline

    @classmethod
    def of(cls, failure: CellFailure) -> "TclCellError":
        return cls(failure.summary, failure.details, failure.headline)

    def _render_traceback_(self) -> list[str]:
        headline, *rest = display.wrapped([f"TclCellError: {self.headline}"])
        return [headline.replace("TclCellError", "\x1b[0;31mTclCellError\x1b[0m", 1), *rest,
                *display.wrapped(self.details)]


class TclValue(str):
    """The value of a cell's last command, shown like a Python result (without quotes)."""

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


class RankValues(dict):
    """rank -> value of the last command; shown once per distinct value, labelled by rank."""

    def __init__(self, results: list[CellResult]):
        super().__init__({r.rank: r.result for r in results})
        self._lines = display.result_lines(results)

    def __repr__(self) -> str:
        return "\n".join(self._lines)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def cell_value(results: list[CellResult], where: str) -> Any:
    """The cell's value, except a handle name that a variable holds (the table shows it)."""
    shown = [r for r in results if r.result != "" and not r.value_in_variable]
    if where == "kernel":
        return TclValue(shown[0].result) if shown else None
    return RankValues(results) if shown else None
