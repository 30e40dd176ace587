"""torch::help: the reference, inside the interpreter."""
from __future__ import annotations

from .. import help
from ..errors import TclCommandError
from ..spec import STRING, Param, command, snake_case


@command("help", Param("command", STRING, "", help="a command's name (torch:: optional), or aten::NAME"))
def help_(ctx, command):
    """What a command takes and does, with an example; without a name, every command."""
    from . import ALL, aten

    name = command.removeprefix("::").removeprefix("torch::")
    if not name:
        return help.overview(ALL)
    if name.startswith("aten::"):
        forms = aten.forms(snake_case(name.removeprefix("aten::")))
        if not forms:
            raise TclCommandError(f"torch::{name} is not an operator torch::aten:: reaches", "VALUE")
        return help.operator_help(snake_case(name.removeprefix("aten::")), forms)
    for spec in ALL:
        if name in spec.names:
            return help.command_help(spec)
    raise TclCommandError(f"no command torch::{name}; torch::help lists them all", "VALUE")
