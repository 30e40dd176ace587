"""torch::help: the reference, inside the interpreter."""
from __future__ import annotations

from ..errors import TclCommandError
from ..spec import STRING, Param, command


@command("help", Param("command", STRING, "", help="a command's name (torch:: optional), or aten::NAME"))
def help_(ctx, command):
    """What a command takes and does, with an example; without a name, every command."""
    name = command.removeprefix("::").removeprefix("torch::")
    if not name:
        return ctx.commands.overview()
    text = ctx.commands.describe(name)
    if text is not None:
        return text
    if name.startswith("aten::"):
        raise TclCommandError(f"torch::{name} is not an operator torch::aten:: reaches", "VALUE")
    raise TclCommandError(f"no command torch::{name}; torch::help lists them all", "VALUE")
