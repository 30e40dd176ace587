"""What runs on every rank: one persistent TclSession per process, fed source text.

The launcher runs `run_tcl` on each rank; it knows nothing about Tcl, and this module is
the only thing it is handed.
"""
from __future__ import annotations

import sys

from .results import CellResult
from .session import TclSession

_session: TclSession | None = None


def rank_session() -> TclSession:
    """This process's session, created on first use (after the process group exists)."""
    global _session
    if _session is None:
        _session = TclSession(on_output=_echo)
    return _session


def _echo(stream: str, text: str) -> None:
    """Also write output to the process's own streams, so a watcher sees it as it happens."""
    target = sys.stderr if stream == "stderr" else sys.stdout
    target.write(text)
    target.flush()


def run_tcl(source: str, script_name: str | None = None, argv: list[str] | None = None) -> CellResult:
    """Evaluate source in this rank's session; a Tcl error is returned, never raised."""
    session = rank_session()
    if argv is not None:
        session.set_script_args(script_name or "", argv)
    return session.eval(source, script_name=script_name)


def reset_session() -> None:
    """Start this rank over with a fresh interpreter (variables, handles, group names)."""
    global _session
    _session = None
