"""Every other torch operator, as `torch::aten::NAME`, generated from torch's own
operator schemas (`aten::index_select(Tensor self, int dim, Tensor index) -> Tensor`).

Each overload of an operator becomes one declaration of the command layer, so the
generated commands keep the contract of the hand-written ones: both names (snake_case and
camelCase), positional and `-flag value` syntax with the schema's argument names (`-self`
also as `-input`), the same error messages, handles for tensors. A call tries the
overloads in torch's order and runs the first whose arguments convert (`add $t $u` is
add.Tensor, `add $t 2` add.Scalar).

Left out, so that every generated command keeps the contract: operators that write into
their arguments (in-place `name_`, `out=` forms), private ones (`_name`), autograd's own
`*_backward` kernels, overloads on named dimensions, and overloads that need an argument
Tcl cannot name (a Generator, a Storage, a Stream, complex numbers, ...); such arguments
are simply not offered where they are optional.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch

from .. import convert
from ..errors import TclCommandError
from ..bridge import acting_on_status, answerer, failure, failure_of
from ..spec import (BOOL, DEVICE, DTYPE, INT, NUMBER, REQUIRED, STRING, TENSOR, CommandSpec, Param, ParamType,
                    camel_case)

NAMESPACE = "::torch::aten"


def _optional(kind: ParamType) -> ParamType:
    """`none` (or an empty word) for None, else the kind's own value."""
    def parse(text: str, ctx: Any) -> Any:
        return None if text.strip().lower() in ("none", "") else kind.parse(text, ctx)
    return ParamType(f"{kind.name} or none", parse)


def _list_of(kind: ParamType, name: str) -> ParamType:
    return ParamType(name, lambda text, ctx: [kind.parse(word, ctx) for word in ctx.split_list(text)])


_INT_LIST = ParamType("integers", lambda text, ctx: convert.int_list_from_tcl(text, ctx.split_list))
_TYPES: dict[str, ParamType] = {
    "Tensor": TENSOR, "int": INT, "bool": BOOL, "float": NUMBER, "number": NUMBER, "str": STRING,
    "ScalarType": DTYPE, "Device": DEVICE, "List[int]": _INT_LIST,
    "List[float]": _list_of(NUMBER, "numbers"), "List[number]": _list_of(NUMBER, "numbers"),
    "List[bool]": _list_of(BOOL, "booleans"), "List[Tensor]": _list_of(TENSOR, "tensors"),
    "List[Optional[Tensor]]": _list_of(_optional(TENSOR), "tensors or none"),
}
_RETURNS = {"Tensor", "List[Tensor]", "int", "float", "bool", "number"}


def kind_of(type_name: str) -> ParamType | None:
    """The parameter kind of a schema type (`int`, `Optional[Tensor]`, `List[int]`), or None."""
    return _kind(type_name)


def _kind(type_name: str) -> ParamType | None:
    if type_name.startswith("Optional[") and type_name[9:-1] in _TYPES:
        return _optional(_TYPES[type_name[9:-1]])
    return _TYPES.get(type_name)


@dataclass(frozen=True)
class _Argument:
    """How one schema argument is passed: by position, or by keyword after `*`."""

    name: str
    keyword: bool


def _form(name: str, schema: Any) -> CommandSpec | None:
    """One overload as a command declaration, or None if Tcl cannot call it."""
    text = str(schema)
    if "Dimname" in text or any(str(r.real_type) not in _RETURNS for r in schema.returns):
        return None
    params, passed = [], []
    for arg in schema.arguments:
        type_name = str(arg.real_type)
        kind = _kind(type_name)
        optional = arg.has_default_value() or type_name.startswith("Optional[")
        if kind is None:
            if optional:
                continue  # left at torch's default
            return None
        default = arg.default_value if arg.has_default_value() else None if optional else REQUIRED
        if isinstance(default, (list, tuple)) and kind is not _INT_LIST:
            default = list(default)
        params.append(Param(arg.name, kind, default, aliases=("input",) if arg.name == "self" else ()))
        passed.append(_Argument(arg.name, arg.kwarg_only))
    # a parameter before a required one is given by position: it is required too ("none" for None)
    last = max((i for i, p in enumerate(params) if p.required), default=-1)
    params = [Param(p.name, p.kind, REQUIRED, p.aliases) if i < last else p for i, p in enumerate(params)]
    overload = schema.overload_name or "default"
    func = functools.partial(_call, name, overload, tuple(passed))
    return CommandSpec(f"aten::{name}", tuple(params), func, doc=text)


def _call(name: str, overload: str, passed: tuple[_Argument, ...], ctx: Any, *values: Any) -> Any:
    op = getattr(getattr(torch.ops.aten, name), overload)
    args = [v for a, v in zip(passed, values) if not a.keyword]
    kwargs = {a.name: v for a, v in zip(passed, values) if a.keyword}
    result = op(*args, **kwargs)
    return list(result) if isinstance(result, tuple) else result


def _callable(schema: Any) -> bool:
    name = schema.name.removeprefix("aten::")
    return (schema.name.startswith("aten::") and not name.startswith("_") and not name.endswith("_")
            and "backward" not in name
            and not any(a.is_out or (a.alias_info is not None and a.alias_info.is_write) for a in schema.arguments)
            and any("Tensor" in str(x.real_type) for x in (*schema.arguments, *schema.returns)))


@functools.lru_cache(maxsize=1)
def _schemas() -> dict[str, list[Any]]:
    """Operator name -> its overloads that may be offered, in torch's order."""
    found: dict[str, list[Any]] = {}
    for schema in torch._C._jit_get_all_schemas():
        if _callable(schema):
            found.setdefault(schema.name.removeprefix("aten::"), []).append(schema)
    return found


@functools.lru_cache(maxsize=None)
def forms(name: str) -> tuple[CommandSpec, ...]:
    """The overloads of one operator as declarations (made on first use)."""
    return tuple(f for f in (_form(name, s) for s in _schemas().get(name, ())) if f is not None)


@functools.lru_cache(maxsize=1)
def names() -> tuple[str, ...]:
    """Every operator reached, by its aten name."""
    return tuple(sorted(name for name in _schemas() if forms(name)))


def invoke(ctx: Any, name: str, *args: str) -> tuple:
    """The bridge for `torch::aten::NAME args...`: the first overload whose arguments
    convert runs; if none does, the error of the first whose syntax fit (else the list of
    forms). Never raises, like every bridge."""
    candidates = forms(name)
    first: TclCommandError | None = None
    for spec in candidates:
        try:
            values = spec.parse(args, ctx)
        except TclCommandError as err:
            if first is None or (_is_arity(first) and not _is_arity(err)):
                first = err
            continue
        except Exception as err:
            return failure_of(spec, err)
        return answerer(spec, ctx)(values)
    if first is None or _is_arity(first):
        usages = dict.fromkeys(f"torch::aten::{name} {spec.usage}".rstrip() for spec in candidates)
        first = TclCommandError("Wrong number of arguments for positional syntax. Expected: "
                                + " | ".join(usages))
    return failure(first)


def _is_arity(err: TclCommandError) -> bool:
    return str(err).startswith("Wrong number of arguments")


@functools.lru_cache(maxsize=1)
def tcl_source() -> str:
    """The procs (the same for every session): one dispatcher, and one short proc per name
    (snake_case and camelCase)."""
    lines = [f"namespace eval {NAMESPACE} {{}}",
             f"proc ::torch::_impl::aten_run {{name args}} {{\n    "
             f"{acting_on_status('[::torch::_impl::aten $name {*}$args]')}\n}}"]
    for name in names():
        for tcl_name in dict.fromkeys((name, camel_case(name))):
            lines.append(f"proc {NAMESPACE}::{tcl_name} args {{tailcall ::torch::_impl::aten_run {name} {{*}}$args}}")
    return "\n".join(lines)
