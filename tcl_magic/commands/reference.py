"""torch::help: the reference, inside the interpreter."""
from __future__ import annotations

from typing import Sequence

from .. import help_text
from ..errors import TclCommandError
from ..spec import STRING, CommandSpec, Param, command, snake_case
from . import aten


@command("help", Param("command", STRING, "", help="a command's name (torch:: optional), or aten::NAME"))
def help_(ctx, command):
    """What a command takes and does, with an example; without a name, every command."""
    name = command.removeprefix("::").removeprefix("torch::")
    if not name:
        return help_text.overview(ctx.command_specs)
    text = describe(name, ctx.command_specs)
    if text is not None:
        return text
    if name.startswith("aten::"):
        raise TclCommandError(f"torch::{name} is not an operator torch::aten:: reaches", "VALUE")
    raise TclCommandError(f"no command torch::{name}; torch::help lists them all", "VALUE")


def describe(name: str, specs: Sequence[CommandSpec]) -> str | None:
    """The help text of torch::NAME (a command of `specs` in either spelling, or
    aten::OPERATOR), or None if there is no such command: for torch::help and for Shift-Tab."""
    if name.startswith("aten::"):
        operator = snake_case(name.removeprefix("aten::"))
        forms = aten.forms(operator)
        return help_text.operator_help(operator, forms) if forms else None
    spec = next((spec for spec in specs if name in spec.names), None)
    return help_text.command_help(spec) if spec else None
