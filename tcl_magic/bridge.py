"""How Tcl calls a declared command (spec.py): the function behind `::torch::_impl::NAME`
and the wrapper procs `::torch::NAME` that act on its answer.

Why an answer and not an exception: a Python exception raised in a tkinter command loses
its message. So a bridge never raises; it answers (status, value or message, return
options), and the wrapper proc turns that into Tcl's result or a real Tcl error, frees
memory and calls again when a command ran out of it, or evaluates a script of the caller's
in the caller's frame. Every path of a bridge ends in one place (`answerer`), which makes
the function's result what Tcl sees: a tensor becomes a handle.
"""
from __future__ import annotations

import traceback
from typing import Any, Callable, Sequence

import torch

from .errors import TclCommandError, first_line, out_of_memory, out_of_memory_message
from .handles import HandleError
from .spec import SCRIPT, TENSOR, TENSOR_OR_NUMBER, CommandSpec, Scoped

OK, FAILED = 0, 1
OUT_OF_MEMORY = 2
"""The status for "out of memory: free what nothing reaches, then call me once more"
(shaped as a failure, which a second one is)."""
RUN_SCRIPT = 3
"""The status for "evaluate this script in the caller's frame, then call _leave"."""

Answer = tuple


def bridge(spec: CommandSpec, ctx: Any) -> Callable[..., Answer]:
    """The function Tcl calls for `spec` in the session `ctx`. Plain positional calls, which
    tight Tcl loops make, take a fast path; anything else (a flag, a missing word, a value
    that does not convert) goes the general way, which words the message."""
    answer = answerer(spec, ctx)

    def general(*args: str) -> Answer:
        return invoke(spec, ctx, args, answer)
    if spec.tail or spec.forms or any(p.kind is SCRIPT for p in spec.params):
        return general
    required = spec.required
    tensors_first = all(p.kind in (TENSOR, TENSOR_OR_NUMBER) for p in required) \
        and list(spec.params[:len(required)]) == required
    return _positional_path(spec, ctx, answer, general, len(required) if tensors_first else 0)


def invoke(spec: CommandSpec, ctx: Any, args: Sequence[str], answer: Callable[[Sequence[Any]], Answer]) -> Answer:
    """The general way: parse every syntax, word every mistake as the contract says."""
    try:
        values = spec.parse(args, ctx)
    except TclCommandError as err:
        ctx.on_parse_failure(spec, tuple(args), str(err))
        return failure(err)
    except Exception as err:
        return failure_of(spec, err)
    return answer(values)


def answerer(spec: CommandSpec, ctx: Any) -> Callable[[Sequence[Any]], Answer]:
    """The one result path: the function called on parsed values, its result as Tcl sees it
    (a tensor becomes a new handle, in lists too), or its failure."""
    func, add, to_tcl = spec.func, ctx.handles.add, ctx.to_tcl

    def answer(values: Sequence[Any]) -> Answer:
        try:
            result = func(ctx, *values)
        except Exception as err:
            return failure_of(spec, err)
        if isinstance(result, torch.Tensor):
            return (OK, add(result))
        if isinstance(result, Scoped):
            return (RUN_SCRIPT, result.body, ctx.enter_scope(result.leave))
        return (OK, to_tcl(result))
    return answer


def _positional_path(spec: CommandSpec, ctx: Any, answer, general, looked_up: int = 0) -> Callable[..., Answer]:
    """Positional words only: the first `looked_up` (required tensors: the arithmetic of
    tight loops, a collective's tensor) looked up as handles directly, the others converted
    by their parameter's kind."""
    tensors = ctx.handles.live  # the registry's own dict: a lookup, no call
    kinds = tuple(p.kind.parse for p in spec.params[looked_up:])
    defaults = [p.default for p in spec.params]
    least, most = len(spec.required), len(spec.params)

    def call(*args: str) -> Answer:
        n = len(args)
        if n < least or n > most or any(word[:1] == "-" for word in args[looked_up:]):
            return general(*args)
        try:
            values = [tensors[text] for text in args[:looked_up]]
            if n > looked_up:
                values += [kind(text, ctx) for kind, text in zip(kinds, args[looked_up:])]
        except Exception:
            return general(*args)
        return answer(values + defaults[n:])
    return call


def failure_of(spec: CommandSpec, err: Exception) -> Answer:
    """The answer for an exception raised by a command's function (or its parsing)."""
    if isinstance(err, TclCommandError):
        return failure(err)
    if isinstance(err, HandleError):
        return failure(TclCommandError(str(err), "HANDLE"))
    if out_of_memory(err):
        answer = failure(TclCommandError(f"torch::{spec.name}: {out_of_memory_message(err, spec.retries)}", "MEMORY"))
        return (OUT_OF_MEMORY, *answer[1:]) if spec.retries else answer
    if isinstance(err, (RuntimeError, ValueError, IndexError)):
        # torch reports a user's impossible request this way (shape mismatch, dim out of range, ...)
        return failure(TclCommandError(f"torch::{spec.name}: {first_line(err)}", "TORCH"))
    # a bug of ours: say so, with the Python trace for the report
    message = f"torch::{spec.name}: internal error: {type(err).__name__}: {err}"
    trace = "".join(traceback.format_exception(err)).rstrip()
    return (FAILED, message, ("-code", "error", "-errorcode", ("TORCH", "INTERNAL", type(err).__name__),
                              "-errorinfo", f"{message}\n{trace}"))


def failure(err: TclCommandError) -> Answer:
    return (FAILED, str(err), ("-code", "error", "-errorcode", err.errorcode))


def wrapper_procs(spec: CommandSpec) -> str:
    """Tcl source of the procs `::torch::NAME` (every spelling) that act on the bridge's
    answer. Out of memory, they free what nothing reaches from here, where Tcl sees the
    frames of every running proc (a sweep asked for from Python would see the global frame
    only) and the call's own words (`args`), and call again."""
    impl = f"::torch::_impl::{spec.name}"
    body = acting_on_status(f"[{impl} {{*}}$args]" if spec.params else f"[{impl}]",
                            scripts=any(p.kind is SCRIPT for p in spec.params))
    formals = "args" if spec.params else "{}"
    return "\n".join(f"proc ::torch::{n} {formals} {{\n    {body}\n}}" for n in spec.names)


def acting_on_status(call: str, scripts: bool = False) -> str:
    """The body of a wrapper proc: evaluate `call` (a bridge) and act on its status: the
    value, a real Tcl error, out of memory (free, then `call` once more), or (`scripts`) the
    caller's script in a mode."""
    script = ""
    if scripts:
        script = (f"        if {{[lindex $r 0] == {RUN_SCRIPT}}} {{\n"
                  "            catch {uplevel 1 [lindex $r 1]} result options\n"
                  "            ::torch::_impl::_leave [lindex $r 2]\n"
                  "            dict incr options -level\n"
                  "            return -options $options $result\n        }\n")
    return (f"set r {call}\n    if {{[lindex $r 0]}} {{\n"
            f"        if {{[lindex $r 0] == {OUT_OF_MEMORY}}} {{\n"
            "            ::torch::_impl::release\n"
            f"            set r {call}\n"
            "            if {![lindex $r 0]} {return [lindex $r 1]}\n        }\n"
            f"{script}"
            "        return {*}[lindex $r 2] [lindex $r 1]\n    }\n    lindex $r 1")
