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


def run_tcl(source: str, script_name: str | None = None, argv: list[str] | None = None,
            running_ranks: list[int] | None = None) -> CellResult:
    """Evaluate source in this rank's session; a Tcl error is returned, never raised.

    `running_ranks` names the ranks evaluating this source when it runs on part of the
    cluster, so that collectives that would need the others are refused instead of hanging.
    """
    session = rank_session()
    if argv is not None:
        session.set_script_args(script_name or "", argv)
    session.comm.running_ranks = tuple(running_ranks) if running_ranks is not None else None
    try:
        return session.eval(source, script_name=script_name)
    finally:
        session.comm.running_ranks = None


def reset_session() -> None:
    """Start this rank over with a fresh interpreter (variables, handles, group names)."""
    global _session
    _session = None
