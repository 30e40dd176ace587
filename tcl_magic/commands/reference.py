"""torch::help: the reference, inside the interpreter."""
from __future__ import annotations

from .. import help
from ..errors import TclCommandError
from ..spec import STRING, Param, command, snake_case


@command("help", Param("command", STRING, "", help="a command's name (torch:: optional), or aten::NAME"))
def help_(ctx, command):
    """What a command takes and does, with an example; without a name, every command."""
    from . import ALL

    name = command.removeprefix("::").removeprefix("torch::")
    if not name:
        return help.overview(ALL)
    text = describe(name)
    if text is not None:
        return text
    if name.startswith("aten::"):
        raise TclCommandError(f"torch::{name} is not an operator torch::aten:: reaches", "VALUE")
    raise TclCommandError(f"no command torch::{name}; torch::help lists them all", "VALUE")


def describe(name: str) -> str | None:
    """The help text of torch::NAME (a command in either spelling, or aten::OPERATOR), or
    None if there is no such command: for torch::help and for Shift-Tab."""
    from . import ALL, aten

    if name.startswith("aten::"):
        operator = snake_case(name.removeprefix("aten::"))
        forms = aten.forms(operator)
        return help.operator_help(operator, forms) if forms else None
    spec = next((spec for spec in ALL if name in spec.names), None)
    return help.command_help(spec) if spec else None
