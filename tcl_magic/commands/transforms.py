"""Function transforms: derivatives, checks and maps of a function written in Tcl.

The function is a Tcl command (a proc, or a command prefix such as `apply {x {...}}`)
named as the caller sees it. torch calls it as often as it needs to, each time with new
tensor handles for its arguments; it answers a tensor handle (or a list of them), made by
torch:: commands, and torch differentiates through what those commands did:
`torch.autograd.functional` for jacobian, hessian, jvp and vjp, `torch.func.vmap` for
vmap, `torch.autograd.gradcheck` for the gradient checks, `torch.func.functional_call`
for a module run with other parameters.

The handles made during the calls follow the usual lifetime rule: they live while a Tcl
value names them (a sweep frees them once nothing does). Inside `vmap` the function sees
one example at a time: its tensors are torch's batched tensors, which only mean something
during the call.
"""
from __future__ import annotations

import tkinter
from typing import Any, Callable

import torch
from torch import nn

from .. import convert
from ..errors import TclCommandError, first_line
from ..handles import HandleError
from ..spec import BOOL, NUMBER, Param, ParamType, command


def _tensors(text: str, ctx: Any) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """One tensor handle (a tensor), or a Tcl list of them (a tuple: one per argument)."""
    words = ctx.split_list(text)
    if not words:
        raise convert.ConversionError("Must be a tensor handle or a list of tensor handles.")
    tensors = tuple(ctx.handles.get(word) for word in words)
    return tensors[0] if len(tensors) == 1 else tensors


TENSORS = ParamType("tensor or tensors", _tensors)
FUNCTION = ParamType("command", lambda text, ctx: text)  # found (as the caller sees it) when called
_FUNC = Param("func", FUNCTION, aliases=("function",),
              help="a Tcl command (proc) that takes tensor handles and returns a tensor handle")
_INPUTS = Param("inputs", TENSORS, aliases=("input",), help="a tensor handle, or a list of them (one per argument)")
_CREATE_GRAPH = Param("create_graph", BOOL, False, help="record the result's own graph (for higher derivatives)")
_STRICT = Param("strict", BOOL, False, help="an error when an output does not depend on an input (else zeros)")
_VECTORIZE = Param("vectorize", BOOL, False, help="compute with torch.func.vmap (one call of the function on a "
                                                  "batch) instead of one backward pass per output element")

_CALL = "::torch::_impl::callee"
"""The Tcl variable that carries a call's words to `uplevel` (quoting-free: a Tcl list); it
is emptied after each call, so that it keeps no handle reachable."""


class TclFunction:
    """The function a command was given: a Tcl command prefix, resolved in the caller's
    frame, called there with tensor handles; a Python callable for torch."""

    def __init__(self, ctx: Any, command_name: str, text: str) -> None:
        self.ctx, self.command, self.text = ctx, command_name, text
        try:
            words = ctx.split_list(text)
        except convert.ConversionError as err:
            raise TclCommandError(f"torch::{command_name}: the function {text!r} is not a Tcl command: {err}",
                                  "FUNCTION") from None
        if not words or not words[0].strip():
            raise TclCommandError(f"Required parameters missing: -func is empty (torch::{command_name} needs a "
                                  "function: a name is required, of a Tcl command that takes tensor handles and "
                                  "returns one)", "USAGE")
        found = self._in_caller(f"namespace which -command ${_CALL}", words[0])
        if not found:
            raise TclCommandError(f'torch::{command_name}: the function "{words[0]}" is not a Tcl command: define '
                                  f"it with proc (it takes tensor handles and returns a tensor handle)", "FUNCTION")
        self.prefix = (found, *words[1:])

    def _in_caller(self, script: str, value: Any) -> str:
        """Evaluate `script` in the frame of the torch:: command's caller (this runs inside
        the command's wrapper proc), with `value` in the variable it reads."""
        self.ctx.tcl.setvar(_CALL, value)
        try:
            return self.ctx.tcl.eval(f"uplevel 1 {{{script}}}")
        finally:
            self.ctx.tcl.setvar(_CALL, "")

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        handles = tuple(self.ctx.handles.add(t) for t in tensors)
        try:
            answer = self._in_caller(f"{{*}}${_CALL}", (*self.prefix, *handles))
        except tkinter.TclError as err:
            raise TclCommandError(f'torch::{self.command}: the function "{self.text}" failed: {err}',
                                  "FUNCTION") from None
        words = self.ctx.split_list(answer) if answer.strip() else ()
        results = tuple(self.ctx.handles.find(word) for word in words)
        if not results or any(r is None for r in results):
            shown = answer if len(answer) <= 60 else answer[:57] + "..."
            raise TclCommandError(f'torch::{self.command}: the function "{self.text}" returned "{shown}", not a '
                                  "tensor handle (or a list of them)", "FUNCTION")
        return results[0] if len(results) == 1 else results


def _differentiable(inputs: Any, command_name: str) -> None:
    for tensor in inputs if isinstance(inputs, tuple) else (inputs,):
        if not (tensor.dtype.is_floating_point or tensor.dtype.is_complex):
            raise TclCommandError(f"torch::{command_name}: the inputs must be floating-point tensors to be "
                                  f"differentiated; one is {str(tensor.dtype).removeprefix('torch.')} (convert it "
                                  "with torch::tensor_to)", "VALUE")


def _transform(name: str, ctx: Any, func: str, inputs: Any, run: Callable[[TclFunction, Any], Any]) -> Any:
    """Check the inputs, find the function, run torch's transform on them."""
    _differentiable(inputs, name)
    function = TclFunction(ctx, name, func)
    try:
        return run(function, inputs)
    except TypeError as err:  # torch's word for what it cannot combine (a tuple where a tensor goes)
        raise TclCommandError(f"torch::{name}: {first_line(err)}", "TORCH") from None


@command("jacobian", _FUNC, _INPUTS, _CREATE_GRAPH, _STRICT, _VECTORIZE, also=("Jacobian",), once=True)
def jacobian(ctx, func, inputs, create_graph, strict, vectorize):
    """The Jacobian of the function at the inputs: every d(output element)/d(input
    element), of shape output shape + input shape (torch.autograd.functional.jacobian)."""
    return _transform("jacobian", ctx, func, inputs, lambda f, x: torch.autograd.functional.jacobian(
        f, x, create_graph=create_graph, strict=strict, vectorize=vectorize))


@command("hessian", _FUNC, _INPUTS, _CREATE_GRAPH, _STRICT, _VECTORIZE, once=True)
def hessian(ctx, func, inputs, create_graph, strict, vectorize):
    """The Hessian of a function with a one-element result at the inputs: every second
    derivative, of shape input shape + input shape (torch.autograd.functional.hessian)."""
    return _transform("hessian", ctx, func, inputs, lambda f, x: torch.autograd.functional.hessian(
        f, x, create_graph=create_graph, strict=strict, vectorize=vectorize))


_V = Param("v", TENSORS, aliases=("vector",), help="the vector (a tensor handle, or a list of them)")


@command("jvp", _FUNC, _INPUTS, _V, _CREATE_GRAPH, _STRICT, once=True)
def jvp(ctx, func, inputs, v, create_graph, strict):
    """The Jacobian-vector product: the derivative of the function at the inputs in the
    direction v, of the output's shape (torch.autograd.functional.jvp)."""
    return _transform("jvp", ctx, func, inputs, lambda f, x: torch.autograd.functional.jvp(
        f, x, v, create_graph=create_graph, strict=strict)[1])


@command("vjp", _FUNC, _INPUTS, _V, _CREATE_GRAPH, _STRICT, also=("vectorJacobianProduct",), once=True)
def vjp(ctx, func, inputs, v, create_graph, strict):
    """The vector-Jacobian product: v (of the output's shape) times the Jacobian, of the
    inputs' shape (torch.autograd.functional.vjp)."""
    return _transform("vjp", ctx, func, inputs, lambda f, x: torch.autograd.functional.vjp(
        f, x, v, create_graph=create_graph, strict=strict)[1])


def _dims(text: str, ctx: Any) -> int | None | tuple[int | None, ...]:
    """An integer or `none`, or a Tcl list of them (one per input)."""
    def one(word: str) -> int | None:
        return None if word.lower() == "none" else convert.int_from_tcl(word)
    words = ctx.split_list(text)
    if not words:
        raise convert.ConversionError("Must be an integer, none, or a list of them.")
    try:
        dims = tuple(one(word) for word in words)
    except convert.ConversionError:
        raise convert.ConversionError("Must be an integer, none, or a list of them.") from None
    return dims[0] if len(dims) == 1 else dims


DIMS = ParamType("dims", _dims)


@command("vmap", _FUNC, _INPUTS, Param("in_dims", DIMS, 0, help="the dimension of each input to map over "
                                                                    "(none: passed whole to every call)"),
         Param("out_dims", DIMS, 0, help="where the mapped dimension goes in each output"),
         also=("vectorMap",), once=True)
def vmap(ctx, func, inputs, in_dims, out_dims):
    """The function applied to every slice of the inputs along in_dims, the results
    stacked along out_dims, as torch.func.vmap does it: one call of the Tcl function, on
    batched tensors that its torch:: commands treat as one example."""
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    in_dims = in_dims if isinstance(in_dims, tuple) or len(args) == 1 else (in_dims,) * len(args)
    if isinstance(in_dims, tuple) and len(in_dims) != len(args):
        raise TclCommandError(f"torch::vmap: -inDims has {len(in_dims)} entries for {len(args)} inputs", "VALUE")
    function = TclFunction(ctx, "vmap", func)
    try:
        return torch.func.vmap(function, in_dims=in_dims, out_dims=out_dims)(*args)
    except (TypeError, ValueError) as err:
        raise TclCommandError(f"torch::vmap: {first_line(err)}", "TORCH") from None


def _grad_check(name: str, ctx: Any, func: str, inputs: Any, eps: float, atol: float, rtol: float) -> bool:
    """torch.autograd.gradcheck, in float64 (as torch advises: in float32 the finite
    differences are too coarse to agree), with every input tracking gradients."""
    if not eps > 0:
        raise TclCommandError(f"torch::{name}: eps must be above 0 (got {eps})", "VALUE")
    _differentiable(inputs, name)
    inputs = tuple(t.detach().to(torch.float64 if t.dtype.is_floating_point else torch.complex128)
                   .requires_grad_(True) for t in (inputs if isinstance(inputs, tuple) else (inputs,)))
    function = TclFunction(ctx, name, func)
    try:
        return torch.autograd.gradcheck(function, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=False)
    except TypeError as err:
        raise TclCommandError(f"torch::{name}: {first_line(err)}", "TORCH") from None


_ATOL = Param("atol", NUMBER, 1e-5, help="absolute tolerance")
_RTOL = Param("rtol", NUMBER, 1e-3, help="relative tolerance")


@command("grad_check", _FUNC, _INPUTS, Param("eps", NUMBER, 1e-6, aliases=("epsilon",), help="finite-difference "
                                                                                               "step"),
         _ATOL, _RTOL, once=True)
def grad_check(ctx, func, inputs, eps, atol, rtol):
    """1 when the function's gradients (by autograd, through its torch:: commands) agree
    with finite differences at the inputs, else 0 (torch.autograd.gradcheck, in float64)."""
    return _grad_check("grad_check", ctx, func, inputs, eps, atol, rtol)


@command("grad_check_finite_diff", _FUNC, _INPUTS, Param("eps", NUMBER, 1e-5, aliases=("epsilon",),
                                                         help="finite-difference step"),
         _ATOL, _RTOL, once=True)
def grad_check_finite_diff(ctx, func, inputs, eps, atol, rtol):
    """The same check as grad_check with the original's finite-difference step, 1e-5."""
    return _grad_check("grad_check_finite_diff", ctx, func, inputs, eps, atol, rtol)


def _module(text: str, ctx: Any) -> nn.Module:
    return ctx.handles.get_object(text, nn.Module, "module")


def _named_tensors(text: str, ctx: Any) -> dict[str, torch.Tensor]:
    words = ctx.split_list(text)
    if len(words) % 2:
        raise convert.ConversionError("Must be a dict of names and tensor handles (weight tensor3 bias tensor4).")
    try:
        return {name: ctx.handles.get(handle) for name, handle in zip(words[::2], words[1::2])}
    except HandleError as err:
        raise convert.ConversionError(f"Must be a dict of names and tensor handles ({err}).") from None


@command("functional_call", Param("func", ParamType("module", _module), aliases=("module",),
                                  help="the module handle"),
         Param("parameters", ParamType("dict", _named_tensors), aliases=("params",),
               help="a dict: parameter or buffer name -> tensor handle, used in place of the module's own"),
         Param("args", TENSORS, None, aliases=("inputs", "input"), help="the input handle (or a list of them)"),
         Param("strict", BOOL, False, help="every parameter and buffer of the module must be given"), once=True)
def functional_call(ctx, func, parameters, args, strict):
    """The module's forward pass on args with the given tensors in place of its
    parameters and buffers (torch.func.functional_call); the module itself is left as it
    was. Names it does not have are ignored, unless -strict 1."""
    args = () if args is None else args if isinstance(args, tuple) else (args,)
    try:
        return torch.func.functional_call(func, parameters, args, strict=strict)
    except TypeError as err:
        raise TclCommandError(f"torch::functional_call: {first_line(err)}", "TORCH") from None
    except RuntimeError as err:
        if "reparametrizing" not in str(err):
            raise
        # torch's first line says only that names were wrong; the next ones say which
        raise TclCommandError("torch::functional_call: " + " ".join(str(err).split()), "TORCH") from None
