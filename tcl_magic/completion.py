"""Tab completion and Shift-Tab help inside `%%torchtcl` cells.

Completion is an IPython matcher (IPython's own completer API), so every front end that
asks the kernel for completions gets it: `torch::` command names in both spellings (and
`torch::aten::` operators), the flags of the command being typed, and the Tcl variables
that hold tensors. Shift-Tab asks the kernel to inspect the word under the cursor;
IPython only inspects Python objects, so in a `%%torchtcl` cell the kernel's inspect
handler answers with `torch::help`'s text first and leaves every other cell to IPython.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable

from IPython.core.completer import SimpleCompletion, context_matcher

from . import help_text
from .commands import TABLE

_WORD = re.compile(r"[\w:$\-]*$")
_COMMAND_NAME = re.compile(r"(?:::)?torch::([\w:]+)")

def in_torchtcl_cell(text: str) -> bool:
    return text.lstrip().startswith("%%torchtcl") and "\n" in text.lstrip()


def current_command(text: str) -> str | None:
    """The torch:: command whose arguments the cursor is in: the first word after the last
    command start (a newline, `;` or `[` that no `]` has closed)."""
    depth, start = 0, 0
    for i in range(len(text) - 1, -1, -1):
        char = text[i]
        if char == "]":
            depth += 1
        elif char == "[":
            if depth == 0:
                start = i + 1
                break
            depth -= 1
        elif char in "\n;" and depth == 0:
            start = i + 1
            break
    first = text[start:].split(maxsplit=1)
    match = _COMMAND_NAME.fullmatch(first[0]) if len(first) > 1 else None
    return match.group(1) if match else None


def complete(text: str, tensor_variables: Callable[[], Iterable[str]]) -> tuple[str, list[tuple[str, str]]]:
    """(the fragment being completed, [(completion, kind)]) for the cell text before the cursor."""
    if not in_torchtcl_cell(text):
        return "", []
    word = _WORD.search(text).group(0)
    if word.startswith("$"):
        return word, [(f"${name}", "tensor") for name in sorted(tensor_variables()) if f"${name}".startswith(word)]
    if word.startswith("-"):
        name = current_command(text[:len(text) - len(word)] + " x")
        spec = TABLE.by_name.get(name or "")
        return word, [(flag, "flag") for flag in help_text.flags(spec) if flag.startswith(word)] if spec else []
    bare = word.removeprefix("::")
    if bare.startswith("torch::aten::"):
        return word, [(name, "operator") for name in TABLE.operator_names() if name.startswith(bare)]
    if bare and ("torch::".startswith(bare) or bare.startswith("torch::")):
        return word, [(name, "command") for name in TABLE.command_names() if name.startswith(bare)]
    return word, []


def inspect(text: str, cursor: int) -> str | None:
    """torch::help's text for the command under the cursor in a %%torchtcl cell: the name
    the cursor is on, else the command whose arguments it is among (Shift-Tab after
    `torch::distributed_scatter $data ` shows that command's help)."""
    if not in_torchtcl_cell(text[:cursor] + "\n"):
        return None
    before = re.search(r"[\w:]*$", text[:cursor]).group(0)
    after = re.match(r"[\w:]*", text[cursor:]).group(0)
    match = _COMMAND_NAME.fullmatch((before + after).removeprefix("::"))
    name = match.group(1) if match else current_command(text[:cursor] + " x")
    return None if name is None else TABLE.describe(name)


def install(shell: Any, tensor_variables: Callable[[], Iterable[str]]) -> None:
    """Add the matcher to the shell's completer and the help to its kernel's inspect handler."""
    @context_matcher()
    def torchtcl_matcher(context) -> dict:
        lines = context.full_text.split("\n")
        before = "\n".join(lines[:context.cursor_line] + [context.text_until_cursor])
        fragment, found = complete(before, tensor_variables)
        return {"completions": [SimpleCompletion(text, type=kind) for text, kind in found],
                "matched_fragment": fragment, "suppress": bool(found)}

    if not any(getattr(m, "__qualname__", "").endswith("torchtcl_matcher") for m in shell.Completer.custom_matchers):
        shell.Completer.custom_matchers.append(torchtcl_matcher)
    kernel = getattr(shell, "kernel", None)
    if kernel is not None and not getattr(kernel.do_inspect, "torchtcl", False):
        ipython_inspect = kernel.do_inspect

        def do_inspect(code, cursor_pos, detail_level=0, omit_sections=()):
            text = inspect(code, cursor_pos)
            if text is None:
                return ipython_inspect(code, cursor_pos, detail_level, omit_sections)
            return {"status": "ok", "found": True, "data": {"text/plain": text}, "metadata": {}}
        do_inspect.torchtcl = True
        kernel.do_inspect = do_inspect
