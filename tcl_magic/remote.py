"""What runs on every rank: one persistent TclSession per process, fed source text.

The launcher runs `run_tcl` on each rank; it knows nothing about Tcl, and this module is
the only thing it is handed. The notebook front end also sends `set_inputs` and
`fetch_outputs` (the -i/-o of `%%torchtcl`) and `reset_session`.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import threading
from typing import Any, Iterator

from . import convert
from .facts import rank_facts
from .results import CellResult, TclErrorInfo
from .session import TclSession

_session: TclSession | None = None

INTERRUPTED = "interrupted while {doing}; the session is intact"
OWN_SIGNAL_WAIT_S = 2.0
"""How long a rank whose round a peer's interrupt stopped waits for its own interrupt."""
TCL_CANCEL_UNWIND = 0x100000  # tcl.h: the cancel goes through `catch` up to the top level


def rank_session() -> TclSession:
    """This process's session, created on first use (after the process group exists)."""
    global _session
    if _session is None:
        _session = TclSession(on_output=_echo)
    return _session


def _echo(stream: str, text: str) -> None:
    """Also write output to the process's own streams, so a watcher sees it as it happens.
    No flush per line: the engine's stream sends what gathered every fraction of a second,
    in one message, and everything when the cell ends (one message per line cost 1.5 ms)."""
    (sys.stderr if stream == "stderr" else sys.stdout).write(text)


def run_tcl(source: str, script_name: str | None = None, argv: list[str] | None = None,
            running_ranks: list[int] | None = None, cell: str | None = None) -> CellResult:
    """Evaluate source in this rank's session; a Tcl error is returned, never raised.

    `running_ranks` names the ranks evaluating this source when it runs on part of the
    cluster, so that collectives that would need the others are refused instead of hanging.
    `cell` numbers the cell alike on every rank (see the board). An interrupt (SIGINT, see
    `RankCluster.interrupt_ranks`) ends the evaluation with the error "interrupted while
    ...", and the session and the process group stay usable.
    """
    session = rank_session()
    if argv is not None:
        session.set_script_args(script_name or "", argv)
    session.comm.running_ranks = tuple(running_ranks) if running_ranks is not None else None
    try:
        return eval_interruptible(session, source, script_name, cell)
    finally:
        session.comm.running_ranks = None


def eval_interruptible(session: TclSession, source: str, script_name: str | None = None,
                       cell: str | None = None) -> CellResult:
    """`session.eval`, but Ctrl-C (SIGINT) stops even a pure Tcl loop, or a wait in a
    collective, and reports what the rank was doing; the result carries the rank's facts
    (host, memory, the cell's collectives over time) for the notebook's view."""
    result = _eval_interruptible(session, source, script_name, cell)
    with contextlib.suppress(Exception):  # facts are for the view: never the cause of a failed cell
        result.facts = rank_facts(session, result.tensors)
    return result


def _eval_interruptible(session: TclSession, source: str, script_name: str | None = None,
                        cell: str | None = None) -> CellResult:
    interrupted: dict = {"while": None, "signalled": threading.Event()}
    try:
        with _cancel_on_sigint(session, interrupted):
            result = session.eval(source, script_name=script_name, cell=cell)
            stopped_in_a_round = result.error is not None and result.error.code == "TORCH INTERRUPTED"
            if stopped_in_a_round and interrupted["while"] is None and interrupted.get("listening"):
                # a peer's interrupt stopped the round: this rank's own SIGINT is on its way (the
                # front end signals every rank); take it here, not in the engine after the cell
                interrupted["signalled"].wait(OWN_SIGNAL_WAIT_S)
        if interrupted["while"] is None and not stopped_in_a_round:
            return result
    except KeyboardInterrupt:
        pass
    except Exception as err:  # a Tcl cancel that escaped `catch` surfaces as TclError
        if interrupted["while"] is None and "eval unwound" not in str(err) and "eval canceled" not in str(err):
            raise
    # the board's word first: it is corrected when the interrupt came as the rank began to wait
    return _interrupted_result(session, session.comm.agreement.interrupted_while or interrupted["while"] or "running Tcl")


def _interrupted_result(session: TclSession, doing: str) -> CellResult:
    message = INTERRUPTED.format(doing=doing)
    try:
        tensors = session.tensor_summaries()
    except (Exception, KeyboardInterrupt):
        tensors = []
    return CellResult(rank=session.comm.rank, output=session.captured_output(), tensors=tensors,
                      error=TclErrorInfo(message, message, "TORCHTCL INTERRUPTED"))


@contextlib.contextmanager
def _cancel_on_sigint(session: TclSession, interrupted: dict) -> Iterator[None]:
    """Cancel the running Tcl evaluation, and any wait in a collective, when SIGINT arrives.

    Python runs its own signal handler only between bytecodes, never inside a Tcl loop
    that calls no torch:: command; the C-level wakeup fd, though, is written at once, so
    a watcher thread reads it, asks Tcl to unwind (Tcl_CancelEval is thread-safe) and
    fails the agreement round the rank waits in. Python's own handler does nothing
    meanwhile: a KeyboardInterrupt between a collective's agreement and its data phase
    would leave the other members waiting inside gloo.
    """
    cancel = _tcl_api()
    if cancel is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    watcher = _SigintWatcher.of_this_process()
    previous_handler = signal.signal(signal.SIGINT, lambda signum, frame: None)
    previous = signal.set_wakeup_fd(watcher.writer.fileno(), warn_on_full_buffer=False)
    address = session.tcl.interpaddr()
    watcher.arm(previous, (session, interrupted, cancel, address))
    interrupted["listening"] = True
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        signal.signal(signal.SIGINT, previous_handler)
        watcher.arm(previous, None)  # waits for a cancel under way: it lands before the drop below
        _drop_late_cancel(session, cancel, address)


class _SigintWatcher:
    """The thread that reads the wakeup fd, one per process, made on the first cell and
    armed for each (a thread started and joined per cell cost ~0.2 ms of every cell)."""

    _one: "_SigintWatcher | None" = None

    @classmethod
    def of_this_process(cls) -> "_SigintWatcher":
        if cls._one is None or cls._one.pid != os.getpid():  # a forked engine has no thread of its parent's
            cls._one = cls()
        return cls._one

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.reader, self.writer = socket.socketpair()
        self.writer.setblocking(False)
        self.lock = threading.Lock()
        self.previous = -1  # whoever listened to the wakeup fd before the cell
        self.cell: tuple | None = None  # (session, interrupted, cancel, address) while a cell runs
        threading.Thread(target=self._watch, name="tcl-interrupt", daemon=True).start()

    def arm(self, previous: int, cell: tuple | None) -> None:
        with self.lock:
            self.previous, self.cell = previous, cell

    def _watch(self) -> None:
        while True:
            try:
                data = self.reader.recv(64)
            except OSError:
                return
            with self.lock:
                if self.previous != -1:  # whoever listened before (an event loop) still hears it
                    with contextlib.suppress(OSError):
                        os.write(self.previous, data)
                if signal.SIGINT in data and self.cell is not None:
                    session, interrupted, cancel, address = self.cell
                    interrupted["while"] = "running Tcl"  # at once: the board's answer takes a moment
                    try:
                        interrupted["while"] = session.comm.agreement.interrupt()
                    finally:
                        cancel.Tcl_CancelEval(address, None, None, TCL_CANCEL_UNWIND)
                        interrupted["signalled"].set()


def _drop_late_cancel(session: TclSession, api: Any, address: int) -> None:
    """A cancel asked for from the watcher thread reaches the interpreter through an async
    handler that runs at its next command, which could be in the next cell: run a command
    now, so it lands here, and forget it."""
    import tkinter

    for _ in range(2):
        api.TclResetCancellation(address, 1)
        try:
            session.tcl.eval("list")
            return
        except tkinter.TclError:
            continue


_TCL_API: list = []


def _tcl_api() -> Any:
    """libtcl's cancel entry points, through the library _tkinter is linked against."""
    if not _TCL_API:
        try:
            import _tkinter
            lib = ctypes.CDLL(_tkinter.__file__)
            lib.Tcl_CancelEval.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
            lib.TclResetCancellation.argtypes = [ctypes.c_void_p, ctypes.c_int]
            _TCL_API.append(lib)
        except (OSError, AttributeError, ImportError):
            _TCL_API.append(None)
    return _TCL_API[0]


def set_inputs(values: dict[str, Any], session: TclSession | None = None) -> list[str]:
    """Set Tcl variables from Python values (the -i of `%%torchtcl`); tensors become handles."""
    session = session or rank_session()
    device = session.comm.device
    for name, value in values.items():
        if hasattr(value, "to") and device.type != "cpu":  # a tensor: onto this rank's GPU
            value = value.to(device)
        session.set_variable(name, value)
    return list(values)


def fetch_outputs(names: list[str], session: TclSession | None = None) -> dict[str, Any]:
    """Tcl variables as Python values (the -o of `%%torchtcl`): handles come back as CPU tensors."""
    session = session or rank_session()
    return {name: convert.tcl_variable_to_python(name, _read_variable(session, name), session.handles.find)
            for name in names}


def _read_variable(session: TclSession, name: str) -> str:
    if session.tcl.call("array", "exists", name):
        raise convert.ConversionError(f"cannot bring Tcl array variable {name!r} to Python (-o): "
                                      "only scalar variables (a tensor handle or a value) can be brought back")
    if not int(session.tcl.call("info", "exists", name)):
        raise convert.ConversionError(f"cannot bring Tcl variable {name!r} to Python (-o): "
                                      f"rank {session.comm.rank} has no such variable; set it in the cell first")
    return session.tcl.eval(f"set {{::{name}}}")  # the string form, as Tcl code sees it


def reset_session() -> None:
    """Start this rank over with a fresh interpreter (variables, handles, group names); the
    old one's memory is released at once."""
    global _session
    if _session is not None:
        _session.close()
    _session = None


def group_definitions() -> list[tuple[str, tuple[int, ...]]]:
    """This rank's named groups, in order of creation (to rebuild them after a heal)."""
    return rank_session().comm.group_definitions()


def rebuild_groups(definitions: list[tuple[str, tuple[int, ...]]]) -> None:
    """After the launcher rebuilt the world: the named groups again, on every rank."""
    rank_session().comm.rebuild_groups(definitions)
