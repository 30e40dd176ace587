"""The declarative command layer: one declaration per torch:: command.

From a `@command(...)` declaration come both names (snake_case and camelCase), both
syntaxes (positional and `-flag value`), both flag spellings, the usage text and every
error message of the command contract, so that adding a command is one declaration and
one function, and no command can word an error differently from the others. How Tcl
calls a declared command is bridge.py's.
"""
from __future__ import annotations

import difflib
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

from . import convert
from .errors import TclCommandError, invalid
from .handles import HandleError

REQUIRED = object()


@dataclass(frozen=True)
class Scoped:
    """A command's answer when it runs a script of the caller's in a mode (`no_grad {...}`):
    the wrapper proc evaluates `body` where the command was called, and `leave` runs after
    it however it ends (error, break, return)."""

    body: str
    leave: Callable[[], None]


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


# --- parameter types -------------------------------------------------------------------

@dataclass(frozen=True)
class ParamType:
    """How one parameter's Tcl text becomes a Python value (ctx gives handles and lists).

    `recognizes` says whether a word can only be meant for this kind of parameter (a dtype
    name, a device): it lets trailing positional words come in any order."""

    name: str
    parse: Callable[[str, Any], Any]
    recognizes: Callable[[str], bool] | None = None


def _tensor(text: str, ctx: Any) -> torch.Tensor:
    return ctx.handles.get(text)


def _tensor_or_number(text: str, ctx: Any) -> torch.Tensor | int | float:
    tensor = ctx.handles.find(text)
    if tensor is not None:
        return tensor
    try:
        return convert.number_from_tcl(text)
    except convert.ConversionError:
        raise HandleError("tensor", text, "a tensor handle or a number") from None


def _tensor_list(text: str, ctx: Any) -> list[torch.Tensor]:
    handles = ctx.split_list(text)
    if not handles:
        raise convert.ConversionError("Must be a non-empty list of tensor handles.")
    return [ctx.handles.get(h) for h in handles]


def choice(*values: str, legacy: Mapping[str, str] | None = None) -> ParamType:
    """One of a few words (`legacy` maps old spellings, such as 0/1/2, to them)."""
    legacy = legacy or {}

    def parse(text: str, ctx: Any) -> str:
        lowered = legacy.get(text, text.lower())
        if lowered not in values:
            raise convert.ConversionError(f"Must be one of: {' '.join(values)}.")
        return lowered
    return ParamType("|".join(values), parse, lambda text: text.lower() in values or text in legacy)


INT = ParamType("integer", lambda text, ctx: convert.int_from_tcl(text))
NUMBER = ParamType("number", lambda text, ctx: convert.number_from_tcl(text))
STRING = ParamType("string", lambda text, ctx: text)
BOOL = ParamType("boolean", lambda text, ctx: convert.bool_from_tcl(text), convert.is_bool_word)
DTYPE = ParamType("dtype", lambda text, ctx: convert.dtype_from_tcl(text), lambda text: text.lower() in convert.DTYPES)
DEVICE = ParamType("device", lambda text, ctx: convert.device_from_tcl(text), convert.is_device_word)
SHAPE = ParamType("shape", lambda text, ctx: convert.shape_from_tcl(text, ctx.split_list))
SHAPE_INFERRED = ParamType(
    "shape", lambda text, ctx: convert.shape_from_tcl(text, ctx.split_list, allow_inferred=True))
RANKS = ParamType("ranks", lambda text, ctx: convert.ranks_from_tcl(text, ctx.split_list))
DATA = ParamType("list", lambda text, ctx: convert.data_from_tcl(text, ctx.split_list))
TENSOR = ParamType("tensor", _tensor)
TENSOR_OR_NUMBER = ParamType("tensor|number", _tensor_or_number)
TENSOR_LIST = ParamType("tensors", _tensor_list)
SCRIPT = ParamType("script", lambda text, ctx: text)


@dataclass(frozen=True)
class Param:
    name: str
    kind: ParamType
    default: Any = REQUIRED
    aliases: tuple[str, ...] = ()
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def flag(self) -> str:
        return "-" + camel_case(self.name)


# --- the command declaration -----------------------------------------------------------

@dataclass
class CommandSpec:
    name: str
    params: tuple[Param, ...]
    func: Callable[..., Any]
    doc: str = ""
    usage_text: str | None = None
    group_param: str | None = None  # a collective: which parameter names its group
    also: tuple[str, ...] = ()  # other names of the same command (the original's synonyms)
    tail: tuple[str, ...] = ()  # trailing optional parameters whose words may come in any order
    forms: Mapping[int, tuple[str, ...]] | None = None  # leading words -> the parameters they fill
    once: bool = False  # never run twice (it communicates or changes something in place)
    rest: bool = False  # the last parameter, a list, also takes every extra positional word (`hstack $a $b $c`)
    _params: dict[str, Param] = field(init=False, repr=False)
    _flags: dict[str, Param] = field(init=False, repr=False)
    _defaults: dict[str, Any] = field(init=False, repr=False)
    _least: int = field(init=False, repr=False)
    _leading: Mapping[int, tuple[str, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._defaults = {p.name: p.default for p in self.params if not p.required}
        self._least = len(self.required)
        self._params = {p.name: p for p in self.params}
        self._flags = {}
        for param in self.params:
            for spelling in (param.name, *param.aliases):
                self._flags[snake_case(spelling)] = param  # flags are looked up by their snake_case form
        # with a tail: how many leading words fill which parameters (all of them in order by default)
        leading = [p for p in self.params if p.name not in self.tail]
        self._leading = self.forms or {n: tuple(p.name for p in leading)[:n]
                                       for n in range(len([p for p in leading if p.required]), len(leading) + 1)}

    @property
    def names(self) -> tuple[str, ...]:
        names: list[str] = []
        for name in (self.name, *self.also):
            names += [n for n in dict.fromkeys((name, camel_case(name))) if n not in names]
        return tuple(names)

    @property
    def usage(self) -> str:
        if self.usage_text is not None:
            return self.usage_text
        return " ".join(p.name if p.required else f"?{p.name}?" for p in self.params)

    @property
    def synopsis(self) -> list[str]:
        """The command in both syntaxes, as help, the docs and a usage mistake show it."""
        positional = f"torch::{self.name} {self.usage}".rstrip()
        if not self.params:
            return [positional]
        named = " ".join(f"{p.flag} {_placeholder(p)}" if p.required else f"?{p.flag} {_placeholder(p)}?"
                         for p in self.params)
        return [positional, f"torch::{self.name} {named}"]

    @property
    def required(self) -> list[Param]:
        return [p for p in self.params if p.required]

    @property
    def retries(self) -> bool:
        """Whether running out of memory may be answered by a sweep and a second call: not
        for a command whose effects must not happen twice, nor for anything distributed
        (a collective, a transfer, a group: the other ranks would see two calls)."""
        return not (self.once or self.group_param is not None or self.name.startswith("distributed_"))

    # parsing -------------------------------------------------------------------------

    def parse(self, args: Sequence[str], ctx: Any) -> list[Any]:
        """Tcl words -> the function's arguments in declaration order, or a TclCommandError."""
        raw = self.raw_arguments(args, ctx)
        values = dict(self._defaults)
        for name, (label, text) in raw.items():
            values[name] = self._convert(self._params[name], label, text, ctx)
        return [values[p.name] for p in self.params]

    def raw_arguments(self, args: Sequence[str], ctx: Any) -> dict[str, tuple[str, str]]:
        """The syntax stage: which text goes to which parameter, with the label to quote. A
        mistake here is answered with the command's usage in both syntaxes after the
        contract's message (as the original's `Usage:` lines did)."""
        try:
            return self._assign(args)
        except TclCommandError as err:
            usage = "\n       ".join(self.synopsis)
            raise TclCommandError(f"{err}\nUsage: {usage}", err.errorcode[1]) from None

    def _assign(self, args: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Positional words may be followed by named ones (`torch::ones {3 3} -dtype float64`):
        the first word after them that is one of the command's flags starts the named part."""
        if args and _is_flag(args[0]):
            return self._named(args)
        split = next((i for i, word in enumerate(args) if _is_flag(word) and self._flag_of(word)), len(args))
        if split == len(args):
            return self._positional(args)
        try:
            raw = self._positional(args[:split])
        except TclCommandError:  # the named words give the rest: the positional ones come in order
            if split > len(self.params):
                raise
            raw = {p.name: (p.name, text) for p, text in zip(self.params, args[:split])}
        raw.update(self._named(args[split:], given=raw))
        return raw

    def _positional(self, args: Sequence[str]) -> dict[str, tuple[str, str]]:
        if self.rest and len(args) > len(self.params):
            keep = len(self.params) - 1
            args = [*args[:keep], " ".join(_list_element(word) for word in args[keep:])]
        if self.tail or self.forms:
            mapped = self._leading_then_tail(args)
        elif len(self.required) <= len(args) <= len(self.params):
            mapped = {p.name: text for p, text in zip(self.params, args)}
        else:
            mapped = None
        if mapped is None:
            stray = next((word for word in args if _is_flag(word)), None)
            if stray is not None:  # a flag this command does not have, after positional words
                raise TclCommandError(self._unknown_flag_message(stray))
            raise self._arity_error(len(args))
        return {name: (name, text) for name, text in mapped.items()}

    def _leading_then_tail(self, args: Sequence[str]) -> dict[str, str] | None:
        """Leading words by position (`forms`: how many -> which parameters), then the
        `tail` words in any order, each going to the parameter that recognizes it (a dtype
        name, a device), else to the first tail parameter still free: the original's commands
        disagree on whether dtype or device comes first, and both orders work."""
        tail, forms = [self._params[name] for name in self.tail], self._leading
        strong = [p.kind.recognizes for p in tail if p.kind.recognizes and p.kind is not BOOL]
        typed_at = next((i for i, word in enumerate(args) if any(r(word) for r in strong)), len(args))
        leading = min(typed_at, max(forms))
        if leading not in forms or len(args) - leading > len(tail):
            return None
        mapped = dict(zip(forms[leading], args))
        for word in args[leading:]:
            free = [p for p in tail if p.name not in mapped]
            param = next((p for p in free if p.kind.recognizes and p.kind.recognizes(word)), free[0])
            mapped[param.name] = word
        return mapped

    def _flag_of(self, word: str) -> Param | None:
        return self._flags.get(snake_case(word[1:]))

    def _named(self, args: Sequence[str], given: Mapping[str, Any] | None = None) -> dict[str, tuple[str, str]]:
        given = given or {}
        raw: dict[str, tuple[str, str]] = {}
        for i in range(0, len(args), 2):
            flag = args[i]
            param = self._flag_of(flag) if flag.startswith("-") else None
            if param is None:
                raise TclCommandError(self._unknown_flag_message(flag))
            if i + 1 >= len(args):
                raise TclCommandError(f"Missing value for parameter {flag}. Named parameters must come in pairs: "
                                      "-flag value.")
            if param.name in given:
                raise TclCommandError(f"Parameter {flag} given twice (by position and by name)")
            raw[param.name] = (flag, args[i + 1])
        missing = [p.flag for p in self.required if p.name not in raw and p.name not in given]
        if missing:
            noun = "parameters" if len(self.required) > 1 else "parameter"
            raise TclCommandError(f"Required {noun} missing: {', '.join(missing)}")
        return raw

    def _convert(self, param: Param, label: str, text: str, ctx: Any) -> Any:
        try:
            return param.kind.parse(text, ctx)
        except HandleError as err:
            raise TclCommandError(err.for_parameter(label), "HANDLE") from None
        except convert.ConversionError as err:
            raise invalid(label, str(err), text) from None

    def _arity_error(self, given: int) -> TclCommandError:
        """Tcl's `wrong # args` says how many came, after what the contract asks for."""
        return TclCommandError("Wrong number of arguments for positional syntax. "
                               f"Expected: torch::{self.name} {self.usage}".rstrip()
                               + f" (wrong # args: {given} given)")

    def _unknown_flag_message(self, flag: str) -> str:
        known = [p.flag for p in self.params]
        message = f"Unknown parameter: {flag}"
        close = difflib.get_close_matches(flag, known + [f"-{p.name}" for p in self.params], n=1)
        if close:
            message += f". Did you mean {self._flags[snake_case(close[0][1:])].flag}?"
        return message + f" Valid parameters: {' '.join(known)}"


def _placeholder(param: Param) -> str:
    """What a named parameter's value is, in a synopsis: `-input TENSOR`, `-dim INTEGER`."""
    return param.kind.name.upper().replace(" ", "_")


_FLAG = re.compile(r"-[A-Za-z_]\w*")


def _list_element(word: str) -> str:
    """A word as one element of a Tcl list (handles need no quoting; anything else is braced)."""
    return word if re.fullmatch(r"[\w:.\-]+", word) else "{" + word + "}"


def _is_flag(word: str) -> bool:
    """Named syntax starts with a word like `-src`; `-1`, `-2.5`, `-inf` or a list such as
    `-1 0 2` are positional values."""
    if not _FLAG.fullmatch(word):
        return False
    try:
        float(word)
        return False
    except ValueError:
        return True


def command(name: str, *params: Param, usage: str | None = None, group_param: str | None = None,
            also: tuple[str, ...] = (), tail: tuple[str, ...] = (),
            forms: Mapping[int, tuple[str, ...]] | None = None, once: bool = False, rest: bool = False) -> Callable:
    """Declare a torch:: command; the decorated function receives (ctx, **parameters)."""
    def decorate(func: Callable) -> Callable:
        declared = [p.name for p in params]
        accepted = list(inspect.signature(func).parameters)[1:]
        if accepted != declared:
            raise TypeError(f"torch::{name}: the function takes {accepted}, the declaration says {declared}")
        func.spec = CommandSpec(name, tuple(params), func, doc=(func.__doc__ or "").strip(),
                                usage_text=usage, group_param=group_param,
                                also=also, tail=tail, forms=forms, once=once, rest=rest)
        return func
    return decorate


def declare(name: str, *params: Param, run: Callable[..., Any], doc: str, **options: Any) -> Callable:
    """A command that is one call on its parameters (`run(*values)`), for the families of
    look-alike commands (element-wise functions, comparisons, factories)."""
    def func(ctx: Any, *values: Any) -> Any:
        return run(*values)
    func.spec = CommandSpec(name, tuple(params), func, doc=doc, usage_text=options.pop("usage", None), **options)
    return func


def specs_in(*modules: Any) -> list[CommandSpec]:
    """Every command declared in the given modules, in declaration order."""
    found = []
    for module in modules:
        found += [obj.spec for obj in vars(module).values() if hasattr(obj, "spec")]
    return found
