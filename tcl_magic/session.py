"""TclSession: one real Tcl 8.6 interpreter with the torch:: commands in it.

A session is a REPL: variables, procs and tensor handles persist between evaluations.
Output written with `puts` is captured in order through a channel transform (it never
reaches file descriptor 1), and `exit` ends the evaluation, never the hosting process.
"""
from __future__ import annotations

import codecs
import gc
import itertools
import tkinter
import warnings
from typing import Any, Callable

import torch

from . import commands, convert
from .comm import Comm, data_parallel
from .handles import HANDLE_NAME, HandleRegistry
from .results import CellResult, TclErrorInfo, TensorSummary
from .commands import aten
from .bridge import bridge, wrapper_procs
from .spec import CommandSpec
from .tcl_source import SETUP, loop_procs

OutputHook = Callable[[str, str], None]


def _new_interpreter() -> Any:
    try:
        import tkinter
    except ImportError as err:  # pragma: no cover - depends on the system Python
        raise RuntimeError(
            "torchtcl needs Python's tkinter (Tcl 8.6): install your system's package for it "
            "(Debian/Ubuntu: python3-tk, Fedora: python3-tkinter, conda: tk)") from err
    return tkinter.Tcl()


class TclSession:
    """A persistent Tcl interpreter whose torch:: commands act on this process's rank."""

    def __init__(self, comm: Comm | None = None, on_output: OutputHook | None = None) -> None:
        self.tcl = _new_interpreter()
        self.handles = HandleRegistry()
        self.comm = comm or Comm()
        self.data_parallel = data_parallel.PendingBackward()
        self.grad_enabled = True  # the session's own gradient mode (torch::no_grad without a script
        # switches it until torch::enable_grad; the hosting process's mode is left as it was)
        self.on_output = on_output
        self._output: list[tuple[str, list[str]]] = []  # runs of one stream, joined at the end
        self._decoders: dict[str, codecs.IncrementalDecoder] = {}
        self._scopes: dict[str, Callable[[], None]] = {}  # token -> what ends a mode (no_grad {...})
        self._scope_numbers = itertools.count(1)
        self.tcl.createcommand("::torch::_impl::_capture", self._capture)
        self.tcl.createcommand("::torch::_impl::_leave", self._leave)
        self.tcl.createcommand("::torch::_impl::_mark", lambda: self.handles.made)
        self.tcl.createcommand("::torch::_impl::_settle", lambda mark: self.handles.boundary(int(mark)))
        self.tcl.createcommand("::torch::_impl::_free", lambda text: self._keep(text, settled_only=True))
        self.tcl.createcommand("::torch::_impl::_release", self._release)
        self.handles.on_due = lambda first: self.tcl.setvar("::torch::_impl::due", first)
        self.tcl.eval(SETUP)
        self.tcl.eval(loop_procs())
        self.commands = commands.TABLE  # what torch::help lists
        for spec in self.commands.specs:
            self._install(spec)
        self.tcl.createcommand("::torch::_impl::aten", lambda name, *args: aten.invoke(self, name, *args))
        self.tcl.eval(aten.tcl_source())

    def _install(self, spec: CommandSpec) -> None:
        self.tcl.createcommand(f"::torch::_impl::{spec.name}", bridge(spec, self))
        self.tcl.eval(wrapper_procs(spec))

    # --- what commands need from their context -------------------------------------------

    def split_list(self, text: str) -> tuple[str, ...]:
        """A Tcl list's words; a malformed list (`{1 2`) is a value error, worded by the caller."""
        try:
            return self.tcl.splitlist(text)
        except tkinter.TclError as err:
            raise convert.ConversionError(f"Must be a valid Tcl list ({err}).") from None
        except (TypeError, ValueError):  # tkinter passes no NUL character
            raise convert.ConversionError("Must be a Tcl list without NUL characters.") from None

    def to_tcl(self, value: Any) -> Any:
        """A command's Python result as Tcl sees it: tensors become new handles (in lists too)."""
        if isinstance(value, torch.Tensor):
            return self.handles.add(value)
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, (tuple, list)):
            return tuple(self.to_tcl(v) for v in value)
        return "" if value is None else value

    def enter_scope(self, leave: Callable[[], None]) -> str:
        """A command started a mode around the caller's script; `_leave token` ends it."""
        token = f"scope{next(self._scope_numbers)}"
        self._scopes[token] = leave
        return token

    def _leave(self, token: str) -> str:
        leave = self._scopes.pop(token, None)
        if leave is not None:
            leave()
        return ""

    def _leave_all(self) -> None:
        """Modes a cancelled evaluation never left (an interrupt passes through `catch`)."""
        for token in reversed(list(self._scopes)):
            self._leave(token)

    def on_parse_failure(self, spec: CommandSpec, args: tuple[str, ...], message: str) -> None:
        """A collective with bad arguments on this rank still meets the other ranks."""
        if spec.group_param is None or not self.comm.is_multi_rank:
            return
        try:
            raw = spec.raw_arguments(args, self)
        except Exception:  # the syntax itself was wrong: assume the world group
            raw = {}
        group_text = raw.get(spec.group_param, ("", ""))[1]
        self.comm.agreement.join_failed(group_text, message)

    # --- output capture ------------------------------------------------------------------

    def _capture(self, stream: str, op: str, *rest: str) -> str:
        """Channel transform handler for stdout/stderr (see `chan push`)."""
        if op == "initialize":
            return "initialize finalize write flush"
        if op == "write":
            decoder = self._decoders.setdefault(stream, codecs.getincrementaldecoder("utf-8")("replace"))
            text = decoder.decode(rest[1].encode("latin-1"))
            try:
                if text:
                    self._emit(stream, text)
            except OSError as err:  # the hook's own output is gone (a reader that closed its pipe)
                return f'\0error writing "{stream}": {(err.strerror or str(err)).lower()}'
        return ""

    def _warn(self, message, category, filename, lineno, file=None, line=None) -> None:
        """A warning torch gives during an evaluation (an argument whose meaning will change, a
        deprecated kind of tensor): the script's stderr says it as Tcl output, not in Python's
        file:line form. Python's filters still decide how often (once per place by default)."""
        text = str(message).split(" (Triggered internally at ", 1)[0]  # torch's C++ source line: not the script's
        self._emit("stderr", f"warning: {text}\n")

    def _emit(self, stream: str, text: str) -> None:
        if self._output and self._output[-1][0] == stream:
            self._output[-1][1].append(text)
        else:
            self._output.append((stream, [text]))
        if self.on_output is not None:
            self.on_output(stream, text)

    # --- evaluation ------------------------------------------------------------------------

    def eval(self, source: str, script_name: str | None = None, cell: str | None = None) -> CellResult:
        """Evaluate Tcl source at global level; never raises for a Tcl error.

        On a multi-rank world the evaluation is a cell on the board (`cell` numbers it the
        same on every rank): when it ends, peers still waiting for this rank in a
        collective are told how it ended, at once.
        """
        self._output = []
        if self.comm.agreement.begin_cell(cell):  # interrupted before it began here
            self.comm.agreement.end_cell("interrupted")
            raise KeyboardInterrupt
        result = CellResult(rank=self.comm.rank)
        host_grad_mode, host_warn = torch.is_grad_enabled(), warnings.showwarning
        torch.set_grad_enabled(self.grad_enabled)
        warnings.showwarning = self._warn
        try:
            self._evaluate(source, script_name, result)
        except BaseException as err:  # a cancelled evaluation
            self.comm.agreement.end_cell("error", str(err) or type(err).__name__)
            raise
        finally:
            self._leave_all()
            self.grad_enabled = torch.is_grad_enabled()
            torch.set_grad_enabled(host_grad_mode)
            warnings.showwarning = host_warn
        if result.error is not None:
            self.comm.agreement.end_cell("error", result.error.message)
        elif result.exit_code is not None:
            self.comm.agreement.end_cell("exit", str(result.exit_code))
        else:
            self.comm.agreement.end_cell("ok")
        result.group_broken = self.comm.agreement.broken
        result.value_in_variable = HANDLE_NAME.fullmatch(result.result) is not None and \
            self.tcl.call("::torch::_impl::held", result.result) in (1, "1")
        self.sweep()
        result.tensors = self.tensor_summaries()
        return result

    def sweep(self) -> int:
        """Free every tensor that no Tcl value can reach any more (the rule: a handle lives
        while a variable, an array element, a list or dict inside one, in any namespace or
        in a running proc, mentions it; the last cell's value counts too). Runs at the end
        of every evaluation; in the middle of one, iteration boundaries of for, while and
        foreach loops free what earlier iterations made, once enough was made since the last
        sweep (see `HandleRegistry.boundary`)."""
        return self._keep(self.tcl.call("::torch::_impl::values"))

    def _keep(self, text: str, settled_only: bool = False) -> int:
        return self.handles.keep_only(set(HANDLE_NAME.findall(str(text))), settled_only)

    def _release(self, text: str) -> int:
        """A command ran out of memory and may run again: free the unreachable handles of
        the settled runs, and hand their memory back to where the allocation looks."""
        freed = self._keep(text, settled_only=True)
        gc.collect()
        if torch.cuda.is_initialized():
            torch.cuda.empty_cache()
        return freed

    def close(self) -> None:
        """Release the interpreter and every tensor now (commands hold the session, so the
        two would otherwise keep each other alive)."""
        self.handles.clear()
        for name in self.tcl.splitlist(self.tcl.eval("info commands ::torch::_impl::*")):
            self.tcl.tk.deletecommand(name)
        self.on_output = None

    def _evaluate(self, source: str, script_name: str | None, result: CellResult) -> None:
        if script_name is not None:
            self.tcl.call("info", "script", script_name)
        code = int(self.tcl.call("catch", source, "::torch::_impl::result", "::torch::_impl::options"))
        result.output = self.captured_output()
        value = self.tcl.eval("set ::torch::_impl::result")
        if code in (0, 2):
            result.result = value
        elif code == 1:
            error_code = self.tcl.eval("dict get $::torch::_impl::options -errorcode")
            exit_status = self.tcl.eval(  # read by Tcl: the code may hold any character (a lone surrogate)
                "set c [dict get $::torch::_impl::options -errorcode]\n"
                "if {[llength $c] == 3 && [lindex $c 0] eq {TORCHTCL} && [lindex $c 1] eq {EXIT}} {lindex $c 2}")
            if exit_status != "":
                result.exit_code = int(exit_status)
            else:
                info = self.tcl.eval("dict get $::torch::_impl::options -errorinfo")
                if script_name is not None:  # where in the file, as tclsh says it
                    line = self.tcl.eval("dict get $::torch::_impl::options -errorline")
                    info = f'{info}\n    (file "{script_name}" line {line})'
                result.error = TclErrorInfo(value, info, error_code)
        else:
            word = "break" if code == 3 else "continue" if code == 4 else f"code {code}"
            message = f'invoked "{word}" outside of a loop'
            result.error = TclErrorInfo(message, message, "NONE")

    def captured_output(self) -> list[tuple[str, str]]:
        """What the current (or last) evaluation wrote so far: runs of one stream, in order."""
        return [(stream, "".join(parts)) for stream, parts in self._output]

    def tensor_summaries(self) -> list[TensorSummary]:
        """Global Tcl variables whose value is a live tensor handle, for per-rank tables."""
        found = self.tcl.splitlist(self.tcl.call("::torch::_impl::tensor_vars"))
        summaries = []
        for variable, handle in sorted(zip(found[::2], found[1::2])):
            t = self.handles.find(str(handle))
            if t is not None:
                summaries.append(TensorSummary(str(variable), str(handle), tuple(t.shape), convert.dtype_to_tcl(t.dtype),
                                               str(t.device), t.numel() * t.element_size()))
        return summaries

    def set_variable(self, name: str, value: Any) -> None:
        self.tcl.setvar(name, self.to_tcl(value))

    def set_script_args(self, script: str, argv: list[str]) -> None:
        """`argv0`, `argv` and `argc`, as tclsh sets them for a script."""
        self.tcl.setvar("::argv0", script)
        self.tcl.setvar("::argv", tuple(argv))
        self.tcl.setvar("::argc", len(argv))
