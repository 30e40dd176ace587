"""Declarations derived from torch plus one row of the original's facts.

The original extension's vocabulary is hundreds of commands that each call one torch
function, module, optimizer or scheduler. A row names the torch target and lists the
original's parameters in its positional order, in a compact form:

    fn("leaky_relu", F.leaky_relu, "input|tensor negative_slope|slope")

Each word is `name|alias...[:KIND][=DEFAULT][>TORCH_NAME]`. Where KIND or DEFAULT is left
out it comes from torch: the target's operator schema (`aten::leaky_relu(Tensor self,
Scalar negative_slope=0.01)`) or its Python signature (`nn.Conv2d(..., stride=1, ...)`);
DEFAULT is only written where the original's differs from torch's (`=REQUIRED`: the original
requires what torch defaults, an optimizer's lr). TORCH_NAME is the
keyword the target takes when the original spells it otherwise (`-` for none: the value is
for the row's own `prepare`). The result is an ordinary CommandSpec, so a derived command
has both names, both syntaxes, the same errors, help and completion as a hand-written one.
"""
from __future__ import annotations

import ast
import functools
import inspect
import re
from typing import Any, Callable, Sequence

import torch
from torch import nn

from .. import convert
from ..errors import TclCommandError, first_line
from ..spec import (BOOL, DEVICE, DTYPE, INT, NUMBER, REQUIRED, SHAPE, STRING, TENSOR, TENSOR_LIST,
                    TENSOR_OR_NUMBER, CommandSpec, Param, ParamType)
from . import aten
from .optim import OPTIMIZER, PARAMETERS


def _ints(text: str, ctx: Any) -> int | tuple[int, ...]:
    """One integer, or a Tcl list of them (a kernel size, a padding, dims)."""
    values = convert.int_list_from_tcl(text, ctx.split_list)
    if not values:
        raise convert.ConversionError("Must be an integer or a list of integers.")
    return values[0] if len(values) == 1 and len(ctx.split_list(text)) == 1 and " " not in text.strip() \
        else tuple(values)


def _numbers(text: str, ctx: Any) -> list[float]:
    try:
        return [float(word) for word in ctx.split_list(text)]
    except ValueError:
        raise convert.ConversionError("Must be a list of numbers.") from None


def _optional_dtype(text: str, ctx: Any) -> torch.dtype | None:
    return None if text.strip().lower() in ("", "none") else convert.dtype_from_tcl(text)


def _module(text: str, ctx: Any) -> nn.Module:
    return ctx.handles.get_object(text, nn.Module, "module")


def _shapes(text: str, ctx: Any) -> list[tuple[int, ...]]:
    return [convert.shape_from_tcl(word, ctx.split_list) for word in ctx.split_list(text)]


def _at_least(parse: Callable, least: float, words: str) -> Callable:
    """A kind whose values below `least` are refused by the parameter's own wording (a
    count, a size, a rate), before torch would word it its own way."""
    def checked(text: str, ctx: Any) -> Any:
        value = parse(text, ctx)
        if value is not None and not value >= least:
            raise convert.ConversionError(f"Must be {words}.")
        return value
    return checked


INTS = ParamType("integer or integers", _ints)
OPTIONAL_TENSOR = ParamType("tensor", lambda text, ctx: None if text.strip().lower() in ("", "none")
                            else ctx.handles.get(text))  # an absent optional tensor: none, as the original
INT_LIST = ParamType("integers", lambda text, ctx: convert.int_list_from_tcl(text, ctx.split_list))
NUMBERS = ParamType("numbers", _numbers)
MODULE = ParamType("module", _module)
KINDS: dict[str, ParamType] = {
    "T": TENSOR, "N": NUMBER, "I": INT, "B": BOOL, "S": STRING, "D": ParamType("dtype", _optional_dtype,
                                                                              DTYPE.recognizes),
    "V": DEVICE, "L": INT_LIST, "IL": INTS, "NL": NUMBERS, "TL": TENSOR_LIST, "TN": TENSOR_OR_NUMBER,
    "PI": ParamType("positive integer", _at_least(INT.parse, 1, "at least 1")),
    "PN": ParamType("positive number", _at_least(NUMBER.parse, 1e-300, "positive")),
    "SH": SHAPE, "SHL": ParamType("shapes", _shapes), "M": MODULE, "P": PARAMETERS, "O": OPTIMIZER,
    "SC": ParamType("scheduler", lambda text, ctx: ctx.handles.get_object(
        text, (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau), "scheduler")),
}
_WORD = re.compile(r"^(?P<names>[A-Za-z_][\w|]*)(?::(?P<kind>[A-Z]+))?(?:=(?P<default>[^>]+))?(?:>(?P<torch>[\w-]+))?$")


@functools.lru_cache(maxsize=None)
def _schema_arguments(name: str) -> dict[str, tuple[ParamType | None, Any]]:
    """An operator's arguments over all its overloads: name -> (kind, default or REQUIRED)."""
    found: dict[str, tuple[ParamType | None, Any]] = {}
    for schema in aten._schemas().get(name, ()):
        for arg in schema.arguments:
            key = "input" if arg.name == "self" else arg.name
            if key in found:
                continue
            default = arg.default_value if arg.has_default_value() else REQUIRED
            found[key] = (aten.kind_of(str(arg.real_type)), default)
    return found


def _from_torch(target: Callable, torch_name: str) -> tuple[ParamType | None, Any]:
    """What torch says of one argument of `target`: its kind and default (None where unknown)."""
    name = getattr(target, "__name__", "")
    known = _schema_arguments(name).get(torch_name)
    if known is not None and known[0] is not None:
        return known
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return (None, REQUIRED) if known is None else known
    param = signature.parameters.get(torch_name)
    if param is None:
        return None, REQUIRED
    if torch_name == "input" and param.annotation is inspect.Parameter.empty:
        return TENSOR, REQUIRED  # torch's convention: `input` is the tensor operated on
    default = REQUIRED if param.default is inspect.Parameter.empty else param.default
    return _kind_of_value(default) or _kind_of_annotation(param.annotation), default


_ANNOTATIONS = {"Tensor": TENSOR, "int": INT, "float": NUMBER, "bool": BOOL, "str": STRING,
                "List[int]": INTS, "list[int]": INTS, "Union[int, Tuple[int, ...]]": INTS}


def _kind_of_annotation(annotation: Any) -> ParamType | None:
    """A Python signature's annotation (`input: Tensor`, `dim: Optional[int]`) as a kind."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    text = re.sub(r"^(?:typing\.)?Optional\[(.*)\]$", r"\1", text.replace("torch.", "").replace("typing.", ""))
    return _ANNOTATIONS.get(text)


def _kind_of_value(value: Any) -> ParamType | None:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, (tuple, list)) and all(isinstance(v, int) for v in value):
        return INTS
    return None


def _literal(text: str) -> Any:
    if text.lower() == "none":
        return None
    if text == "REQUIRED":  # the original requires what torch defaults (an optimizer's lr)
        return REQUIRED
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_params(text: str, target: Callable | None) -> tuple[tuple[Param, ...], tuple[str, ...]]:
    """The row's words -> its declared parameters and, for each, the keyword torch takes."""
    params, keywords = [], []
    for word in text.split():
        match = _WORD.match(word)
        if match is None:
            raise TypeError(f"a malformed parameter word: {word!r}")
        name, *aliases = match["names"].split("|")
        keyword = match["torch"] or name
        kind = KINDS[match["kind"]] if match["kind"] else None
        default = _literal(match["default"]) if match["default"] is not None else REQUIRED
        if (kind is None or match["default"] is None) and target is not None and keyword != "-":
            torch_kind, torch_default = _from_torch(target, keyword)
            kind = kind or torch_kind
            if match["default"] is None:
                default = torch_default
        if kind is None:
            raise TypeError(f"{word!r}: torch does not say its kind; write it (:T, :I, ...)")
        if kind is TENSOR and default is None:
            kind = OPTIONAL_TENSOR
        if isinstance(default, tuple) and kind is not INTS:
            default = list(default)
        params.append(Param(name, kind, default, aliases=tuple(aliases)))
        keywords.append(keyword)
    return tuple(params), tuple(keywords)


def keyword_arguments(params: Sequence[Param], keywords: Sequence[str], values: Sequence[Any],
                      prepare: Callable | None) -> dict[str, Any]:
    """The keywords for torch; with `prepare`, the row's own values (`-`) too, by their names,
    for it to turn into torch's (`beta1`, `beta2` -> `betas`)."""
    if prepare is None:
        return {k: v for k, v in zip(keywords, values) if k != "-"}
    return prepare(**{p.name if k == "-" else k: v for p, k, v in zip(params, keywords, values)})


def _spec(name: str, params: tuple[Param, ...], func: Callable, doc: str, options: dict) -> Callable:
    func.spec = CommandSpec(name, params, func, doc=doc, usage_text=options.pop("usage", None), **options)
    return func


def doc_of(target: Any) -> str:
    """The first sentence of torch's own description of `target`."""
    return _doc_of(target)


def _doc_of(target: Any) -> str:
    text = inspect.getdoc(target) or ""
    lines = [line for line in text.split("\n\n") if line.strip() and "(" not in line.split("\n")[0][:40]
             or not line.strip().startswith(getattr(target, "__name__", "?"))]
    first = (lines[0] if lines else "").strip().replace("\n", " ")
    return re.sub(r"\s+", " ", first.split(". ")[0]).strip().rstrip(".") + "." if first else ""


def fn(name: str, target: Callable, params: str, doc: str = "", post: Callable | None = None,
       prepare: Callable | None = None, **options: Any) -> Callable:
    """A command that is one call of a torch function: `target(**keywords)`, its result
    through `post`; `prepare(kwargs)` may adjust the keywords first (the original's spellings)."""
    declared, keywords = parse_params(params, target)

    def call(ctx: Any, *values: Any) -> Any:
        try:
            result = target(**keyword_arguments(declared, keywords, values, prepare))
        except TypeError as err:  # torch's word for arguments it cannot combine (a kind, a count)
            raise TclCommandError(f"torch::{name}: {first_line(err)}", "TORCH") from None
        return post(result) if post is not None else result
    return _spec(name, declared, call, doc or _doc_of(target), options)


def handle_maker(name: str, target: Callable, params: str, handle: str, doc: str = "",
                 prepare: Callable | None = None, params_of: Callable | None = None, **options: Any) -> Callable:
    """A command that builds a torch object (a module, an optimizer, a scheduler, a scaler)
    and answers its handle, named `handle` (`conv2d1`, `optimizer3`); it lives while a Tcl
    value names it, like every handle."""
    declared, keywords = parse_params(params, params_of or target)

    def call(ctx: Any, *values: Any) -> Any:
        try:
            made = target(**keyword_arguments(declared, keywords, values, prepare))
        except TypeError as err:
            raise TclCommandError(f"torch::{name}: {first_line(err)}", "TORCH") from None
        return ctx.handles.add_object(handle, made)
    return _spec(name, declared, call, doc or _doc_of(target), options)


def exports(*rows: Callable) -> dict[str, Callable]:
    """The rows under their command names, for a family module's globals (the table finds
    declarations there)."""
    return {f"_{row.spec.name}": row for row in rows}
