"""Is a script complete Tcl? Checked before any rank starts, and said as tclsh says it.

tclsh runs a script's first commands and only then meets an unclosed brace; on a cluster
that would mean starting every rank (seconds) to report a typo. `info complete` finds the
command that never closes without running anything; its exact message ("missing
close-brace", "missing \\"", ...) comes from Tcl's own parser, in a child interpreter where
every command is a no-op, so that nothing the script says can run.
"""
from __future__ import annotations

import tkinter

_NO_OPS = """
foreach c [info commands] {if {$c ni {rename proc foreach if}} {rename $c {}}}
proc unknown args {}
rename foreach {}; rename if {}; rename proc {}; rename rename {}
"""


def incomplete_command(source: str, script: str) -> str | None:
    """None if `source` is complete Tcl; else tclsh's report of the first command that
    does not end (message, the command, and `(file "x.tcl" line N)`)."""
    tcl = tkinter.Tcl()
    if _complete(tcl, source):
        return None
    lines = source.splitlines(keepends=True)
    start, pending = 0, ""
    for number, line in enumerate(lines):
        if not pending:
            start = number
        pending += line
        if _complete(tcl, pending):
            pending = ""
    child = "checker"
    tcl.call("interp", "create", child)
    tcl.call("interp", "eval", child, _NO_OPS)
    tcl.setvar("tail", "".join(lines[start:]))
    failed = tcl.eval(f"catch {{interp eval {child} $tail}} message options")
    parsed = str(failed) == "1" and str(tcl.getvar("message")).startswith("missing")
    info = str(tcl.eval("dict get $options -errorinfo")) if parsed else ""
    tcl.call("interp", "delete", child)
    info = info.split("\n    invoked from within\n\"interp eval", 1)[0].rstrip()
    return f'{info or "missing close-brace, close-bracket or quote"}\n    (file "{script}" line {start + 1})'


def _complete(tcl: tkinter.Tcl, text: str) -> bool:
    return str(tcl.call("info", "complete", text)) == "1"
